"""Requesting a report from the web: the service checks the rest."""

from __future__ import annotations

import uuid

from django import forms

from .models import Report
from .services.intake import ORG_KINDS


class ReportRequestForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[(k.value, k.label) for k in Report.Kind if k in ORG_KINDS],
        help_text=(
            "The OSCAL documents are JSON for FedRAMP and other OSCAL tools; "
            "the XLSX POA&M is the legacy format."
        ),
    )
    window_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    window_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    digest = forms.CharField(
        required=False,
        max_length=71,
        help_text="Image dossier only: sha256:… of a mirrored image.",
    )
    # Generated into the form: a second submit of the same form is the same report.
    request_id = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("request_id", uuid.uuid4().hex)


class StaffReportRequestForm(ReportRequestForm):
    kind = forms.ChoiceField(
        choices=[(Report.Kind.SLA_PERFORMANCE.value, Report.Kind.SLA_PERFORMANCE.label)]
    )
    digest = None  # type: ignore[assignment]
