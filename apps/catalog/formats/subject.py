"""What an evidence document says it is about: the image digests of its subject.

Pure functions from an already-read document (JSON as Python data, or the
target of a STIG scan) to a ``StatedSubject``; nothing here touches the
database. The attach rule that compares a subject with a build is
``apps.catalog.services.attestation_subject_check``.

Where real tools write the image a document is about:

- CycloneDX ``metadata.component``: Syft writes the manifest digest as its
  ``version`` (``sha256:...``); Trivy a ``pkg:oci/<name>@sha256%3A...`` purl (also
  the ``bom-ref``) and an ``aquasecurity:trivy:RepoDigest`` property
  (``<name>@sha256:...``); others a SHA-256 in ``hashes`` or a
  ``<name>@sha256:...`` name. Trivy's ``ImageID`` property is the digest of the
  image's config, not of its manifest, so it is not read.
- SPDX: the packages the document describes (``documentDescribes``, or a
  DESCRIBES / DESCRIBED_BY relationship with the document): their SHA256
  checksums, ``pkg:oci`` / ``pkg:docker`` purls and ``sha256:`` versions (Syft's
  ``DocumentRoot-Image`` package). A described package that says it is something
  else (a non-image purl, a purpose other than CONTAINER) names no image.
- in-toto statements: the digest of every subject.
- STIG scans: the target and target facts of an XCCDF TestResult, the asset of
  a checklist, where they reference a digest (``<name>@sha256:...``, a
  ``pkg:oci`` purl) or a fact's name says it is a digest. A bare image id or
  container id is an id, not a manifest digest: named, not compared.

A document that names no digest states no subject; that is not a mismatch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# "<name>@sha256:<hex>" and purls, whose version percent-encodes the colon.
_DIGEST_REFERENCE = re.compile(r"@sha256(?::|%3a)([0-9a-f]{64})(?![0-9a-f])", re.I)
_SHA256_VALUE = re.compile(r"sha256:([0-9a-f]{64})", re.I)
_HEX64 = re.compile(r"[0-9a-f]{64}", re.I)
_IMAGE_PURL = re.compile(r"pkg:(?:oci|docker)/", re.I)
_SHA256_ALGORITHMS = frozenset({"sha-256", "sha256"})
NAMED_MAX = 500


@dataclass(frozen=True)
class StatedSubject:
    """The image digests a document names as its subject, and how it names it.

    ``digests`` are ``<algorithm>:<hex>``, lowercase (``sha256:...``; in-toto
    subjects may add other algorithms). ``named`` is what the document calls
    its subject, for people; ``where`` is where in the document it says so.
    """

    digests: frozenset[str] = frozenset()
    named: str = ""
    where: str = ""

    @property
    def stated(self) -> bool:
        return bool(self.digests)


NOT_STATED = StatedSubject()


def _sha256(hexdigest: str) -> str:
    return f"sha256:{hexdigest.lower()}"


def reference_digests(value: Any) -> set[str]:
    """Digests a reference names: ``<name>@sha256:<hex>`` or an image purl."""
    if not isinstance(value, str):
        return set()
    return {_sha256(h) for h in _DIGEST_REFERENCE.findall(value)}


def _digest_value(value: Any) -> set[str]:
    """A value that is itself a digest: ``sha256:<hex>`` or bare 64 hex."""
    if not isinstance(value, str):
        return set()
    value = value.strip()
    if match := _SHA256_VALUE.fullmatch(value):
        return {_sha256(match.group(1))}
    if _HEX64.fullmatch(value):
        return {_sha256(value)}
    return set()


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _named(parts: Iterable[str]) -> str:
    named = ", ".join(dict.fromkeys(p for p in parts if p))
    return named if len(named) <= NAMED_MAX else named[: NAMED_MAX - 1] + "…"


# --- CycloneDX ------------------------------------------------------------------


def cyclonedx_subject(doc: dict[str, Any]) -> StatedSubject:
    """The image ``metadata.component`` names, if any."""
    metadata = doc.get("metadata")
    component = metadata.get("component") if isinstance(metadata, dict) else None
    if not isinstance(component, dict):
        return NOT_STATED
    found: set[str] = set()
    for key in ("purl", "bom-ref", "name"):
        found |= reference_digests(component.get(key))
    version = component.get("version")
    if isinstance(version, str) and _SHA256_VALUE.fullmatch(version.strip()):
        found |= _digest_value(version)
    for item in component.get("hashes") or []:
        if isinstance(item, dict) and str(item.get("alg", "")).lower() in (
            _SHA256_ALGORITHMS
        ):
            found |= _digest_value(item.get("content"))
    for prop in component.get("properties") or []:
        if not isinstance(prop, dict):
            continue
        value = prop.get("value")
        found |= reference_digests(value)
        if "digest" in str(prop.get("name", "")).lower():
            found |= _digest_value(value)
    name = _str(component.get("name"))
    shown_version = "" if _digest_value(version) else _str(version)
    named = f"{name}:{shown_version}" if name and shown_version else name
    named = named or _str(component.get("purl"))
    return StatedSubject(
        digests=frozenset(found), named=_named([named]), where="metadata.component"
    )


# --- SPDX -----------------------------------------------------------------------


def spdx_described(doc: dict[str, Any]) -> set[str]:
    """SPDX ids of what the document describes."""
    described = {d for d in doc.get("documentDescribes") or [] if isinstance(d, str)}
    for rel in doc.get("relationships") or []:
        if not isinstance(rel, dict):
            continue
        kind = rel.get("relationshipType")
        if kind == "DESCRIBES" and rel.get("spdxElementId") == "SPDXRef-DOCUMENT":
            described.add(_str(rel.get("relatedSpdxElement")))
        elif (
            kind == "DESCRIBED_BY"
            and rel.get("relatedSpdxElement") == "SPDXRef-DOCUMENT"
        ):
            described.add(_str(rel.get("spdxElementId")))
    described.discard("")
    return described


def _spdx_purls(package: dict[str, Any]) -> list[str]:
    return [
        ref["referenceLocator"]
        for ref in package.get("externalRefs") or []
        if isinstance(ref, dict)
        and ref.get("referenceType") == "purl"
        and isinstance(ref.get("referenceLocator"), str)
    ]


def spdx_subject(doc: dict[str, Any]) -> StatedSubject:
    """The image digests of the packages the document describes."""
    described = spdx_described(doc)
    found: set[str] = set()
    names: list[str] = []
    where = ""
    for i, package in enumerate(doc.get("packages") or []):
        if not isinstance(package, dict) or package.get("SPDXID") not in described:
            continue
        names.append(str(package.get("name") or ""))
        where = where or f"$.packages[{i}] (the package the document describes)"
        purls = _spdx_purls(package)
        purpose = package.get("primaryPackagePurpose")
        if (purpose and purpose != "CONTAINER") or (
            purls and not any(_IMAGE_PURL.match(p) for p in purls)
        ):
            continue  # it says it is something other than an image
        for purl in purls:
            found |= reference_digests(purl)
        for checksum in package.get("checksums") or []:
            if isinstance(checksum, dict) and checksum.get("algorithm") == "SHA256":
                found |= _digest_value(checksum.get("checksumValue"))
        version = package.get("versionInfo")
        if isinstance(version, str) and _SHA256_VALUE.fullmatch(version.strip()):
            found |= _digest_value(version)
    return StatedSubject(digests=frozenset(found), named=_named(names), where=where)


# --- in-toto --------------------------------------------------------------------


def statement_subject(subjects: list[dict[str, Any]]) -> StatedSubject:
    """Every digest of an in-toto statement's subjects (already checked)."""
    found = {
        f"{algorithm.lower()}:{value.lower()}"
        for subject in subjects
        for algorithm, value in (subject.get("digest") or {}).items()
    }
    names = [str(s.get("name") or "") for s in subjects]
    shown = names[:3] + ([f"and {len(names) - 3} more"] if len(names) > 3 else [])
    return StatedSubject(
        digests=frozenset(found), named=_named(shown), where="the statement's subject"
    )


# --- STIG scans -----------------------------------------------------------------


def scan_target_subject(
    target: str, facts: Iterable[tuple[str, str]] = (), *, where: str
) -> StatedSubject:
    """The digests a scan's target (and XCCDF target facts) reference."""
    found = reference_digests(target)
    for name, value in facts:
        found |= reference_digests(value)
        if "digest" in name.lower():
            found |= _digest_value(value)
    return StatedSubject(
        digests=frozenset(found), named=_named([target.strip()]), where=where
    )
