"""Filters of the public catalog pages.

A bad value is an error on its field and is left out; the other filters
still apply, so a mistyped link shows a page, never a server error.
"""

from __future__ import annotations

from django import forms

from .models import Repository, Variant
from .selectors import LifecycleEvent, LifecycleFilter, RepositoryFilter


def valid_data(form: forms.Form) -> dict:
    """The fields that are valid, even when some are not."""
    form.is_valid()
    return {k: v for k, v in getattr(form, "cleaned_data", {}).items() if v}


class RepositoryFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search",
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Name, description or tag",
                "autocomplete": "off",
            }
        ),
    )
    category = forms.ChoiceField(
        required=False, choices=[("", "Any category"), *Repository.Category.choices]
    )
    flavor = forms.ChoiceField(
        required=False,
        label="Has variant",
        choices=[("", "Any variant"), *Variant.Flavor.choices],
    )
    fips = forms.BooleanField(required=False, label="FIPS")
    stig = forms.BooleanField(required=False, label="STIG")
    els = forms.BooleanField(required=False, label="Extended support")

    def filters(self) -> RepositoryFilter:
        return RepositoryFilter(**valid_data(self))


class LifecycleFilterForm(forms.Form):
    UPCOMING, PAST = "upcoming", "past"

    when = forms.ChoiceField(
        required=False,
        label="Dates",
        choices=[(UPCOMING, "Upcoming"), (PAST, "Past")],
    )
    kind = forms.ChoiceField(
        required=False,
        label="Event",
        choices=[("", "Every end date"), *LifecycleEvent.KINDS.items()],
    )
    q = forms.SlugField(
        required=False,
        max_length=100,
        label="Repository",
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "e.g. python",
                "autocomplete": "off",
            }
        ),
    )

    @property
    def past(self) -> bool:
        return valid_data(self).get("when") == self.PAST

    def filters(self, *, today) -> LifecycleFilter:
        data = valid_data(self)
        window = {"end": today} if data.pop("when", "") == self.PAST else {}
        return LifecycleFilter(start=None if window else today, **window, **data)
