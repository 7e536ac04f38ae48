"""Publisher staff load evidence by upload: the same door as the API and the
commands (``ingest.evidence_import``)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.generic import FormView

from apps.core.forms import apply_validation_error
from apps.core.mixins import StaffOnlyMixin

from .ingest import SIGNATURE_MAX_BYTES, EvidenceKind, evidence_import, summary_text


class EvidenceUploadForm(forms.Form):
    kind = forms.ChoiceField(choices=EvidenceKind.choices)
    digest = forms.CharField(
        required=False,
        max_length=71,
        help_text="For SBOMs, provenance, STIG scans and FIPS attestations: the "
        "image's sha256 digest.",
    )
    document = forms.FileField(help_text="JSON, or a zip of OSV records.")
    signature = forms.FileField(
        required=False,
        help_text="Optional: a detached signature of the document (a Sigstore "
        "bundle, or a DSSE envelope naming the document's SHA-256). A DSSE "
        "envelope or Sigstore bundle document carries its own.",
    )
    subject_override = forms.BooleanField(
        required=False,
        label="Attach even though the document names another image",
        help_text="A document is attached to the build it is about. Override only "
        "with a reason; the reason is kept with the document and in the audit log.",
    )
    subject_override_reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Reason for the override",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_signature(self):
        signature = self.cleaned_data.get("signature")
        if signature is not None and signature.size > SIGNATURE_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {signature.size} bytes; a signature is at most "
                f"{SIGNATURE_MAX_BYTES}."
            )
        return signature

    def clean_document(self):
        document = self.cleaned_data["document"]
        limit = settings.EVIDENCE_MAX_BYTES
        if document.size > limit:
            raise forms.ValidationError(
                f"The file is {document.size} bytes; the limit is {limit}."
            )
        return document


class EvidenceUploadView(StaffOnlyMixin, FormView):
    template_name = "catalog/staff_evidence_upload.html"
    form_class = EvidenceUploadForm

    def form_valid(self, form):
        data = form.cleaned_data
        reason = data["subject_override_reason"]
        # A ticked box without a reason is an override the service refuses.
        override = data["subject_override"] or bool(reason.strip())
        try:
            summary = evidence_import(
                kind=data["kind"],
                content=data["document"].read(),
                digest=data["digest"],
                actor=self.request.user,
                request=self.request,
                subject_override_reason=reason if override else None,
                signature=data["signature"].read() if data["signature"] else None,
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
            return self.form_invalid(form)
        warnings = summary.pop("warnings", [])
        text = summary_text(data["kind"], summary)
        messages.success(self.request, f"Imported. {text}")
        if warnings:
            messages.warning(
                self.request,
                "Imported with deviations from the schema in fields the portal "
                f"does not read: {'; '.join(warnings)}.",
            )
        return redirect("staff_evidence")

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = 400
        return response
