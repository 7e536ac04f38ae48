"""What an SBOM says once read, whichever its format: ``ParsedSbom`` and its
``SbomComponent`` rows, and the package URL rules that name a component.

Pure functions: nothing here touches the database; ``apps.vulns.services.sbom``
stores what the readers (``cyclonedx``, ``spdx``) return.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from packageurl import PackageURL

from apps.catalog.formats.document import refuse
from apps.catalog.formats.subject import NOT_STATED, StatedSubject

from .osv import purl_package
from .sbom_schema import SbomWarning
from .source_package import SourceHint, from_upstream, tools_state_sources, with_epoch

CYCLONEDX = "cyclonedx"

SPDX = "spdx"

MEDIA_TYPES = {
    CYCLONEDX: "application/vnd.cyclonedx+json",
    SPDX: "application/spdx+json",
}

FORMAT_LABELS = {CYCLONEDX: "CycloneDX", SPDX: "SPDX"}


# Syft before 0.60 wrote Alpine packages as pkg:alpine/<name>; the purl spec's type
# is apk with the distro as namespace, which is what advisories are matched on.
LEGACY_PURL_TYPES = {"alpine": ("apk", "alpine")}

# Distro binaries whose vulnerabilities are filed under the source package.
SOURCE_PACKAGE_TYPES = frozenset({"deb", "apk", "rpm"})

# Column widths of apps.vulns.models.Component.
FIELD_LIMITS = {
    "type": 32,
    "namespace": 255,
    "name": 255,
    "version": 255,
    "source_name": 255,
    "source_version": 255,
    "distro": 64,
}

NO_LICENSE = frozenset({"", "NOASSERTION", "NONE"})


@dataclass(frozen=True)
class SbomComponent:
    """One package of an SBOM, named by its normalized package URL."""

    purl: str
    purl_sha256: str
    type: str
    namespace: str
    name: str
    version: str
    source_name: str
    distro: str
    licenses: tuple[str, ...] = ()
    # The version advisories' ranges are compared with, where it is not
    # ``version``: the source package's, or the binary's with its epoch.
    source_version: str = ""
    # False for a distro binary whose document said nothing of its source.
    source_known: bool = True
    # True when the document itself named the source (not inferred): such a
    # statement completes or corrects what an earlier SBOM left to inference.
    source_stated: bool = False
    # The hash this package URL had when qualifiers that do not identify the
    # package were kept in it ("" when it has none).
    former_sha256: str = ""


@dataclass(frozen=True)
class ParsedSbom:
    """What an SBOM says, once it has passed its schema."""

    format: str
    spec_version: str
    media_type: str
    components: tuple[SbomComponent, ...]
    entries: int
    without_purl: int
    summary: dict[str, Any] = field(default_factory=dict)
    # The image the document says it is about (metadata.component, or the
    # package an SPDX document describes).
    subject: StatedSubject = NOT_STATED
    # Deviations from the schema in fields the portal does not read, grouped.
    warnings: tuple[SbomWarning, ...] = ()


def components_read(
    reader: Callable[[dict[str, Any]], ParsedSbom],
    doc: dict[str, Any],
    purls: Callable[[dict[str, Any]], Iterator[str]],
    noun: str,
) -> ParsedSbom:
    """Read the components; a refused purl says how many more are refused."""
    try:
        return reader(doc)
    except ValidationError as exc:
        error = exc.error_dict["document"][0]
        if error.code != "invalid_purl":
            raise
        sharing = sum(1 for purl in purls(doc) if not _purl_reads(purl))
        if sharing < 2:
            raise
        raise refuse(
            f"{error.message.rstrip('.')} ({sharing} {noun} share this problem).",
            "invalid_purl",
        ) from None


def _purl_reads(purl: str) -> bool:
    try:
        component_from_purl(purl)
    except ValidationError:
        return False
    return True


def component_from_purl(
    purl: str,
    *,
    licenses: Iterable[str] = (),
    where: str = "purl",
    source: SourceHint | None = None,
) -> SbomComponent:
    """Normalize a package URL into the component it names.

    ``where`` is the document path reported when the purl is refused;
    ``source`` is what the document says of a distro binary's source package
    outside the purl (properties, pedigree, sourceInfo), which wins over the
    purl's ``upstream`` qualifier.
    """
    component = _component(purl.strip(), source)
    if isinstance(component, str):
        raise refuse(f"{where}: {component}", "invalid_purl")
    kept = tuple(dict.fromkeys(lic for lic in licenses if lic not in NO_LICENSE))
    return replace(component, licenses=kept) if kept else component


# Qualifiers that say nothing of which package it is: Syft's source package
# (kept as the component's source) and bom-ref style ids.
NON_IDENTIFYING = frozenset({"upstream", "package-id"})


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# A catalog's SBOMs name the same package versions again and again; parsing a
# package URL costs ~100 us, most of an SBOM's reading time.
PURL_CACHE_SIZE = 65_536


@lru_cache(maxsize=PURL_CACHE_SIZE)
def _component(purl: str, source: SourceHint | None) -> SbomComponent | str:
    """The component a purl names, or why it is refused (cached either way)."""
    try:
        parsed = PackageURL.from_string(purl)
    except ValueError as exc:
        return f"not a package URL ({str(exc).rstrip('.')})."
    qualifiers: dict[str, str] = parsed.qualifiers or {}  # type: ignore[assignment]
    legacy = LEGACY_PURL_TYPES.get(parsed.type)
    if legacy and not parsed.namespace:
        parsed = PackageURL(
            type=legacy[0],
            namespace=legacy[1],
            name=parsed.name,
            version=parsed.version,
            qualifiers=qualifiers,
            subpath=parsed.subpath,
        )
    # The package's identity: Syft's ``upstream`` qualifier says where it came
    # from (read below), not which package it is, and Trivy's purl for the
    # same package lacks it; two SBOMs of one build must name one component.
    kept = {k: v for k, v in qualifiers.items() if k not in NON_IDENTIFYING}
    canonical = PackageURL(
        type=parsed.type,
        namespace=parsed.namespace,
        name=parsed.name,
        version=parsed.version,
        qualifiers=kept,
        subpath=parsed.subpath,
    ).to_string()
    # Rows stored before the qualifier was dropped are found by their old name.
    former = parsed.to_string() if len(kept) < len(qualifiers) else ""
    name = parsed.name
    version = parsed.version or ""
    match_version = version
    source_known = True
    distro = qualifiers.get("distro", "")
    if parsed.type in SOURCE_PACKAGE_TYPES:
        source = source or from_upstream(parsed.type, qualifiers.get("upstream", ""))
        source_known = source is not None
        source_name = source.name if source else name
        match_version = (source and source.version) or with_epoch(version, qualifiers)
        if parsed.type == "apk" and distro[:1].isdigit():
            # Trivy names an Alpine release by its number alone.
            distro = f"{parsed.namespace or 'alpine'}-{distro}"
    else:
        # Advisories name Go modules, npm scopes and Maven artifacts in full.
        source_name = purl_package(parsed.type, parsed.namespace or "", name)
    component = SbomComponent(
        purl=canonical,
        purl_sha256=_sha256(canonical),
        type=parsed.type,
        namespace=parsed.namespace or "",
        name=name,
        version=version,
        source_name=source_name,
        distro=distro,
        source_version="" if match_version == version else match_version,
        source_known=source_known,
        source_stated=source is not None,
        former_sha256=_sha256(former) if former else "",
    )
    for attr, limit in FIELD_LIMITS.items():
        if len(getattr(component, attr)) > limit:
            return f"the {attr.replace('_', ' ')} is longer than {limit} characters."
    return component


_DISTRO_PURL_PREFIXES = tuple(
    f"pkg:{t}/" for t in (*SOURCE_PACKAGE_TYPES, *LEGACY_PURL_TYPES)
)


def distro_purl(purl: str) -> bool:
    return purl.lstrip().lower().startswith(_DISTRO_PURL_PREFIXES)


def _sources_known(
    components: dict[str, SbomComponent], tools: list[str]
) -> dict[str, SbomComponent]:
    """Mark every distro binary's source known when the document states any.

    Tools write a binary's source only where it differs from the binary's
    name, so in a document that states some (or comes from a tool known to),
    a binary without one is its own source. A document stating none leaves
    its distro binaries matched by name only: partial coverage.
    """
    unknown = [c for c in components.values() if not c.source_known]
    if not unknown:
        return components
    stated = len(unknown) < sum(
        1 for c in components.values() if c.type in SOURCE_PACKAGE_TYPES
    )
    if stated or tools_state_sources(tools):
        for component in unknown:
            components[component.purl] = replace(component, source_known=True)
    return components


def parsed_sbom(
    fmt: str,
    version: str,
    components: dict[str, SbomComponent],
    entries: int,
    without_purl: int,
    summary: dict[str, Any],
    subject: StatedSubject,
) -> ParsedSbom:
    components = _sources_known(components, summary.get("tools") or [])
    summary |= {
        "components": entries,
        "components_with_purl": entries - without_purl,
        "components_without_purl": without_purl,
        "unique_purls": len(components),
        "source_unknown": sum(1 for c in components.values() if not c.source_known),
    }
    return ParsedSbom(
        format=fmt,
        spec_version=version,
        media_type=MEDIA_TYPES[fmt],
        components=tuple(components.values()),
        entries=entries,
        without_purl=without_purl,
        summary=summary,
        subject=subject,
    )
