from django import forms
from django.utils import timezone

from apps.catalog.models import Repository
from apps.core.forms import AsciiIntegerField
from apps.orgs.models import Organization

from .models import Entitlement, Feature

_DT = {"type": "datetime-local"}


class MirrorForm(forms.Form):
    repository = forms.ModelChoiceField(
        queryset=Repository.objects.order_by("name"),
        to_field_name="name",
        empty_label="Choose a repository",
    )
    include_fips = forms.BooleanField(required=False, label="FIPS variants")
    include_stig = forms.BooleanField(required=False, label="STIG variants")
    include_els = forms.BooleanField(
        required=False, label="ELS series (past upstream end of life)"
    )


class EntitlementGrantForm(forms.Form):
    SOURCES = [
        (Entitlement.Source.CONTRACT, "Contract"),
        (Entitlement.Source.TRIAL, "Trial"),
    ]
    org = forms.SlugField(label="Organization slug")
    feature = forms.ChoiceField(choices=())
    repository = forms.CharField(
        required=False, help_text="A repository name; empty for all repositories."
    )
    quantity = AsciiIntegerField(
        required=False, min_value=0, help_text="Counted features; empty: unlimited."
    )
    source = forms.ChoiceField(choices=SOURCES)
    reference = forms.CharField(max_length=200, help_text="Contract number or note.")
    starts_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs=_DT),
        help_text="UTC; empty: now.",
    )
    ends_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs=_DT),
        help_text="UTC; required for trials.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["feature"].choices = Feature.objects.values_list("key", "name")

    def clean_org(self):
        slug = self.cleaned_data["org"]
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise forms.ValidationError(f"There is no organization {slug!r}.")
        return org

    def clean_repository(self):
        name = self.cleaned_data["repository"].strip()
        if not name:
            return None
        repository = Repository.objects.filter(name=name).first()
        if repository is None:
            raise forms.ValidationError(f"There is no repository {name!r}.")
        return repository

    def clean_starts_at(self):
        return self.cleaned_data["starts_at"] or timezone.now()


class EntitlementEndForm(forms.Form):
    at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs=_DT), help_text="Empty: now."
    )
    reason = forms.CharField(max_length=200)

    def clean_at(self):
        return self.cleaned_data["at"] or timezone.now()
