"""Filters of the public pages that read vulnerability data."""

from __future__ import annotations

from django import forms

from apps.catalog.forms import valid_data
from apps.vulns.models import Finding, Severity
from apps.vulns.selectors import FindingFilter


class FindingFilterForm(forms.Form):
    """The findings table of a digest page."""

    severity = forms.ChoiceField(
        required=False, choices=[("", "Any severity"), *Severity.choices]
    )
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *Finding.Status.choices]
    )
    kev = forms.BooleanField(required=False, label="Known exploited (KEV)")
    vulnerability = forms.CharField(
        required=False,
        max_length=100,
        label="Vulnerability id",
        help_text="CVE, GHSA, PYSEC or distro id",
    )

    def filters(self) -> FindingFilter:
        data = valid_data(self)
        if data.pop("kev", False):
            data["kev"] = True
        return FindingFilter(**data)
