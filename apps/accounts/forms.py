from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.core.validators import MaxLengthValidator
from django.utils import timezone

from .models import ApiToken

EMAIL_MAX_LENGTH = 254


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires",
        help_text="Leave empty for a token that lasts until revoked.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, staff: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not staff:
            self.fields["scopes"].choices = [
                choice
                for choice in ApiToken.Scope.choices
                if choice[0]
                not in {ApiToken.Scope.CATALOG_WRITE, ApiToken.Scope.REGISTRY_PUSH}
            ]

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return value


class SsoSettingsForm(forms.Form):
    issuer_url = forms.URLField(
        assume_scheme="https",
        label="Issuer URL",
        max_length=500,
        help_text="Where /.well-known/openid-configuration is served.",
    )
    client_id = forms.CharField(max_length=191)
    client_secret = forms.CharField(
        max_length=191,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored secret.",
    )
    email_domains = forms.CharField(
        max_length=1000,
        help_text="Comma-separated, e.g. example.com, eu.example.com",
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def clean_email_domains(self):
        return [d for d in self.cleaned_data["email_domains"].split(",") if d.strip()]


class SsoLoginForm(forms.Form):
    email = forms.EmailField(label="Work email", max_length=254)


class SignupForm(AllauthSignupForm):
    """allauth's signup form, held to the User model's 254-character email column."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["email"]
        field.max_length = EMAIL_MAX_LENGTH
        field.validators.append(MaxLengthValidator(EMAIL_MAX_LENGTH))
        field.widget.attrs["maxlength"] = str(EMAIL_MAX_LENGTH)
