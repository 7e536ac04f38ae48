"""Checking an attestation's signature and keeping the verdict with it.

The verifier itself is pure (``formats.signatures``); this module hands it the
registered signers and the configured Sigstore trust root, and records what it
concludes on the attestation: status, signer, identity, signing time, when it
was checked and the sentence that explains it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.base import ContentFile
from django.utils import timezone
from sigstore.models import TrustedRoot

from .formats.signatures import document_signature_verify
from .formats.sigstore_bundle import trust_root_read
from .formats.verdict import Signer, Verdict
from .models import Attestation
from .signers import signers_for_verification

_cache: dict[tuple[str, float], TrustedRoot] = {}
_lock = threading.Lock()


def trust_root() -> TrustedRoot:
    """The Sigstore trusted root keyless signatures and transparency-log
    entries are checked against: ``SIGSTORE_TRUSTED_ROOT_FILE`` (the
    public-good root kept in the project unless set), read again when the
    file changes."""
    path = Path(settings.SIGSTORE_TRUSTED_ROOT_FILE)
    try:
        mtime = path.stat().st_mtime
        key = (str(path), mtime)
        with _lock:
            if key not in _cache:
                _cache.clear()
                _cache[key] = trust_root_read(path.read_bytes())
            return _cache[key]
    except (OSError, ValidationError) as exc:
        detail = " ".join(exc.messages) if isinstance(exc, ValidationError) else exc
        raise ImproperlyConfigured(
            f"SIGSTORE_TRUSTED_ROOT_FILE {path}: {detail}"
        ) from None


def attestation_signature_verify(
    *,
    attestation: Attestation,
    content: bytes,
    signature: bytes | None = None,
    now: datetime | None = None,
    signers: list[Signer] | None = None,
) -> Verdict:
    """The verdict on an attestation's signature: its own (a DSSE envelope or
    a Sigstore bundle whose statement must name the build) or the detached
    ``signature`` it came with. Without an attested signing time, a signer's
    window is judged at when the portal first received the document."""
    now = now or timezone.now()
    received_at = min(attestation.created_at or now, now)
    image = attestation.digest.digest
    algorithm, _, hexdigest = image.partition(":")
    return document_signature_verify(
        document=content,
        signature=signature,
        subject_digests={algorithm: hexdigest},
        signers=signers if signers is not None else signers_for_verification(),
        trust_root=trust_root(),
        received_at=received_at,
    )


def attestation_signature_record(
    *,
    attestation: Attestation,
    verdict: Verdict,
    signature: bytes | None = None,
    now: datetime | None = None,
) -> Attestation:
    """Keep a verdict with the attestation (and the detached signature it was
    reached from). Call inside the importing transaction."""
    attestation.signature_status = verdict.status
    attestation.signature_signer_id = verdict.signer.id if verdict.signer else None
    attestation.signature_identity = verdict.identity[:500]
    attestation.signature_signed_at = verdict.signed_at
    attestation.signature_checked_at = now or timezone.now()
    attestation.signature_check = verdict.check
    attestation.signature_message = verdict.message
    fields = [
        "signature_status",
        "signature_signer",
        "signature_identity",
        "signature_signed_at",
        "signature_checked_at",
        "signature_check",
        "signature_message",
    ]
    if verdict.key_ids and not attestation.signer_key_id:
        attestation.signer_key_id = ", ".join(verdict.key_ids)[:255]
        fields.append("signer_key_id")
    if signature is not None:
        name = f"{hashlib.sha256(signature).hexdigest()}.json"
        attestation.signature_file.save(name, ContentFile(signature), save=False)
        fields.append("signature_file")
    attestation.save(update_fields=fields)
    return attestation


def attestations_signature_recheck(
    *, digest: str = "", now: datetime | None = None
) -> Counter[str]:
    """Check every stored attestation's signature again (after a signer is
    registered, or the trust root changes) and keep the new verdicts; returns
    how many ended in each status. Each attestation is saved on its own."""
    now = now or timezone.now()
    signers = signers_for_verification()
    counts: Counter[str] = Counter()
    rows = Attestation.objects.select_related("digest").order_by("pk")
    if digest:
        rows = rows.filter(digest__digest=digest)
    for attestation in rows.iterator(chunk_size=200):
        with attestation.document.open("rb") as handle:
            content = handle.read()
        signature = None
        if attestation.signature_file:
            with attestation.signature_file.open("rb") as handle:
                signature = handle.read()
        verdict = attestation_signature_verify(
            attestation=attestation,
            content=content,
            signature=signature,
            now=now,
            signers=signers,
        )
        attestation_signature_record(attestation=attestation, verdict=verdict, now=now)
        counts[verdict.status] += 1
    return counts
