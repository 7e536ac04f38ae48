"""What the import commands share: the build they name, the file they read,
the person they act for and a subject override with its reason."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from apps.catalog.models import Attestation, ImageDigest
from apps.catalog.services import (
    SubjectOverride,
    normalize_digest,
    subject_override_check,
)

from .files import evidence_file_read
from .ingest import signature_input_check


def image_for(digest: str) -> ImageDigest:
    """The registered build a command names, or a CommandError that says why not."""
    try:
        digest = normalize_digest(digest)
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages)) from None
    image = ImageDigest.objects.filter(digest=digest).first()
    if image is None:
        raise CommandError(f"No image digest {digest} is registered.")
    return image


def read(path: str) -> bytes:
    try:
        return evidence_file_read(path)
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages)) from None


def add_actor_arguments(parser) -> None:
    """--actor and --subject-override-reason, shared by the import commands."""
    parser.add_argument(
        "--actor",
        metavar="EMAIL",
        help="the person loading the document (recorded in the audit log); "
        "required with --subject-override-reason",
    )
    parser.add_argument(
        "--subject-override-reason",
        metavar="REASON",
        help="attach the document although its own subject names another image, "
        "and why (publisher staff only; kept with the document and in the audit "
        "log)",
    )


def add_signature_argument(parser) -> None:
    parser.add_argument(
        "--signature",
        metavar="FILE",
        help="a detached signature of the document: a Sigstore bundle (cosign "
        "sign-blob --bundle) or a DSSE envelope whose statement names the "
        "document's SHA-256",
    )


def signature_for(path: str | None, kind: str) -> bytes | None:
    """The --signature file's bytes, checked as the other doors check them."""
    if not path:
        return None
    content = read(path)
    try:
        signature_input_check(content, kind)
    except ValidationError as exc:
        raise CommandError(f"{path}: {' '.join(exc.messages)}") from None
    return content


def signature_line(attestation: Attestation) -> str:
    """What the signature check concluded, in a sentence."""
    return f"Signature: {attestation.signature_message}"


def subject_line(attestation: Attestation) -> str:
    """What the subject check decided, in a sentence."""
    status = attestation.subject_status
    if status == Attestation.Subject.MATCH:
        return "Its subject is this build."
    if status == Attestation.Subject.OVERRIDDEN:
        return (
            f"Its subject is another image ({', '.join(attestation.subject_digests)})"
            f"; attached by override: {attestation.subject_override_reason}"
        )
    return "It does not name the image it is about (subject not stated)."


def actor_for(email: str | None):
    """The user --actor names, or None when it names nobody."""
    if not email:
        return None
    user = get_user_model().objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise CommandError(f"No user {email} (--actor).")
    return user


def override_for(reason: str | None, actor) -> SubjectOverride | None:
    """The subject override the options ask for, refused unless it has a
    reason and a staff actor."""
    if reason is None:
        return None
    if actor is None:
        raise CommandError(
            "A subject override names the staff member who makes it: --actor EMAIL."
        )
    override = SubjectOverride(reason=reason, actor=actor)
    try:
        subject_override_check(override)
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages)) from None
    return override
