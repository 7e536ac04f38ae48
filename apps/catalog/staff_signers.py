"""Publisher staff keep the registry of trusted signers: register a public key
or a keyless identity, rotate a key, revoke a signer (``signers``)."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import TemplateView

from apps.core.forms import AsciiIntegerField, apply_validation_error
from apps.core.mixins import StaffOnlyMixin

from .formats.keys import PEM_MAX_CHARS
from .formats.verdict import CHECK_REVOKED
from .models import Attestation, TrustedSigner
from .signers import (
    NAME_MAX,
    REASON_MAX,
    TEXT_MAX,
    signer_identity_register,
    signer_key_register,
    signer_list,
    signer_revoke,
    signer_rotate,
)

WINDOW_HELP = "ISO 8601 with its time zone, e.g. 2026-12-07T09:30:00Z."


class SignerForm(forms.Form):
    kind = forms.ChoiceField(
        choices=TrustedSigner.Kind.choices, initial=TrustedSigner.Kind.PUBLIC_KEY
    )
    name = forms.CharField(max_length=NAME_MAX)
    public_key_pem = forms.CharField(
        required=False,
        max_length=PEM_MAX_CHARS,
        label="Public key (PEM)",
        widget=forms.Textarea(attrs={"rows": 5, "class": "mono"}),
        help_text="ECDSA P-256, Ed25519 or RSA (2048 bits or more): "
        '"-----BEGIN PUBLIC KEY-----". Never a private key.',
    )
    key_id = forms.CharField(
        required=False,
        max_length=255,
        label="Key id",
        help_text="Optional: the key id the publisher's signatures name, when it "
        "is not the key's SHA-256 fingerprint.",
    )
    issuer = forms.CharField(
        required=False,
        max_length=TEXT_MAX,
        label="OIDC issuer",
        help_text="For a keyless identity, e.g. "
        "https://token.actions.githubusercontent.com.",
    )
    subject = forms.CharField(
        required=False,
        max_length=TEXT_MAX,
        label="Certificate identity",
        help_text="The email or workflow URI, exactly; or leave empty and give a "
        "pattern.",
    )
    subject_pattern = forms.CharField(
        required=False,
        max_length=TEXT_MAX,
        label="Identity pattern",
        help_text="A regular expression the whole identity must match.",
    )
    not_before = forms.DateTimeField(
        required=False, label="Trusted from", help_text=WINDOW_HELP + " Empty: now."
    )
    not_after = forms.DateTimeField(
        required=False, label="Trusted until", help_text=WINDOW_HELP + " Optional."
    )


class RotateForm(forms.Form):
    signer = AsciiIntegerField(min_value=1)
    public_key_pem = forms.CharField(
        max_length=PEM_MAX_CHARS,
        label="New public key (PEM)",
        widget=forms.Textarea(attrs={"rows": 5, "class": "mono"}),
    )
    key_id = forms.CharField(required=False, max_length=255, label="Key id")


class RevokeForm(forms.Form):
    signer = AsciiIntegerField(min_value=1)
    reason = forms.CharField(
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept with the signer and in the audit log.",
    )


class SignerListView(StaffOnlyMixin, TemplateView):
    """Every signer with its window and state, and the forms that change them."""

    template_name = "catalog/staff_signers.html"

    def get_context_data(self, **kwargs):
        signers = signer_list().annotate(
            verified=Count(
                "attestations",
                filter=Q(
                    attestations__signature_status=Attestation.SignatureStatus.VERIFIED
                ),
            ),
            no_longer_trusted=Count(
                "attestations",
                filter=Q(
                    attestations__signature_status=Attestation.SignatureStatus.UNTRUSTED,
                    attestations__signature_check=CHECK_REVOKED,
                ),
            ),
        )
        return {
            **super().get_context_data(**kwargs),
            "signers": signers,
            "form": kwargs.get("form") or SignerForm(),
            "rotate_form": kwargs.get("rotate_form") or RotateForm(),
            "revoke_form": kwargs.get("revoke_form") or RevokeForm(),
        }

    def post(self, request):
        form = SignerForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if data["kind"] == TrustedSigner.Kind.PUBLIC_KEY:
                    signer = signer_key_register(
                        name=data["name"],
                        public_key_pem=data["public_key_pem"],
                        key_id=data["key_id"],
                        not_before=data["not_before"],
                        not_after=data["not_after"],
                        actor=request.user,
                        request=request,
                    )
                else:
                    signer = signer_identity_register(
                        name=data["name"],
                        issuer=data["issuer"],
                        subject=data["subject"],
                        subject_pattern=data["subject_pattern"],
                        not_before=data["not_before"],
                        not_after=data["not_after"],
                        actor=request.user,
                        request=request,
                    )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, f"Registered {signer.name}.")
                return redirect("staff_signers")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class SignerRotateView(StaffOnlyMixin, View):
    def post(self, request):
        form = RotateForm(request.POST)
        if form.is_valid():
            signer = get_object_or_404(TrustedSigner, pk=form.cleaned_data["signer"])
            try:
                signer_rotate(
                    signer=signer,
                    public_key_pem=form.cleaned_data["public_key_pem"],
                    key_id=form.cleaned_data["key_id"],
                    actor=request.user,
                    request=request,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Rotated {signer.name}: the new key is trusted from now; the "
                    "old one still vouches for what it signed before.",
                )
                return redirect("staff_signers")
        view = SignerListView(request=request, kwargs={})
        return view.render_to_response(
            view.get_context_data(rotate_form=form), status=400
        )


class SignerRevokeView(StaffOnlyMixin, View):
    def post(self, request):
        form = RevokeForm(request.POST)
        if form.is_valid():
            signer = get_object_or_404(TrustedSigner, pk=form.cleaned_data["signer"])
            try:
                turned = signer_revoke(
                    signer=signer,
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                    request=request,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Revoked {signer.name}: {turned} attestation(s) it verified "
                    "are no longer trusted.",
                )
                return redirect("staff_signers")
        view = SignerListView(request=request, kwargs={})
        return view.render_to_response(
            view.get_context_data(revoke_form=form), status=400
        )
