"""Evidence ingestion: SBOMs and SLSA provenance attached to an image digest.

One document is one transaction. Everything that can refuse a document (size,
JSON, format, schema, purls, subjects) runs before the first write, so a refused
document leaves no row and no stored file behind. Whether the document's own
subject is the build is decided where it is stored (``attestation_store``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from apps.catalog.formats.document import document_json, refuse
from apps.core.bulk import bulk_insert, bulk_set
from apps.vulns.formats.sbom import sbom_parse
from apps.vulns.formats.sbom_parsed import CYCLONEDX, SbomComponent
from apps.vulns.models import Component, DigestComponent

from .formats.subject import StatedSubject, statement_subject
from .models import Attestation, ImageDigest
from .services import SubjectOverride, attestation_store

SBOM_KINDS = {
    CYCLONEDX: Attestation.Kind.SBOM_CYCLONEDX,
    "spdx": Attestation.Kind.SBOM_SPDX,
}


@dataclass(frozen=True)
class SbomImportResult:
    """What an SBOM import stored; ``created`` is False for a repeat (a no-op)."""

    attestation: Attestation
    created: bool
    format: str
    spec_version: str
    components: int
    components_created: int
    links_created: int
    skipped_without_purl: int
    subject: str
    # Other builds sharing a component whose source package this SBOM was the
    # first to state: they are matched again too.
    rematch: tuple[int, ...] = ()
    # Where the document departs from its schema in fields the portal does
    # not read (grouped); kept with the attestation.
    warnings: tuple[str, ...] = ()


def evidence_file_read(path: str | Path) -> bytes:
    """A document from disk for a command, refusing oversize files unread."""
    path = Path(path)
    limit = settings.EVIDENCE_MAX_BYTES
    try:
        size = path.stat().st_size
        if size > limit:
            raise refuse(
                f"{path} is {size:,} bytes; the limit is {limit:,} bytes.",
                "too_large",
            )
        with path.open("rb") as handle:
            # One byte past the limit is enough for the parser to refuse it.
            return handle.read(limit + 1)
    except OSError as exc:
        raise refuse(f"Cannot read {path}: {exc.strerror}.", "unreadable") from None


@transaction.atomic
def sbom_import(
    *,
    image: ImageDigest,
    content: bytes,
    subject_override: SubjectOverride | None = None,
) -> SbomImportResult:
    """Attach a CycloneDX or SPDX SBOM to a digest and record its components.

    An SBOM whose own subject names another image is refused (unless staff
    override). The same bytes again are a no-op; another SBOM of the same
    digest adds the components it names that the digest did not have yet.
    """
    parsed = sbom_parse(content)
    attestation, created = attestation_store(
        image=image,
        kind=SBOM_KINDS[parsed.format],
        content=content,
        subject=parsed.subject,
        subject_override=subject_override,
        spec_version=parsed.spec_version,
        media_type=parsed.media_type,
        summary=parsed.summary,
        warnings=[warning.as_dict() for warning in parsed.warnings],
    )
    components_created = links_created = 0
    rematch: tuple[int, ...] = ()
    if created:
        try:
            components_created, links_created, rematch = _components_attach(
                image=image, attestation=attestation, components=parsed.components
            )
        except BaseException:
            # The rows roll back with the transaction; the file would not.
            attestation.document.delete(save=False)
            raise
    return SbomImportResult(
        attestation=attestation,
        created=created,
        format=parsed.format,
        spec_version=parsed.spec_version,
        components=len(parsed.components),
        components_created=components_created,
        links_created=links_created,
        skipped_without_purl=parsed.without_purl,
        subject=attestation.subject_status,
        rematch=rematch,
        warnings=tuple(warning["message"] for warning in attestation.warnings),
    )


# SbomComponent attributes stored as the Component columns of the same name.
COMPONENT_FIELDS = (
    "purl",
    "purl_sha256",
    "type",
    "namespace",
    "name",
    "version",
    "source_name",
    "source_version",
    "source_known",
    "distro",
    "licenses",
)


def _components_attach(
    *,
    image: ImageDigest,
    attestation: Attestation,
    components: Sequence[SbomComponent],
) -> tuple[int, int, tuple[int, ...]]:
    """Upsert components and link them to the digest in a fixed number of queries.

    Returns (components created, links created, other builds to match again).
    Counts are what this import inserted; a concurrent import of the same
    packages may win some of them.
    """
    if not components:
        return 0, 0, ()
    found, sources = _component_ids(
        [c.purl_sha256 for c in components]
        + [c.former_sha256 for c in components if c.former_sha256]
    )
    ids: dict[str, int] = {}
    for c in components:
        # A row stored under the package URL's former name serves, unless
        # one under its present name exists.
        hit = c.purl_sha256 if c.purl_sha256 in found else c.former_sha256
        if hit in found:
            ids[c.purl_sha256] = found[hit]
            sources[c.purl_sha256] = sources[hit]
    missing = [c for c in components if c.purl_sha256 not in ids]
    if missing:
        inserted = bulk_insert(
            Component,
            COMPONENT_FIELDS,
            [[getattr(c, name) for name in COMPONENT_FIELDS] for c in missing],
            returning=("purl_sha256", "id"),
        )
        ids.update(inserted)
        # A concurrent import may insert the same purl first; its row serves.
        if len(ids) < len(components):
            ids |= _component_ids(
                c.purl_sha256 for c in missing if c.purl_sha256 not in ids
            )[0]
    rematch = _sources_learned(
        [
            (c, ids[c.purl_sha256])
            for c in components
            if _source_news(c, sources.get(c.purl_sha256))
        ],
        image=image,
    )
    links = _links_insert(image, attestation, sorted(set(ids.values())))
    return len(missing), links, rematch


def _links_insert(
    image: ImageDigest, attestation: Attestation, component_ids: list[int]
) -> int:
    """Link components to the digest, skipping links it has; how many were new."""
    rows = [(image.pk, pk, attestation.pk) for pk in component_ids]
    fields = ("digest_id", "component_id", "attestation_id")
    if connection.vendor == "postgresql":
        return len(bulk_insert(DigestComponent, fields, rows, returning=("id",)))
    linked = set(
        DigestComponent.objects.filter(digest=image).values_list(
            "component_id", flat=True
        )
    )
    bulk_insert(DigestComponent, fields, [r for r in rows if r[1] not in linked])
    return sum(1 for r in rows if r[1] not in linked)


def _source_news(
    component: SbomComponent, stored: tuple[str, str, bool] | None
) -> bool:
    """Does this document tell more of a stored component's source package?

    It does when the row's source is unknown and this document's is known,
    or when this document names the source itself and the row says otherwise
    (an earlier SBOM left it to inference: the binary's own name).
    """
    if stored is None:
        return False
    name, version, known = stored
    if not known:
        return component.source_known
    return component.source_stated and (name, version) != (
        component.source_name,
        component.source_version,
    )


def _sources_learned(
    learned: Sequence[tuple[SbomComponent, int]], *, image: ImageDigest
) -> tuple[int, ...]:
    """Give stored components the source package this SBOM states for them.

    A component is one package URL whoever lists it; the first SBOM to list a
    distro binary may not have said what it was built from. A later one that
    does completes the row, so matching (run after every import) looks for
    its advisories under the source package from then on. Returns the other
    builds carrying those components, to be matched again.
    """
    if not learned:
        return ()
    bulk_set(
        Component,
        ["source_name", "source_version", "source_known"],
        [(pk, c.source_name, c.source_version, True) for c, pk in learned],
    )
    return tuple(
        sorted(
            set(
                DigestComponent.objects.filter(
                    component_id__in=[pk for _, pk in learned]
                )
                .exclude(digest=image)
                .values_list("digest_id", flat=True)
            )
        )
    )


_COMPONENT_TABLE = Component._meta.db_table
_COMPONENT_IDS_SQL = (
    "SELECT purl_sha256, id, source_name, source_version, source_known "  # noqa: S608
    f"FROM {_COMPONENT_TABLE} "
    "WHERE purl_sha256 = ANY(%s)"
)


def _component_ids(
    hashes: Iterable[str],
) -> tuple[dict[str, int], dict[str, tuple[str, str, bool]]]:
    """Ids of the components stored, by purl hash, and what each row says of
    its source package: (source name, source version, known)."""
    found: dict[str, int] = {}
    sources: dict[str, tuple[str, str, bool]] = {}
    for batch in _batches(list(hashes)):
        if connection.vendor == "postgresql":
            # One array parameter rather than one per hash.
            with connection.cursor() as cursor:
                cursor.execute(_COMPONENT_IDS_SQL, [batch])
                rows: Iterable = cursor.fetchall()
        else:
            rows = Component.objects.filter(purl_sha256__in=batch).values_list(
                "purl_sha256", "id", "source_name", "source_version", "source_known"
            )
        for sha256, pk, name, version, known in rows:
            found[sha256] = pk
            sources[sha256] = (name, version, known)
    return found, sources


def _batches(items: list[str]) -> Iterator[list[str]]:
    # SQLite allows 999 parameters a query; PostgreSQL has no such cap.
    size = connection.features.max_query_params or 10_000
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- SLSA provenance ------------------------------------------------------------

DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO_MEDIA_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPES = {
    "https://in-toto.io/Statement/v0.1": "0.1",
    "https://in-toto.io/Statement/v1": "1",
}
SLSA_PREDICATES = {
    "https://slsa.dev/provenance/v0.2": "0.2",
    "https://slsa.dev/provenance/v1": "1",
}
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Provenance:
    """An in-toto statement carrying SLSA provenance, as read from its document."""

    spec_version: str
    media_type: str
    signer_key_id: str
    subject: StatedSubject
    summary: dict[str, Any]


@transaction.atomic
def provenance_import(
    *,
    image: ImageDigest,
    content: bytes,
    subject_override: SubjectOverride | None = None,
) -> Attestation:
    """Attach SLSA provenance (bare statement or DSSE envelope) to a digest.

    The digest must be one of the statement's subjects (unless staff
    override). Signatures are recorded by key id, not verified:
    ``signature_verified`` stays False.
    """
    provenance = provenance_parse(content)
    attestation, _ = attestation_store(
        image=image,
        kind=Attestation.Kind.SLSA_PROVENANCE,
        content=content,
        subject=provenance.subject,
        subject_override=subject_override,
        spec_version=provenance.spec_version,
        media_type=provenance.media_type,
        signer_key_id=provenance.signer_key_id,
        signature_verified=False,
        summary=provenance.summary,
    )
    return attestation


def provenance_parse(content: bytes) -> Provenance:
    """Read a DSSE envelope or a bare in-toto statement; refuse anything else."""
    doc = document_json(content)
    envelope: dict[str, Any] | None = None
    prefix = "$"
    if isinstance(doc, dict) and "payloadType" in doc and "payload" in doc:
        envelope = doc
        doc = dsse_payload(envelope)
        prefix = "$.payload(decoded)"
    if not isinstance(doc, dict) or "_type" not in doc:
        raise refuse(
            "Not SLSA provenance this portal reads: expected an in-toto statement "
            '("_type") or a DSSE envelope ("payloadType", "payload").',
            "unknown_format",
        )
    reader = Reader(prefix)
    statement_type = reader.text(doc, "_type")
    if statement_type not in STATEMENT_TYPES:
        raise reader.refuse("_type", f"unsupported statement type {statement_type!r}")
    predicate_type = reader.text(doc, "predicateType")
    if predicate_type not in SLSA_PREDICATES:
        raise reader.refuse(
            "predicateType",
            f"{predicate_type!r} is not SLSA provenance "
            f"({' or '.join(SLSA_PREDICATES)})",
        )
    subjects = statement_subjects(reader, doc)
    predicate = reader.obj(doc, "predicate")
    if SLSA_PREDICATES[predicate_type] == "0.2":
        build = _slsa_v02(reader.at("predicate"), predicate)
    else:
        build = _slsa_v1(reader.at("predicate"), predicate)
    key_ids = dsse_key_ids(envelope) if envelope is not None else []
    summary = {
        "statement_type": statement_type,
        "predicate_type": predicate_type,
        **build,
        "subjects": subjects,
        "envelope": "dsse" if envelope is not None else "",
        "signatures": len(envelope["signatures"]) if envelope is not None else 0,
        "key_ids": key_ids,
    }
    return Provenance(
        spec_version=SLSA_PREDICATES[predicate_type],
        media_type=DSSE_MEDIA_TYPE if envelope is not None else IN_TOTO_MEDIA_TYPE,
        signer_key_id=", ".join(key_ids)[:255],
        subject=statement_subject(subjects),
        summary=summary,
    )


def dsse_payload(envelope: dict[str, Any], *, what: str = "SLSA provenance") -> Any:
    """The in-toto statement a DSSE envelope carries (signatures not verified)."""
    reader = Reader("$", what)
    payload_type = reader.text(envelope, "payloadType")
    if payload_type != IN_TOTO_MEDIA_TYPE:
        raise reader.refuse(
            "payloadType", f"expected {IN_TOTO_MEDIA_TYPE}, got {payload_type!r}"
        )
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not all(
        isinstance(s, dict) and isinstance(s.get("sig"), str) for s in signatures
    ):
        raise reader.refuse("signatures", "expected a list of {keyid, sig} objects")
    raw = reader.text(envelope, "payload")
    try:
        payload = _base64(raw)
    except ValueError:
        raise reader.refuse("payload", "not base64") from None
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise reader.refuse("payload", "the decoded payload is not JSON") from None


def _base64(value: str) -> bytes:
    """Standard or URL-safe base64 (DSSE implementations write either)."""
    data = "".join(value.split())
    data += "=" * (-len(data) % 4)
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(data, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise ValueError("not base64")


def dsse_key_ids(envelope: dict[str, Any]) -> list[str]:
    key_ids = (s.get("keyid") for s in envelope["signatures"])
    return list(dict.fromkeys(k for k in key_ids if isinstance(k, str) and k))


def statement_subjects(reader: Reader, doc: dict[str, Any]) -> list[dict[str, Any]]:
    subjects = doc.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise reader.refuse("subject", "the statement names no subjects")
    out = []
    for i, subject in enumerate(subjects):
        at = reader.at(f"subject[{i}]")
        if not isinstance(subject, dict):
            raise reader.refuse(f"subject[{i}]", "expected an object")
        digest = at.digests(subject, "digest", required=True)
        if "sha256" in digest and not SHA256_RE.match(digest["sha256"]):
            raise at.refuse("digest.sha256", "not a sha256 digest (64 hex digits)")
        out.append({"name": at.text(subject, "name", required=False), "digest": digest})
    return out


def _slsa_v02(reader: Reader, predicate: dict[str, Any]) -> dict[str, Any]:
    builder = reader.obj(predicate, "builder")
    invocation = reader.obj(predicate, "invocation", required=False)
    config = reader.at("invocation").obj(invocation, "configSource", required=False)
    metadata = reader.obj(predicate, "metadata", required=False)
    at_meta = reader.at("metadata")
    return {
        "builder_id": reader.at("builder").text(builder, "id"),
        # Required by SLSA v0.2, yet absent from real documents (Kubernetes'
        # kubectl release provenance): recorded as empty rather than refused.
        "build_type": reader.text(predicate, "buildType", required=False),
        "materials": _materials(reader, predicate, "materials"),
        "config_source": {
            key: value
            for key, value in config.items()
            if key in ("uri", "digest", "entryPoint")
        },
        "invocation_id": at_meta.text(metadata, "buildInvocationID", required=False),
        "started_on": at_meta.text(metadata, "buildStartedOn", required=False),
        "finished_on": at_meta.text(metadata, "buildFinishedOn", required=False),
    }


def _slsa_v1(reader: Reader, predicate: dict[str, Any]) -> dict[str, Any]:
    definition = reader.obj(predicate, "buildDefinition")
    run = reader.obj(predicate, "runDetails")
    at_run = reader.at("runDetails")
    builder = at_run.obj(run, "builder")
    metadata = at_run.obj(run, "metadata", required=False)
    at_meta = at_run.at("metadata")
    return {
        "builder_id": at_run.at("builder").text(builder, "id"),
        "build_type": reader.at("buildDefinition").text(definition, "buildType"),
        "materials": _materials(
            reader.at("buildDefinition"), definition, "resolvedDependencies"
        ),
        "invocation_id": at_meta.text(metadata, "invocationId", required=False),
        "started_on": at_meta.text(metadata, "startedOn", required=False),
        "finished_on": at_meta.text(metadata, "finishedOn", required=False),
    }


def _materials(reader: Reader, parent: dict[str, Any], key: str) -> list[dict]:
    items = parent.get(key) or []
    if not isinstance(items, list):
        raise reader.refuse(key, "expected a list")
    out = []
    for i, item in enumerate(items):
        at = reader.at(f"{key}[{i}]")
        if not isinstance(item, dict):
            raise reader.refuse(f"{key}[{i}]", "expected an object")
        uri = at.text(item, "uri", required=False) or at.text(
            item, "name", required=False
        )
        out.append({"uri": uri, "digest": at.digests(item, "digest", required=False)})
    return out


class Reader:
    """Typed reads from a JSON object that refuse with the path of what is wrong."""

    def __init__(self, path: str, what: str = "SLSA provenance"):
        self.path = path
        self.what = what

    def at(self, key: str) -> Reader:
        return Reader(f"{self.path}.{key}", self.what)

    def refuse(self, key: str, problem: str):
        # Problems quote the document; a quote is no place for a megabyte.
        if len(problem) > 300:
            problem = problem[:300] + "..."
        return refuse(
            f"Not valid {self.what} at {self.path}.{key}: {problem}.", "schema"
        )

    def text(self, obj: dict[str, Any], key: str, required: bool = True) -> str:
        value = obj.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value):
            raise self.refuse(key, "expected a non-empty string")
        return value

    def obj(
        self, obj: dict[str, Any], key: str, required: bool = True
    ) -> dict[str, Any]:
        value = obj.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.refuse(key, "expected an object")
        return value

    def digests(self, obj: dict[str, Any], key: str, required: bool) -> dict:
        value = self.obj(obj, key, required=required)
        if required and not value:
            raise self.refuse(key, "expected at least one digest")
        if not all(isinstance(v, str) for v in value.values()):
            raise self.refuse(key, "expected algorithm: hex digest pairs")
        return {alg: hexdigest.lower() for alg, hexdigest in value.items()}
