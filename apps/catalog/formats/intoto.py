"""In-toto statements and DSSE envelopes, and the SLSA provenance they carry.

Pure reading: the bytes of a document in, a ``Provenance`` (or a refusal naming
the path of what is wrong) out. Signatures are read by key id here; whether
they hold is ``formats.signatures``' question.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from .document import document_json, document_loads, refuse
from .sigstore_bundle import is_bundle
from .subject import StatedSubject, statement_subject

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


def provenance_parse(content: bytes) -> Provenance:
    """Read a DSSE envelope or a bare in-toto statement; refuse anything else."""
    doc = document_json(content)
    envelope: dict[str, Any] | None = None
    media_type = DSSE_MEDIA_TYPE
    prefix = "$"
    if is_bundle(doc) and isinstance(doc.get("dsseEnvelope"), dict):
        # A Sigstore bundle: the statement is in its DSSE envelope.
        media_type = doc["mediaType"][:100]
        doc = doc["dsseEnvelope"]
        prefix = "$.dsseEnvelope"
    if isinstance(doc, dict) and "payloadType" in doc and "payload" in doc:
        envelope = doc
        doc = dsse_payload(envelope)
        prefix += ".payload(decoded)"
    if not isinstance(doc, dict) or "_type" not in doc:
        raise refuse(
            "Not SLSA provenance this portal reads: expected an in-toto statement "
            '("_type"), a DSSE envelope ("payloadType", "payload") or a Sigstore '
            "bundle holding one.",
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
        media_type=media_type if envelope is not None else IN_TOTO_MEDIA_TYPE,
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
        return document_loads(payload)
    except ValidationError as exc:
        raise reader.refuse(
            "payload", "the decoded payload is not JSON: " + " ".join(exc.messages)
        ) from None


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
