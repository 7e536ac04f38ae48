import re

from django import forms

from apps.catalog.models import Repository

_SPLIT = re.compile(r"[\s,]+")


class CustomizationForm(forms.Form):
    repository = forms.ModelChoiceField(
        queryset=Repository.objects.order_by("name"),
        to_field_name="name",
        empty_label="Choose a mirrored repository",
        help_text="The image the customization builds on; your organization "
        "must mirror it.",
    )
    name = forms.CharField(
        max_length=63, help_text="Lowercase letters, digits and hyphens."
    )
    description = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    extra_packages = forms.CharField(
        required=False,
        label="Extra packages",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Package names separated by spaces, commas or new lines "
        "(at most 100).",
    )
    environment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One NAME=value per line.",
    )

    def clean_extra_packages(self) -> list[str]:
        return [p for p in _SPLIT.split(self.cleaned_data["extra_packages"]) if p]

    def clean_environment(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["environment"].splitlines(), 1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            name = name.strip()
            if not sep or not name:
                raise forms.ValidationError(f"Line {number}: write NAME=value.")
            if name in result:
                raise forms.ValidationError(f"Line {number}: {name} is set twice.")
            result[name] = value
        return result
