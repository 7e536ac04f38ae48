"""What a signature check concludes, and who the portal trusts to sign.

Pure data: the verifier (``formats.signatures``) is handed the registered
signers as ``Signer`` values and answers a ``Verdict``; the catalog turns rows
into the one and stores the other.

Four answers, each with a sentence for people:

- Verified: a valid signature by a registered signer whose key or identity was
  trusted at the time of signing (by which signer, which key or identity, when).
- Unverified: the document carries no signature.
- Invalid: a check failed (the document was changed after signing, the
  transparency-log entry is another signing's, the signed statement is about
  another image, the envelope is malformed); ``check`` names which.
- Untrusted: the signature is valid, but not by a signer the portal trusts
  then: an unknown key or identity, a key outside its validity window, or a
  revoked key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from .keys import PublicKey

VERIFIED = "verified"
UNVERIFIED = "unverified"
INVALID = "invalid"
UNTRUSTED = "untrusted"

# Which check an Invalid or Untrusted verdict comes from.
CHECK_FORMAT = "format"
CHECK_SIGNATURE = "signature"
CHECK_TRANSPARENCY_LOG = "transparency_log"
CHECK_TIMESTAMP = "timestamp"
CHECK_CERTIFICATE = "certificate"
CHECK_SUBJECT = "subject"
CHECK_PAYLOAD_TYPE = "payload_type"
CHECK_DIGEST = "digest"
CHECK_UNKNOWN_SIGNER = "unknown_signer"
CHECK_REVOKED = "revoked"
CHECK_WINDOW = "outside_window"

# Each check as people name it (pages, reports, the bundle's list).
CHECK_LABELS = {
    CHECK_FORMAT: "envelope or bundle format",
    CHECK_SIGNATURE: "signature over the content",
    CHECK_TRANSPARENCY_LOG: "transparency-log entry",
    CHECK_TIMESTAMP: "signed timestamp",
    CHECK_CERTIFICATE: "signing certificate",
    CHECK_SUBJECT: "statement subject",
    CHECK_PAYLOAD_TYPE: "payload type",
    CHECK_DIGEST: "document digest",
    CHECK_UNKNOWN_SIGNER: "signer not registered",
    CHECK_REVOKED: "signer revoked",
    CHECK_WINDOW: "outside the signer's window",
}

TIME_TIMESTAMP_AUTHORITY = "a signed timestamp"
TIME_TRANSPARENCY_LOG = "the transparency log"
TIME_RECEIVED = "when the portal received it"


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


@dataclass(frozen=True)
class Signer:
    """A registered signer as the verifier sees it: a public key, or a keyless
    identity policy (OIDC issuer and certificate subject or subject pattern)."""

    id: int
    name: str
    public_key: PublicKey | None = None
    key_id: str = ""
    issuer: str = ""
    subject: str = ""
    subject_pattern: str = ""
    not_before: datetime | None = None
    not_after: datetime | None = None
    revoked_at: datetime | None = None
    revocation_reason: str = ""

    @property
    def is_key(self) -> bool:
        return self.public_key is not None

    def answers_to(self, hint: str) -> bool:
        """Whether a key id or hint in a document names this key."""
        if not hint or self.public_key is None:
            return False
        return hint == self.key_id or hint in self.public_key.hints()

    def covers(self, *, identities: list[str], issuer: str) -> bool:
        """Whether a signing certificate with these identities (SANs) from
        this OIDC issuer is this keyless signer's."""
        if self.public_key is not None or not self.issuer or issuer != self.issuer:
            return False
        if self.subject:
            return self.subject in identities
        if self.subject_pattern:
            pattern = re.compile(self.subject_pattern)
            return any(pattern.fullmatch(identity) for identity in identities)
        return False

    def in_window(self, moment: datetime) -> bool:
        if self.not_before is not None and moment < self.not_before:
            return False
        return self.not_after is None or moment < self.not_after

    def window_text(self) -> str:
        if self.not_after is None:
            return f"from {_day(self.not_before)}"
        return f"from {_day(self.not_before)} until {_day(self.not_after)}"


@dataclass(frozen=True)
class Verdict:
    """The answer about one document's signature."""

    status: str
    message: str
    check: str = ""
    signer: Signer | None = None
    identity: str = ""
    signed_at: datetime | None = None
    time_source: str = ""
    key_ids: tuple[str, ...] = field(default=())

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED


def unverified(message: str = "The document carries no signature.") -> Verdict:
    return Verdict(status=UNVERIFIED, message=message)


def invalid(check: str, message: str, *, identity: str = "") -> Verdict:
    return Verdict(status=INVALID, message=message, check=check, identity=identity)


def trust_decide(
    *,
    candidates: list[Signer],
    identity: str,
    signed_at: datetime | None,
    time_source: str,
    received_at: datetime,
) -> Verdict:
    """A valid signature made by ``identity``: whom it is trusted as.

    The time judged against a signer's window is the attested signing time
    (a signed timestamp or the transparency log), else the time the portal
    received the document, which the signing cannot be later than. A revoked
    signer vouches for nothing, whenever it signed.
    """
    when = signed_at or received_at
    source = time_source if signed_at else TIME_RECEIVED
    if not candidates:
        return Verdict(
            status=UNTRUSTED,
            check=CHECK_UNKNOWN_SIGNER,
            identity=identity,
            signed_at=signed_at,
            time_source=source,
            message=f"The signature is valid, but it was made by {identity}, "
            "which no registered signer covers.",
        )
    for signer in candidates:
        if signer.revoked_at is None and signer.in_window(when):
            return Verdict(
                status=VERIFIED,
                signer=signer,
                identity=identity,
                signed_at=signed_at,
                time_source=source,
                message=f"Verified: signed by {signer.name} ({identity}), "
                f"{_day(when)} by {source}.",
            )
    revoked = [s for s in candidates if s.revoked_at is not None]
    if revoked:
        signer = revoked[0]
        reason = f": {signer.revocation_reason}" if signer.revocation_reason else ""
        return Verdict(
            status=UNTRUSTED,
            check=CHECK_REVOKED,
            signer=signer,
            identity=identity,
            signed_at=signed_at,
            time_source=source,
            message=f"Signature no longer trusted: {signer.name} was revoked on "
            f"{_day(signer.revoked_at)}{reason}.",
        )
    signer = candidates[0]
    return Verdict(
        status=UNTRUSTED,
        check=CHECK_WINDOW,
        signer=signer,
        identity=identity,
        signed_at=signed_at,
        time_source=source,
        message=f"Signed {_day(when)} (by {source}), outside the validity window "
        f"of {signer.name} ({signer.window_text()}).",
    )
