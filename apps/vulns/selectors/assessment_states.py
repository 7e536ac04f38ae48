"""What may be said about a build's vulnerabilities: the states of an
assessment and the sentences pages, API and reports show for them.

"No known vulnerabilities" is said of a build only when it is *assessed*: it
has an SBOM, and every ecosystem its components come from is covered by an
advisory source that was imported (an AdvisoryImport row). Otherwise the build
is *not assessed* (no SBOM, or an SBOM without package URLs) or *partially
assessed* (some ecosystem has no source), and pages, API and reports say so
instead of a count of zero. The reads that build these are in ``assessment``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..formats.osv import DISTRO_TYPES, ECOSYSTEM_PURL_TYPES
from ..matching import distro_matches

NOT_ASSESSED = "not_assessed"
PENDING = "pending"
PARTIAL = "partial"
ASSESSED = "assessed"
STATE_LABELS = {
    NOT_ASSESSED: "Not assessed",
    PENDING: "Assessment pending",
    PARTIAL: "Partially assessed",
    ASSESSED: "Assessed",
}
# Badge tones of the pages' stylesheet.
STATE_TONES = {NOT_ASSESSED: "warn", PENDING: "warn", PARTIAL: "warn", ASSESSED: "ok"}
# OSV's name for a purl type whose advisories are not per distribution.
_OSV_NAMES = {
    purl_type: name
    for name, purl_type in ECOSYSTEM_PURL_TYPES.items()
    if purl_type not in DISTRO_TYPES
}


def when(value: datetime) -> str:
    """``2026-03-02 09:00 UTC``: how an import time is written in texts."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class AdvisorySource:
    """The last import of one OSV ecosystem's advisories (as of a time)."""

    ecosystem: str  # as the records name it: "Ubuntu:22.04:LTS", "PyPI"
    purl_type: str
    distro: str
    source: str  # what was imported, when known
    imported_at: datetime
    records: int  # records of the ecosystem held after that import
    records_imported: int

    @property
    def name(self) -> str:
        return f"OSV {self.ecosystem}"

    @property
    def text(self) -> str:
        return f"{self.name} as of {when(self.imported_at)}"

    def covers(self, purl_type: str, distro: str) -> bool:
        return self.purl_type == purl_type and distro_matches(self.distro, distro)


@dataclass(frozen=True)
class Ecosystem:
    """The components of a build from one ecosystem, and who covers it."""

    purl_type: str
    distro: str
    components: int
    sources: tuple[AdvisorySource, ...]
    # Distro binaries whose SBOM did not state their source package: matched
    # by their own name, which misses advisories filed under the source.
    source_unknown: int = 0

    @property
    def key(self) -> str:
        return f"{self.purl_type}/{self.distro}" if self.distro else self.purl_type

    @property
    def label(self) -> str:
        """``PyPI``, ``alpine-3.19.1 (apk)``, ``deb (release not named)``."""
        if self.purl_type in DISTRO_TYPES:
            if self.distro:
                return f"{self.distro} ({self.purl_type})"
            return f"{self.purl_type} (release not named)"
        return _OSV_NAMES.get(self.purl_type, self.purl_type)

    @property
    def covered(self) -> bool:
        return bool(self.sources)


def _sources_text(sources: Iterable[AdvisorySource]) -> str:
    return ", ".join(s.text for s in sources)


def _missing_text(ecosystems: Iterable[Ecosystem]) -> str:
    return ", ".join(e.label for e in ecosystems)


def _source_unknown_text(n: int) -> str:
    return (
        f"{_plural(n, 'distribution package')} matched by binary name only "
        "(the SBOM does not state the source package advisories are filed under)"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _open(n: int) -> str:
    return f"{n} open vulnerabilit{'y' if n == 1 else 'ies'}"


@dataclass(frozen=True)
class Assessment:
    """What may be said of one build's vulnerabilities."""

    digest_id: int
    has_sbom: bool
    ecosystems: tuple[Ecosystem, ...]
    open_vulnerabilities: int  # distinct advisories with an open finding
    # When matching last ran over the build, and the newest evidence it must
    # have seen (its SBOM, a covering source's import): matched before that,
    # the findings are not yet known.
    matched_at: datetime | None = None
    evidence_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.evidence_at is not None and (
            self.matched_at is None or self.matched_at < self.evidence_at
        )

    @property
    def state(self) -> str:
        if not any(e.covered for e in self.ecosystems):
            # No SBOM, or no source covers any of its ecosystems: nothing
            # was checked at all.
            return NOT_ASSESSED
        if self.pending:
            return PENDING
        if all(e.covered and not e.source_unknown for e in self.ecosystems):
            return ASSESSED
        return PARTIAL

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def tone(self) -> str:
        if self.state == ASSESSED and self.open_vulnerabilities:
            return "danger"
        return STATE_TONES[self.state]

    @property
    def assessed(self) -> bool:
        return self.state == ASSESSED

    @property
    def missing(self) -> tuple[Ecosystem, ...]:
        return tuple(e for e in self.ecosystems if not e.covered)

    @property
    def source_unknown(self) -> int:
        """Covered distro binaries matched by name only (source not stated)."""
        return sum(e.source_unknown for e in self.ecosystems if e.covered)

    @property
    def sources(self) -> tuple[AdvisorySource, ...]:
        """Every source used, once, by ecosystem name."""
        found = {s.ecosystem: s for e in self.ecosystems for s in e.sources}
        return tuple(found[name] for name in sorted(found))

    @property
    def reason(self) -> str:
        """Why the state is what it is: what is missing, or the sources."""
        state = self.state
        if state == NOT_ASSESSED:
            if self.ecosystems:
                return "no advisory source for " + _missing_text(self.missing)
            if self.has_sbom:
                return "the SBOM lists no package with a package URL"
            return "no SBOM"
        if state == PENDING:
            if self.matched_at is None:
                return "its components have not been matched against advisories yet"
            return (
                "evidence arrived after the last match "
                f"({when(self.matched_at)}); matching has not run since"
            )
        if state == PARTIAL:
            gaps = []
            if self.missing:
                gaps.append("no advisory source for " + _missing_text(self.missing))
            if self.source_unknown:
                gaps.append(_source_unknown_text(self.source_unknown))
            return "; ".join(gaps)
        return "against " + _sources_text(self.sources)

    @property
    def text(self) -> str:
        """The sentence pages, API and reports show."""
        if self.state == ASSESSED:
            return f"{self.label} {self.reason}"
        return f"{self.label}: {self.reason}"

    @property
    def stated_open(self) -> int | None:
        """The open count, where one may be stated: None for a zero that
        would read as "none" though the build was not (fully) assessed."""
        if self.assessed or self.open_vulnerabilities:
            return self.open_vulnerabilities
        return None

    @property
    def summary(self) -> str:
        """A count where one may be given, else the state: for lists."""
        if self.state == NOT_ASSESSED:
            return self.label
        if self.open_vulnerabilities:
            found = _open(self.open_vulnerabilities)
            return found if self.assessed else f"{found}; {self.label.lower()}"
        if self.assessed:
            return "No known vulnerabilities"
        return self.label


@dataclass(frozen=True)
class BuildsAssessment:
    """The latest build of each variant of a repository, taken together."""

    assessments: tuple[Assessment, ...]

    @property
    def builds(self) -> int:
        return len(self.assessments)

    @property
    def not_assessed(self) -> int:
        return sum(1 for a in self.assessments if a.state == NOT_ASSESSED)

    @property
    def state(self) -> str:
        states = {a.state for a in self.assessments}
        if not states or states == {NOT_ASSESSED}:
            return NOT_ASSESSED
        if states == {ASSESSED}:
            return ASSESSED
        return PARTIAL

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def open_vulnerabilities(self) -> int:
        return sum(a.open_vulnerabilities for a in self.assessments)

    @property
    def tone(self) -> str:
        if self.state == ASSESSED and self.open_vulnerabilities:
            return "danger"
        return STATE_TONES[self.state]

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(sorted({e.label for a in self.assessments for e in a.missing}))

    @property
    def sources(self) -> tuple[AdvisorySource, ...]:
        found = {s.ecosystem: s for a in self.assessments for s in a.sources}
        return tuple(found[name] for name in sorted(found))

    @property
    def reason(self) -> str:
        state = self.state
        if not self.assessments:
            return "no builds"
        if state == NOT_ASSESSED:
            if self.missing:
                return "no advisory source for " + ", ".join(self.missing)
            if any(a.has_sbom for a in self.assessments):
                return "the latest builds' SBOMs list no package with a package URL"
            return "no SBOM for the latest builds"
        if state == ASSESSED:
            return "against " + _sources_text(self.sources)
        gaps = []
        if self.not_assessed:
            gaps.append(
                f"{self.not_assessed} of {_plural(self.builds, 'latest build')} "
                "not assessed"
            )
        pending = sum(1 for a in self.assessments if a.state == PENDING)
        if pending:
            gaps.append(
                f"{pending} of {_plural(self.builds, 'latest build')} awaiting matching"
            )
        if self.missing:
            gaps.append("no advisory source for " + ", ".join(self.missing))
        unknown = sum(a.source_unknown for a in self.assessments)
        if unknown:
            gaps.append(_source_unknown_text(unknown))
        return "; ".join(gaps)

    @property
    def text(self) -> str:
        if self.state == ASSESSED:
            return f"Latest builds assessed {self.reason}"
        return f"{self.label}: {self.reason}"

    @property
    def stated_open(self) -> int | None:
        if self.state == ASSESSED or self.open_vulnerabilities:
            return self.open_vulnerabilities
        return None

    @property
    def summary(self) -> str:
        if self.state == NOT_ASSESSED:
            return self.label
        if self.open_vulnerabilities:
            found = f"{_open(self.open_vulnerabilities)} in the latest builds"
            return found if self.state == ASSESSED else f"{found}; partially assessed"
        if self.state == ASSESSED:
            return "No known vulnerabilities in the latest builds"
        return self.label
