"""Which source package a distribution binary was built from, as SBOMs say it.

Debian, Ubuntu, Alpine and RPM distributions file their advisories under the
*source* package: ``openssl`` for the binaries ``libssl3`` and ``openssl``,
``libzstd`` for ``libzstd1``. A binary is matched against advisories by its
source name and the source version, which may differ from the binary's (a
binNMU's ``+b1``, an epoch only the binary carries). Tools write the source in
different places; every reader here returns a ``SourceHint`` or None:

- Syft: the purl qualifier ``upstream`` (``openssl``, ``util-linux@2.34-0.1``,
  or for RPM the source RPM file name), and CycloneDX properties
  ``syft:metadata:source`` / ``sourceVersion`` / ``sourceRpm``.
- Trivy: CycloneDX properties ``aquasecurity:trivy:SrcName``, ``SrcVersion``,
  ``SrcRelease``, ``SrcEpoch``; SPDX ``sourceInfo`` "built package from: <name>
  <version>".
- CycloneDX ``pedigree.ancestors``: the component it was derived from.
- SPDX: a second package URL reference naming the source (``arch=source``).

A document that states the source of some distribution binaries states it for
all of them (the tools write it only where it differs); a document that states
none leaves the source unknown, and those binaries are matched by their own
name with their coverage recorded as partial.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

TRIVY = "aquasecurity:trivy:"
SYFT = "syft:metadata:"
# SBOM tools known to state every distribution binary's source where it
# differs from the binary's name, so that silence means "the same".
SOURCE_AWARE_TOOLS = ("syft", "trivy")
_BUILT_FROM = re.compile(r"^\s*built package from:\s*(\S+)(?:\s+(\S+))?\s*$", re.I)
_SOURCE_ARCHES = frozenset({"source", "src"})


@dataclass(frozen=True)
class SourceHint:
    name: str
    version: str = ""  # "" when the source version is the binary's


def version_join(epoch: str, version: str, release: str) -> str:
    """``[epoch:]version[-release]``, the way dpkg and rpm write a version."""
    text = version.strip()
    if not text:
        return ""
    if release.strip():
        text = f"{text}-{release.strip()}"
    epoch = epoch.strip()
    if epoch and epoch != "0" and ":" not in text:
        text = f"{epoch}:{text}"
    return text


def with_epoch(version: str, qualifiers: dict[str, str]) -> str:
    """A binary's version with the epoch Trivy writes as a purl qualifier."""
    return version_join(qualifiers.get("epoch", ""), version, "")


def from_upstream(purl_type: str, upstream: str) -> SourceHint | None:
    """Syft's ``upstream`` qualifier.

    deb and apk: ``openssl`` or ``openssl@1.1.1f-1ubuntu2``; rpm: the source
    RPM file, ``openssl-1.1.1k-7.el8_6.src.rpm`` (name-version-release).
    """
    value = upstream.strip()
    if not value:
        return None
    if purl_type == "rpm" and value.endswith(".src.rpm"):
        return from_source_rpm(value)
    name, _, version = value.partition("@")
    name = name.split(" ", 1)[0].strip()
    return SourceHint(name, version.strip()) if name else None


def from_source_rpm(filename: str) -> SourceHint | None:
    parts = filename.strip().removesuffix(".src.rpm").rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return SourceHint(parts[0], f"{parts[1]}-{parts[2]}")


def from_cyclonedx(item: dict[str, Any]) -> SourceHint | None:
    """Trivy's or Syft's properties, else the first pedigree ancestor."""
    props: dict[str, str] = {}
    for prop in item.get("properties") or ():
        if isinstance(prop, dict) and isinstance(prop.get("name"), str):
            value = prop.get("value")
            if isinstance(value, str):
                props.setdefault(prop["name"], value)
    name = props.get(TRIVY + "SrcName", "").strip()
    if name:
        return SourceHint(
            name,
            version_join(
                props.get(TRIVY + "SrcEpoch", ""),
                props.get(TRIVY + "SrcVersion", ""),
                props.get(TRIVY + "SrcRelease", ""),
            ),
        )
    rpm = props.get(SYFT + "sourceRpm", "").strip()
    if rpm:
        return from_source_rpm(rpm)
    name = props.get(SYFT + "source", "").strip()
    if name:
        return SourceHint(name, props.get(SYFT + "sourceVersion", "").strip())
    pedigree = item.get("pedigree")
    if isinstance(pedigree, dict):
        for ancestor in pedigree.get("ancestors") or ():
            hint = _ancestor(ancestor)
            if hint is not None:
                return hint
    return None


def _ancestor(ancestor: Any) -> SourceHint | None:
    if not isinstance(ancestor, dict):
        return None
    purl = ancestor.get("purl")
    if isinstance(purl, str) and purl:
        try:
            parsed = PackageURL.from_string(purl)
        except ValueError:
            return None
        return SourceHint(parsed.name, parsed.version or "")
    name = ancestor.get("name")
    if isinstance(name, str) and name.strip():
        version = ancestor.get("version")
        return SourceHint(name.strip(), version if isinstance(version, str) else "")
    return None


def from_spdx(package: dict[str, Any], purls: Iterable[str]) -> SourceHint | None:
    """Trivy's ``sourceInfo``, or a package URL reference to the source."""
    for purl in purls:
        try:
            parsed = PackageURL.from_string(purl)
        except ValueError:
            continue
        qualifiers: dict[str, str] = parsed.qualifiers or {}  # type: ignore[assignment]
        if qualifiers.get("arch", "") in _SOURCE_ARCHES:
            return SourceHint(parsed.name, parsed.version or "")
    info = package.get("sourceInfo")
    if isinstance(info, str):
        found = _BUILT_FROM.match(info)
        if found:
            return SourceHint(found.group(1), found.group(2) or "")
    return None


def tools_state_sources(tools: Iterable[str]) -> bool:
    """Is the document made by a tool that writes every differing source?"""
    return any(word in tool.lower() for tool in tools for word in SOURCE_AWARE_TOOLS)
