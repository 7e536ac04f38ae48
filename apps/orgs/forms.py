from django import forms
from django.utils import timezone

from apps.core.forms import AsciiIntegerField

from .models import Role


class OrgCreateForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)


class OrgSettingsForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    require_mfa = forms.BooleanField(
        required=False,
        label="Require two-factor authentication for every member",
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TransferForm(forms.Form):
    membership_id = AsciiIntegerField(label="New owner", min_value=1)


class AuditorGrantForm(forms.Form):
    email = forms.EmailField(max_length=254)
    window_start = forms.DateField(
        label="Observation window starts",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    window_end = forms.DateField(
        label="Observation window ends", widget=forms.DateInput(attrs={"type": "date"})
    )
    access_expires_at = forms.DateTimeField(
        label="Access expires",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("window_start"), cleaned.get("window_end")
        if start and end and end < start:
            self.add_error("window_end", "The window must end on or after its start.")
        expires = cleaned.get("access_expires_at")
        if expires and expires <= timezone.now():
            self.add_error("access_expires_at", "Access must expire in the future.")
        return cleaned
