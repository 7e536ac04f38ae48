"""Attestations out: the stored document, byte for byte, to whoever the
evidence rule (``apps.evidence.access``) allows; a guarded download is recorded."""

from __future__ import annotations

import base64
import logging
import re

from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views import View
from rest_framework.exceptions import AuthenticationFailed

from apps.accounts.authentication import ApiTokenAuthentication
from apps.accounts.models import ApiToken
from apps.catalog import selectors as catalog_selectors
from apps.catalog import services as catalog_services

from .access import evidence_access

logger = logging.getLogger(__name__)


def _download_name(attestation) -> str:
    image = attestation.digest
    variant = image.variant
    stem = "-".join(
        part
        for part in (
            variant.series.repository.name,
            variant.series.name,
            variant.suffix,
            image.digest.removeprefix("sha256:")[:12],
            attestation.kind,
        )
        if part
    )
    subtype = attestation.media_type.split(";")[0].rsplit("/", 1)[-1].lower()
    extension = "json" if "json" in subtype else "xml" if "xml" in subtype else "bin"
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', stem)}.{extension}"


def bearer_token(request):
    """The API token an ``Authorization: Bearer`` header carries, or None
    without one; a bad token raises AuthenticationFailed."""
    found = ApiTokenAuthentication().authenticate(request)
    return found[1] if found else None


def _wants_json(request, token) -> bool:
    accept = request.headers.get("Accept", "")
    return token is not None or (
        "application/json" in accept and "text/html" not in accept
    )


class AttestationDownloadView(View):
    """The stored document, byte for byte, with the media type it was stored with.

    Evidence of FIPS and STIG builds is guarded (apps.evidence.access):
    a browser signs in, a script sends an API token with ``evidence:read``.
    """

    def get(self, request, pk: int):
        attestation = catalog_selectors.attestation_get(pk=pk)
        if attestation is None:
            raise Http404("No such attestation.")
        try:
            token = bearer_token(request)
        except AuthenticationFailed as exc:
            return json_refusal(str(exc.detail), status=401)
        if token is not None and not token.has_scope(ApiToken.Scope.EVIDENCE_READ):
            return json_refusal(
                f"This token lacks the {ApiToken.Scope.EVIDENCE_READ} scope.",
                status=403,
            )
        user = token.created_by if token is not None else request.user
        access = evidence_access(image=attestation.digest, user=user, token=token)
        if not access.allowed:
            return self.refuse(request, attestation, access, token)
        try:
            handle = attestation.document.open("rb")
        except (FileNotFoundError, ValueError) as exc:
            # The row outlived its file: say so in the log, not found to the reader.
            logger.error("attestation %s has no stored document: %s", pk, exc)
            raise Http404("The document is not available.") from exc
        if access.guarded:
            catalog_services.attestation_download_record(
                attestation=attestation,
                org=access.org,
                features=access.features,
                via=access.via,
                actor=user,
                request=request,
            )
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=_download_name(attestation),
            content_type=attestation.media_type,
        )
        # RFC 9530: lets a client check what it got against the published hash.
        raw = bytes.fromhex(attestation.sha256)
        response["Repr-Digest"] = f"sha-256=:{base64.b64encode(raw).decode()}:"
        if access.guarded:
            response["Cache-Control"] = "private, no-store"
        return response

    def refuse(self, request, attestation, access, token):
        if _wants_json(request, token):
            return json_refusal(
                access.refusal,
                status=403,
                entitlements=list(access.features),
                pricing=request.build_absolute_uri(reverse("pricing")),
            )
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return render(
            request,
            "catalog/digest_evidence_refused.html",
            {"access": access, "attestation": attestation, "image": attestation.digest},
            status=403,
        )


def json_refusal(detail: str, *, status: int, **extra) -> JsonResponse:
    response = JsonResponse({"detail": detail, **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response
