"""The desk's forms: open a case, record a measure, record a stage sent.
Times are UTC, as every time on the staff pages."""

from __future__ import annotations

from datetime import UTC

from django import forms

from . import rules
from .services import DIGESTS_MAX, EVIDENCE_MAX, NOTE_MAX, REFERENCE_MAX

_WHEN = {"type": "datetime-local", "step": 60}


class _UtcForm(forms.Form):
    def _utc(self, name: str):
        value = self.cleaned_data.get(name)
        if value is not None:
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        return value


class CaseOpenForm(_UtcForm):
    vulnerability = forms.CharField(max_length=100, help_text="Its id or a CVE alias.")
    digests = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=DIGESTS_MAX * 72,
        help_text="The affected catalog builds, one sha256 digest per line.",
    )
    aware_at = forms.DateTimeField(
        label="Became aware (UTC)", widget=forms.DateTimeInput(attrs=_WHEN)
    )
    evidence = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=EVIDENCE_MAX,
        help_text="What shows the vulnerability is actively exploited.",
    )

    def clean_aware_at(self):
        return self._utc("aware_at")

    def digest_list(self) -> list[str]:
        return self.cleaned_data["digests"].split()


class MeasureForm(_UtcForm):
    measure_at = forms.DateTimeField(
        label="Available since (UTC)", widget=forms.DateTimeInput(attrs=_WHEN)
    )
    measure = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=NOTE_MAX,
        help_text="The corrective or mitigating measure users can apply.",
    )

    def clean_measure_at(self):
        return self._utc("measure_at")


class SubmissionForm(_UtcForm):
    stage = forms.ChoiceField(choices=[(s.key, s.name) for s in rules.STAGES])
    submitted_at = forms.DateTimeField(
        label="Sent (UTC)", widget=forms.DateTimeInput(attrs=_WHEN)
    )
    reference = forms.CharField(
        max_length=REFERENCE_MAX,
        required=False,
        help_text="The reporting platform's reference, if it gave one.",
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=NOTE_MAX, required=False
    )

    def clean_submitted_at(self):
        return self._utc("submitted_at")
