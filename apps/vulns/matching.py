"""Is a component's version inside an advisory's affected ranges?

OSV ranges are lists of events (introduced, fixed, last_affected, limit)
evaluated in version order, as the OSV schema's evaluation section describes.
Versions are compared with each ecosystem's own rules through ``univers``:
Debian's epochs and tildes, Alpine's ``-rN`` revisions, PEP 440, semver
prereleases, Go pseudo-versions, Maven qualifiers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from univers import versions as uv

from .formats.osv import DISTRO_TYPES, purl_package

# Version rules for ECOSYSTEM ranges, by the ecosystem's name before any colon.
ECOSYSTEM_VERSIONS: dict[str, type[uv.Version]] = {
    "Debian": uv.DebianVersion,
    "Ubuntu": uv.DebianVersion,
    "Alpine": uv.AlpineLinuxVersion,
    "Wolfi": uv.AlpineLinuxVersion,
    "Chainguard": uv.AlpineLinuxVersion,
    "PyPI": uv.PypiVersion,
    "npm": uv.SemverVersion,
    "Go": uv.GolangVersion,
    "Maven": uv.MavenVersion,
    "crates.io": uv.SemverVersion,
    "Packagist": uv.ComposerVersion,
    "RubyGems": uv.RubygemsVersion,
    "NuGet": uv.NugetVersion,
    "Red Hat": uv.RpmVersion,
    "Rocky Linux": uv.RpmVersion,
    "AlmaLinux": uv.RpmVersion,
    # Docker Hardened Images' feed uses SEMVER ranges; its versions are
    # upstream release numbers, which semver orders.
    "DHI": uv.SemverVersion,
}

# Purl types some SBOM tools write for what the purl spec now names otherwise:
# Syft's ``pkg:alpine/...`` are apk packages.
PURL_TYPE_ALIASES = {"alpine": "apk", "go": "golang", "pip": "pypi"}


def version_scheme(range_type: str, ecosystem: str) -> type[uv.Version] | None:
    """The version class for a range; None when it cannot be evaluated (GIT)."""
    if range_type == "SEMVER":
        return uv.SemverVersion
    if range_type == "ECOSYSTEM":
        return ECOSYSTEM_VERSIONS.get(ecosystem.partition(":")[0])
    return None


def purl_type_normalize(type: str) -> str:
    """A component's purl type in the form AffectedPackage stores it."""
    purl_type = type.lower()
    return PURL_TYPE_ALIASES.get(purl_type, purl_type)


def component_ecosystem(*, type: str, distro: str) -> tuple[str, str]:
    """(purl_type, distro) of a component: the ecosystem matching looks in.

    A distro package is matched only against advisories of its own release
    (``distro_matches``), so its distro is part of its ecosystem; any other
    package is matched against every advisory of its purl type.
    """
    purl_type = purl_type_normalize(type)
    if purl_type in DISTRO_TYPES:
        return purl_type, distro.lower()
    return purl_type, ""


def component_package(
    *, type: str, namespace: str, name: str, source_name: str = ""
) -> tuple[str, str]:
    """(purl_type, package_name) of a component, as AffectedPackage stores them.

    Distro packages are matched by their source package (``source_package``
    says where SBOMs state it); other ecosystems by the full package name
    their advisories use.
    """
    purl_type = purl_type_normalize(type)
    if purl_type in DISTRO_TYPES:
        return purl_type, source_name or name
    return purl_type, purl_package(purl_type, namespace, name)


def component_match_version(*, type: str, version: str, source_version: str) -> str:
    """The version an advisory's ranges speak of.

    For distro packages that is the source package's version where the SBOM
    gives one that differs from the binary's (or the binary's with its
    epoch); for every other package its own version.
    """
    if source_version and purl_type_normalize(type) in DISTRO_TYPES:
        return source_version
    return version


def distro_matches(advisory_distro: str, component_distro: str) -> bool:
    """Does an advisory for one distro release apply to a component's distro?

    ``alpine-3.16`` covers ``alpine-3.16.2``; ``debian-11`` does not cover
    ``debian-12``. A distro-specific advisory does not apply to a component
    whose distro is unknown: which release's fix would we compare against?
    """
    if not advisory_distro:
        return True
    if not component_distro:
        return False
    component_distro = component_distro.lower()
    return component_distro == advisory_distro or component_distro.startswith(
        (advisory_distro + ".", advisory_distro + "-")
    )


@dataclass(frozen=True)
class Affected:
    """An AffectedPackage row as matching reads it."""

    id: int
    vulnerability_id: int
    ecosystem: str
    distro: str
    ranges: list[dict[str, Any]]
    versions: frozenset[str]
    # When the portal first saw a fixed version for this package (and in
    # which advisory revision): the upstream fix time of its findings.
    fix_seen_at: Any = None
    fix_seen_in: int | None = None


@dataclass(frozen=True)
class _Event:
    kind: str
    raw: str
    version: Any  # a univers Version; None for introduced "0"


class Matcher:
    """Evaluates versions against ranges, caching parsed versions and ranges.

    One matcher serves one matching run: thousands of components share the
    same few hundred version strings and advisories.
    """

    def __init__(self) -> None:
        self._versions: dict[tuple[type, str], Any] = {}
        self._ranges: dict[tuple[int, int], tuple[type, list[_Event]] | None] = {}
        self.unparsable: set[tuple[str, str]] = set()

    def parse(self, scheme: type[uv.Version], text: str) -> Any:
        key = (scheme, text)
        try:
            return self._versions[key]
        except KeyError:
            pass
        try:
            value = scheme(text)
        except Exception:  # univers raises many kinds of error for bad input
            value = None
        self._versions[key] = value
        return value

    def affects(self, affected: Affected, version: str) -> tuple[bool, str]:
        """(is the version affected?, the first fixed version after it or "")."""
        if not version:
            return False, ""
        hit = False
        fixed = ""
        for index in range(len(affected.ranges)):
            result = self._in_range(affected, index, version)
            if result is not None and result[0]:
                hit = True
                fixed = fixed or result[1]
        if not hit and version in affected.versions:
            hit = True
        return hit, fixed

    def _compiled(
        self, affected: Affected, index: int
    ) -> tuple[type, list[_Event]] | None:
        key = (affected.id, index)
        if key in self._ranges:
            return self._ranges[key]
        compiled = None
        item = affected.ranges[index]
        scheme = version_scheme(item.get("type", ""), affected.ecosystem)
        if scheme is not None:
            events: list[_Event] = []
            readable = True
            for event in item.get("events", []):
                ((kind, raw),) = event.items()
                if kind == "limit" and raw == "*":
                    continue  # no limit
                if kind == "introduced" and raw == "0":
                    events.append(_Event(kind, raw, None))
                    continue
                parsed = self.parse(scheme, raw)
                if parsed is None:
                    # One unreadable bound makes the whole range unreadable:
                    # the exact ``versions`` list still applies.
                    self.unparsable.add((affected.ecosystem, raw))
                    readable = False
                    break
                events.append(_Event(kind, raw, parsed))
            if readable and events:
                events.sort(key=functools.cmp_to_key(_event_order))
                compiled = (scheme, events)
        self._ranges[key] = compiled
        return compiled

    def _in_range(
        self, affected: Affected, index: int, version: str
    ) -> tuple[bool, str] | None:
        compiled = self._compiled(affected, index)
        if compiled is None:
            return None
        scheme, events = compiled
        value = self.parse(scheme, version)
        if value is None:
            self.unparsable.add((affected.ecosystem, version))
            return None
        # Only ``<`` is used: univers' Alpine (Gentoo) versions define <, > and
        # == by version rules but inherit <= and >= from a plain string
        # comparison, so "1.35.0-r9" >= "1.35.0-r15" would be true.
        included = False
        for event in events:
            if event.kind == "introduced":
                if event.version is None or not value < event.version:
                    included = True
            elif event.kind in ("fixed", "limit"):
                if not value < event.version:
                    included = False
            elif event.kind == "last_affected" and event.version < value:
                included = False
        if not included:
            return False, ""
        fixed = next(
            (e.raw for e in events if e.kind == "fixed" and value < e.version), ""
        )
        return True, fixed


_KIND_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}


def _event_order(a: _Event, b: _Event) -> int:
    # Version order, introduced "0" first; at equal versions an introduction
    # comes before the event that ends it.
    if a.version is None or b.version is None:
        return (a.version is not None) - (b.version is not None)
    if a.version < b.version:
        return -1
    if b.version < a.version:
        return 1
    return _KIND_ORDER[a.kind] - _KIND_ORDER[b.kind]
