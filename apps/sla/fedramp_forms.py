"""Forms for the FedRAMP CR26 inputs (the organization's pages and the staff
desk). They parse and bound the input; the services decide."""

from __future__ import annotations

from django import forms

from .models import FedrampClass, FedrampDisposition
from .services.fedramp import REASON_MAX, URI_MAX

# VER-EVA-EPA's ratings in a few words (the FedRAMP page quotes them whole).
PAIN_SHORT = {
    5: "debilitating for more than one agency",
    4: "debilitating for one agency, or disruptive for several",
    3: "disruptive for one agency",
    2: "narrow effects",
    1: "minimal effects",
}
PAIN_CHOICES = [(str(n), f"N{n}: {PAIN_SHORT[n]}") for n in (5, 4, 3, 2, 1)]
YES_NO = [("yes", "Yes"), ("no", "No")]


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def _pain(value: str) -> int | None:
    return int(value) if value else None


class FedrampProfileForm(forms.Form):
    certification_class = forms.ChoiceField(
        label="FedRAMP certification class",
        choices=[("", "None: not a FedRAMP customer"), *FedrampClass.choices],
        required=False,
    )
    package_uri = forms.URLField(
        label="Certification Package Overview URI",
        max_length=URI_MAX,
        required=False,
        assume_scheme="https",
        help_text="The https:// address of your Certification Package Overview; "
        "every VER report names it.",
    )
    reason = forms.CharField(
        max_length=REASON_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional: why the class changes.",
    )


class FedrampExposureForm(forms.Form):
    internet_reachable = forms.TypedChoiceField(
        label="Internet-reachable (IRV)", choices=YES_NO, coerce=_yes_no
    )
    pain = forms.TypedChoiceField(
        label="Potential agency impact (PAIN)", choices=PAIN_CHOICES, coerce=_pain
    )
    reason = forms.CharField(
        max_length=REASON_MAX,
        required=False,
        widget=forms.TextInput(),
        help_text="Needed when the impact or the exposure goes down.",
    )


class FedrampClockEvaluationForm(forms.Form):
    pain = forms.TypedChoiceField(
        label="PAIN",
        choices=[("", "Repository's default"), *PAIN_CHOICES],
        coerce=_pain,
        empty_value=None,
        required=False,
    )
    internet_reachable = forms.TypedChoiceField(
        label="Internet-reachable (IRV)",
        choices=[("", "Repository's default"), *YES_NO],
        coerce=_yes_no,
        empty_value=None,
        required=False,
    )
    likely_exploitable = forms.TypedChoiceField(
        label="Likely exploitable (LEV)",
        choices=[("", "As derived"), *YES_NO],
        coerce=_yes_no,
        empty_value=None,
        required=False,
    )
    disposition = forms.ChoiceField(
        label="Final disposition",
        choices=[("", "None: still active"), *FedrampDisposition.choices],
        required=False,
    )
    accepted = forms.BooleanField(
        label="Accepted: we do not intend to fully mitigate or remediate it",
        required=False,
    )
    reason = forms.CharField(
        max_length=REASON_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )

    def service_kwargs(self) -> dict:
        return dict(self.cleaned_data)
