"""The public verify page: anyone holding a report checks it here.

What the page shows of a report is what its holder already has in hand: the
report id, kind, window, data cut-off, when it was issued, its SHA-256, pages,
size and the signing key id. Never the organization, the requester or the
image, so a report id or hash seen over someone's shoulder reveals nothing
about whom the report is for.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.views import View
from rest_framework.throttling import SimpleRateThrottle

from .models import Report
from .signing import SHA256_RE, signing_key_for, verify_document, verify_hash


class VerifyThrottle(SimpleRateThrottle):
    """Uploads and look-ups per client address (as the API counts them)."""

    scope = "report_verify"

    def get_rate(self) -> str:
        return settings.REPORT_VERIFY_RATE

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {
            "scope": self.scope,
            "ident": self.get_ident(request),
        }


def _check_size(document):
    limit = settings.EVIDENCE_MAX_BYTES
    if document.size == 0:
        raise forms.ValidationError("The file is empty.")
    if document.size > limit:
        raise forms.ValidationError(
            f"The file is {document.size} bytes; the limit is {limit}."
        )
    return document


class VerifyFileForm(forms.Form):
    document = forms.FileField(
        label="Report file",
        help_text=(
            "The PDF (or the evidence bundle, POA&M or OSCAL JSON) as you received it."
        ),
        error_messages={
            "required": "Choose the report file to check.",
            "empty": "The file is empty.",
        },
    )

    def clean_document(self):
        return _check_size(self.cleaned_data["document"])


class VerifyForm(forms.Form):
    """A file to check, or the SHA-256 of one."""

    document = forms.FileField(
        label="Report file",
        required=False,
        help_text=(
            "The PDF (or the evidence bundle, POA&M or OSCAL JSON) as you received it."
        ),
        error_messages={"empty": "The file is empty."},
    )
    sha256 = forms.CharField(
        label="Or its SHA-256",
        required=False,
        max_length=64 + 8,
        help_text="64 hexadecimal digits, as sha256sum prints them.",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono"}
        ),
    )

    def clean_document(self):
        document = self.cleaned_data.get("document")
        return _check_size(document) if document else None

    def clean_sha256(self):
        value = self.cleaned_data["sha256"].strip().lower()
        if value.startswith("sha256:"):
            value = value.removeprefix("sha256:")
        if value and not SHA256_RE.match(value):
            raise forms.ValidationError(
                "A SHA-256 is 64 hexadecimal digits (0-9, a-f)."
            )
        return value

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data.get("document") and data.get("sha256"):
            raise forms.ValidationError("Upload a file or enter a hash, not both.")
        if not data.get("document") and not data.get("sha256"):
            raise forms.ValidationError("Upload the report file or enter its SHA-256.")
        return data


def _throttled(request) -> bool:
    return not VerifyThrottle().allow_request(request, None)


_TOO_MANY = "Too many checks from your address. Wait a minute and try again."


class VerifyFormView(View):
    template_name = "reports/verify_form.html"

    def _context(self, form, **extra) -> dict:
        return {"form": form, "max_bytes": settings.EVIDENCE_MAX_BYTES, **extra}

    def get(self, request):
        return render(request, self.template_name, self._context(VerifyForm()))

    def post(self, request):
        if _throttled(request):
            context = self._context(VerifyForm(), refused=_TOO_MANY)
            return render(request, self.template_name, context, status=429)
        form = VerifyForm(request.POST, request.FILES)
        if not form.is_valid():
            return render(request, self.template_name, self._context(form), status=400)
        if form.cleaned_data["sha256"]:
            report = verify_hash(form.cleaned_data["sha256"])
            return render(
                request,
                "reports/verify_result.html",
                {
                    "mode": "hash",
                    "sha256": form.cleaned_data["sha256"],
                    "report": report,
                    "signing_key": signing_key_for(report.signer_key_id)
                    if report
                    else None,
                },
            )
        document = form.cleaned_data["document"]
        verification = verify_document(document.read())
        return render(
            request,
            "reports/verify_result.html",
            {
                "mode": "file",
                "filename": document.name,
                "v": verification,
                "report": verification.report,
                "signing_key": verification.signing_key,
            },
        )


class VerifyDetailView(View):
    """What the QR code in a report points to: its record, and a form to check
    a file against it."""

    template_name = "reports/verify_detail.html"

    def dispatch(self, request, *args, public_id, **kwargs):
        # Only issued reports have a public record; others are nobody's business.
        self.report = (
            Report.objects.filter(public_id=public_id, status=Report.Status.READY)
            .only(*_PUBLIC_FIELDS)
            .first()
        )
        if self.report is None:
            raise Http404("No issued report has this id.")
        return super().dispatch(request, *args, **kwargs)

    def _context(self, form, **extra):
        return {
            "report": self.report,
            "signing_key": signing_key_for(self.report.signer_key_id),
            "form": form,
            **extra,
        }

    def get(self, request):
        return render(request, self.template_name, self._context(VerifyFileForm()))

    def post(self, request):
        if _throttled(request):
            context = self._context(VerifyFileForm(), refused=_TOO_MANY)
            return render(request, self.template_name, context, status=429)
        form = VerifyFileForm(request.POST, request.FILES)
        if not form.is_valid():
            return render(request, self.template_name, self._context(form), status=400)
        document = form.cleaned_data["document"]
        verification = verify_document(document.read(), expected=self.report)
        return render(
            request,
            "reports/verify_result.html",
            {
                "mode": "file",
                "filename": document.name,
                "v": verification,
                "expected": self.report,
                "expected_key": signing_key_for(self.report.signer_key_id),
                "report": verification.report,
                "signing_key": verification.signing_key,
            },
        )


# What the public record shows (see the module's docstring).
_PUBLIC_FIELDS = (
    "pk",
    "public_id",
    "kind",
    "window_start",
    "window_end",
    "data_cutoff",
    "status",
    "media_type",
    "size",
    "sha256",
    "signer_key_id",
    "pages",
    "created_at",
    "finished_at",
)
