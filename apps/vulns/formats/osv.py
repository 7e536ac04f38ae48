"""Reading OSV records (schema 1.x): checks, ecosystems, severity, files.

Nothing here touches the database: ``osv_parse`` turns one record into plain
data that ``apps.vulns.services.osv_import`` writes, and ``osv_documents``
reads records from a directory or a zip file with size limits.

Package names are stored in the form components are matched on (see
``package_name_normalize``), so matching compares strings and never has to know
an advisory database's naming habits.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from apps.core.boundedjson import JsonRefusedError, bounded_loads

from ..severity import (
    CvssError,
    cvss_v3_score,
    cvss_v4_score,
    most_severe,
    severity_decide,
    vendor_severity,
)

RANGE_TYPES = ("SEMVER", "ECOSYSTEM", "GIT")
EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
# Purl types whose packages come from a distribution: the advisory names the
# source package and holds for one release of the distribution only.
DISTRO_TYPES = frozenset({"deb", "apk", "rpm"})
# An archive may hold many records, each under the per-document limit; this
# caps what the whole archive may unpack to, so a zip bomb of many small
# members is refused before any member is read.
ARCHIVE_LIMIT_FACTOR = 100

ID_MAX = 100
NAME_MAX = 255
DISTRO_MAX = 64


class OsvError(ValueError):
    """A record that cannot be imported; the message names the file and path."""


@dataclass
class ParsedAffected:
    ecosystem: str
    purl_type: str
    package_name: str
    distro: str
    ranges: list[dict[str, Any]]
    versions: list[str]

    @property
    def has_fix(self) -> bool:
        """Does the record name a fixed version of the package?"""
        return any("fixed" in event for item in self.ranges for event in item["events"])


@dataclass
class ParsedVulnerability:
    vuln_id: str
    source_sha256: str
    aliases: list[str] = field(default_factory=list)
    summary: str = ""
    details: str = ""
    disclosed_at: datetime | None = None
    modified_at: datetime | None = None
    withdrawn_at: datetime | None = None
    references: list[dict[str, str]] = field(default_factory=list)
    cvss_v3_vector: str = ""
    cvss_v3_score: Decimal | None = None
    cvss_v4_vector: str = ""
    cvss_v4_score: Decimal | None = None
    vendor_severity: str = ""
    severity: str = ""
    affected: list[ParsedAffected] = field(default_factory=list)
    # The record as delivered, kept whole by its revision.
    record: dict[str, Any] = field(default_factory=dict, repr=False)

    def vulnerability_fields(self) -> dict[str, Any]:
        """The Vulnerability columns this record sets (KEV columns excluded)."""
        return {
            "aliases": self.aliases,
            "summary": self.summary,
            "details": self.details,
            "disclosed_at": self.disclosed_at,
            "modified_at": self.modified_at,
            "withdrawn_at": self.withdrawn_at,
            "references": self.references,
            "cvss_v3_vector": self.cvss_v3_vector,
            "cvss_v3_score": self.cvss_v3_score,
            "cvss_v4_vector": self.cvss_v4_vector,
            "cvss_v4_score": self.cvss_v4_score,
            "vendor_severity": self.vendor_severity,
            "severity": self.severity,
            "source_sha256": self.source_sha256,
        }


# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------


def pep503(name: str) -> str:
    """PyPI's normalized project name: ``Jinja2`` and ``jinja2`` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def package_name_normalize(purl_type: str, name: str) -> str:
    """The one spelling of a package name both advisories and components use.

    Maven is ``group:artifact`` (OSV's form; a purl's namespace/name joined by
    a colon), npm/Go/Composer keep their ``scope/name`` or module path, PyPI
    follows PEP 503, Composer and NuGet are case-insensitive.
    """
    name = name.strip()
    if purl_type == "pypi":
        return pep503(name)
    if purl_type in ("composer", "nuget"):
        return name.lower()
    return name


# Some feeds' copies carry a zero time (0001-01-01) for a date they do not
# give: no advisory was published before 1990.
EARLIEST_REAL_TIME = datetime(1990, 1, 1, tzinfo=UTC)


def _real_time(value: datetime | None) -> datetime | None:
    return value if value is None or value >= EARLIEST_REAL_TIME else None


def purl_package(purl_type: str, namespace: str, name: str) -> str:
    """A purl's namespace and name joined the way the ecosystem spells it."""
    if not namespace:
        return package_name_normalize(purl_type, name)
    joiner = ":" if purl_type == "maven" else "/"
    return package_name_normalize(purl_type, f"{namespace}{joiner}{name}")


# OSV ecosystem (the part before the first colon) -> purl type.
ECOSYSTEM_PURL_TYPES = {
    "Debian": "deb",
    "Ubuntu": "deb",
    "Alpine": "apk",
    "Wolfi": "apk",
    "Chainguard": "apk",
    "PyPI": "pypi",
    "npm": "npm",
    "Go": "golang",
    "Maven": "maven",
    "crates.io": "cargo",
    "Packagist": "composer",
    "RubyGems": "gem",
    "NuGet": "nuget",
    "Hex": "hex",
    "Pub": "pub",
    "Red Hat": "rpm",
    "Rocky Linux": "rpm",
    "AlmaLinux": "rpm",
}


def ecosystem_distro(ecosystem: str) -> str:
    """The distribution release an ecosystem string pins, in components' form.

    ``Debian:11`` -> ``debian-11``; ``Ubuntu:20.04:LTS`` and
    ``Ubuntu:Pro:18.04:LTS`` -> ``ubuntu-20.04`` / ``ubuntu-18.04``;
    ``Alpine:v3.16`` -> ``alpine-3.16``; ``Wolfi`` -> ``wolfi``. "" when the
    ecosystem is not a distribution.
    """
    base, _, rest = ecosystem.partition(":")
    if base == "Debian":
        release = rest.split(":")[0].strip().lower()
        return f"debian-{release}" if release else "debian"
    if base == "Ubuntu":
        match = re.search(r"(\d+\.\d+)", rest)
        return f"ubuntu-{match.group(1)}" if match else "ubuntu"
    if base == "Alpine":
        match = re.search(r"v?(\d+\.\d+)", rest)
        return f"alpine-{match.group(1)}" if match else "alpine"
    if base in ("Wolfi", "Chainguard"):
        return base.lower()
    return ""


def ecosystem_package(
    ecosystem: str, name: str, purl: str = ""
) -> tuple[str, str, str]:
    """(purl_type, package_name, distro) for an OSV ``affected[].package``.

    Docker Hardened Images' own feed ("DHI") and ecosystems we do not know are
    named by the purl the record gives; without one, the ecosystem's lowercased
    name stands in so the row is kept, though no component will match it.
    """
    base = ecosystem.partition(":")[0]
    purl_type = ECOSYSTEM_PURL_TYPES.get(base, "")
    if purl_type:
        return (
            purl_type,
            package_name_normalize(purl_type, name),
            ecosystem_distro(ecosystem),
        )
    if purl:
        try:
            parsed = PackageURL.from_string(purl)
        except ValueError:
            parsed = None
        if parsed is not None:
            return (
                parsed.type,
                purl_package(parsed.type, parsed.namespace or "", parsed.name),
                "",
            )
    return base.lower()[:32], name, ""


# --------------------------------------------------------------------------
# Record checks
# --------------------------------------------------------------------------


def record_sha256(record: dict[str, Any]) -> str:
    """A hash of the record's content, independent of whitespace and key order."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class _Checker:
    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, message: str) -> OsvError:
        return OsvError(f"{self.source}: {path}: {message}")

    def string(
        self, data: dict, key: str, path: str, *, required=False, max_len=None
    ) -> str:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(path + key, "is required")
            return ""
        if not isinstance(value, str):
            raise self.fail(path + key, f"must be a string, not {_kind(value)}")
        if required and not value.strip():
            raise self.fail(path + key, "must not be empty")
        if max_len is not None and len(value) > max_len:
            raise self.fail(path + key, f"is longer than {max_len} characters")
        return value

    def time(self, data: dict, key: str, path: str, *, required=False):
        value = self.string(data, key, path, required=required)
        if not value:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.fail(
                path + key, f"{value[:40]!r} is not an RFC 3339 timestamp"
            ) from None
        # OSV timestamps are UTC; a bare date or naive time is read as UTC.
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def array(self, data: dict, key: str, path: str, *, required=False) -> list:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(path + key, "is required")
            return []
        if not isinstance(value, list):
            raise self.fail(path + key, f"must be an array, not {_kind(value)}")
        return value

    def obj(self, data: dict, key: str, path: str, *, required=False) -> dict:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(path + key, "is required")
            return {}
        if not isinstance(value, dict):
            raise self.fail(path + key, f"must be an object, not {_kind(value)}")
        return value

    def strings(self, data: dict, key: str, path: str) -> list[str]:
        values = self.array(data, key, path)
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise self.fail(
                    f"{path}{key}[{index}]", f"must be a string, not {_kind(value)}"
                )
        return values


def _kind(value: object) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), "null")


def osv_parse(
    record: object, *, source: str = "record", sha256: str = ""
) -> ParsedVulnerability:
    """Check one OSV record and read it; ``OsvError`` names what is wrong where."""
    check = _Checker(source)
    if not isinstance(record, dict):
        raise check.fail("$", f"an OSV record is a JSON object, not {_kind(record)}")
    schema_version = check.string(record, "schema_version", "")
    if schema_version and schema_version.split(".")[0] != "1":
        raise check.fail(
            "schema_version", f"{schema_version!r} is not an OSV 1.x schema version"
        )
    parsed = ParsedVulnerability(
        vuln_id=check.string(record, "id", "", required=True, max_len=ID_MAX).strip(),
        source_sha256=sha256 or record_sha256(record),
        aliases=check.strings(record, "aliases", ""),
        summary=check.string(record, "summary", ""),
        details=check.string(record, "details", ""),
        modified_at=check.time(record, "modified", "", required=True),
        disclosed_at=_real_time(check.time(record, "published", "")),
        withdrawn_at=check.time(record, "withdrawn", ""),
        record=record,
    )
    parsed.references = _references(check, record)
    vectors = _vectors(check, record.get("severity"), "severity")

    vendor: list[str] = [
        vendor_severity(check.obj(record, "database_specific", "").get("severity"))
    ]
    package_vectors: list[tuple[str, str]] = []
    for index, entry in enumerate(check.array(record, "affected", "")):
        path = f"affected[{index}]."
        if not isinstance(entry, dict):
            raise check.fail(path[:-1], f"must be an object, not {_kind(entry)}")
        specific = check.obj(entry, "ecosystem_specific", path)
        vendor.append(vendor_severity(specific.get("severity")))
        vendor.append(vendor_severity(specific.get("ubuntu_priority")))
        package_vectors += _vectors(check, entry.get("severity"), path + "severity")
        affected = _affected(check, entry, path)
        if affected is not None:
            parsed.affected.append(affected)

    # Per-package vectors (OSV 1.6) count only when the record has none.
    _score(check, parsed, vectors or package_vectors)
    parsed.vendor_severity = most_severe(vendor)
    parsed.severity = severity_decide(
        vendor=parsed.vendor_severity,
        cvss_v4_score=parsed.cvss_v4_score,
        cvss_v3_score=parsed.cvss_v3_score,
    )
    return parsed


def _references(check: _Checker, record: dict) -> list[dict[str, str]]:
    references = []
    for index, ref in enumerate(check.array(record, "references", "")):
        path = f"references[{index}]."
        if not isinstance(ref, dict):
            raise check.fail(path[:-1], f"must be an object, not {_kind(ref)}")
        references.append(
            {
                "type": check.string(ref, "type", path),
                "url": check.string(ref, "url", path, required=True),
            }
        )
    return references


def _vectors(check: _Checker, value: object, path: str) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise check.fail(path, f"must be an array, not {_kind(value)}")
    vectors = []
    for index, entry in enumerate(value):
        entry_path = f"{path}[{index}]."
        if not isinstance(entry, dict):
            raise check.fail(entry_path[:-1], f"must be an object, not {_kind(entry)}")
        kind = check.string(entry, "type", entry_path, required=True)
        score = check.string(entry, "score", entry_path, required=True)
        if kind in ("CVSS_V3", "CVSS_V4"):
            vectors.append((kind, score.strip()))
    return vectors


def _score(
    check: _Checker, parsed: ParsedVulnerability, vectors: list[tuple[str, str]]
) -> None:
    # The first vector of each kind counts, v3.1 before v3.0.
    v3 = sorted(
        (vector for kind, vector in vectors if kind == "CVSS_V3"),
        key=lambda vector: not vector.startswith("CVSS:3.1/"),
    )
    v4 = [vector for kind, vector in vectors if kind == "CVSS_V4"]
    try:
        if v3:
            parsed.cvss_v3_vector = v3[0]
            parsed.cvss_v3_score = cvss_v3_score(v3[0])
        if v4:
            parsed.cvss_v4_vector = v4[0]
            parsed.cvss_v4_score = cvss_v4_score(v4[0])
    except CvssError as exc:
        raise check.fail("severity", str(exc)) from None


def _affected(check: _Checker, entry: dict, path: str) -> ParsedAffected | None:
    ranges = []
    for index, item in enumerate(check.array(entry, "ranges", path)):
        range_path = f"{path}ranges[{index}]."
        if not isinstance(item, dict):
            raise check.fail(range_path[:-1], f"must be an object, not {_kind(item)}")
        kind = check.string(item, "type", range_path, required=True)
        if kind not in RANGE_TYPES:
            raise check.fail(
                range_path + "type",
                f"{kind!r} is not one of {', '.join(RANGE_TYPES)}",
            )
        events = check.array(item, "events", range_path, required=True)
        if not events:
            raise check.fail(range_path + "events", "must not be empty")
        clean_events = []
        for event_index, event in enumerate(events):
            event_path = f"{range_path}events[{event_index}]"
            if not isinstance(event, dict) or len(event) != 1:
                raise check.fail(
                    event_path,
                    "must be an object with exactly one of " + ", ".join(EVENT_KINDS),
                )
            ((event_kind, version),) = event.items()
            if event_kind not in EVENT_KINDS:
                raise check.fail(
                    event_path,
                    f"{event_kind!r} is not one of {', '.join(EVENT_KINDS)}",
                )
            if not isinstance(version, str) or not version.strip():
                raise check.fail(
                    f"{event_path}.{event_kind}", "must be a non-empty string"
                )
            clean_events.append({event_kind: version.strip()})
        ranges.append({"type": kind, "events": clean_events})
    versions = check.strings(entry, "versions", path)

    package = check.obj(entry, "package", path)
    if not package:
        # A GIT-only entry names a repository, not a package: nothing a
        # component can match.
        return None
    ecosystem = check.string(package, "ecosystem", path + "package.", required=True)
    name = check.string(package, "name", path + "package.", required=True)
    purl = check.string(package, "purl", path + "package.")
    purl_type, package_name, distro = ecosystem_package(ecosystem, name, purl)
    if len(package_name) > NAME_MAX:
        raise check.fail(path + "package.name", f"is longer than {NAME_MAX} characters")
    return ParsedAffected(
        ecosystem=ecosystem[:100],
        purl_type=purl_type,
        package_name=package_name,
        distro=distro[:DISTRO_MAX],
        ranges=ranges,
        versions=versions,
    )


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class OsvDocument:
    name: str  # file path or zip member, for messages
    content: bytes


def osv_documents(path: Path, *, max_bytes: int) -> Iterator[OsvDocument]:
    """The ``.json`` files of a directory (recursively) or a zip file, or one.

    Each is refused over ``max_bytes``; a zip's members are checked against
    the limit by their declared size before any is unpacked, and read with the
    limit again, since a declared size can lie.
    """
    if not path.exists():
        raise OsvError(f"{path}: no such file or directory")
    if path.is_dir():
        yield from _directory_documents(path, max_bytes=max_bytes)
    elif zipfile.is_zipfile(path):
        yield from _zip_documents(path, max_bytes=max_bytes)
    elif path.suffix.lower() == ".json":
        yield from _file_document(path, max_bytes=max_bytes)
    else:
        raise OsvError(
            f"{path}: not a directory, a zip file or a .json file of OSV records"
        )


def _directory_documents(path: Path, *, max_bytes: int) -> Iterator[OsvDocument]:
    for file in sorted(path.rglob("*.json")):
        if file.is_file():
            yield from _file_document(file, max_bytes=max_bytes)


def _file_document(file: Path, *, max_bytes: int) -> Iterator[OsvDocument]:
    size = file.stat().st_size
    if size > max_bytes:
        raise OsvError(f"{file}: {size} bytes is over the {max_bytes}-byte limit")
    yield OsvDocument(name=str(file), content=file.read_bytes())


def _zip_documents(path: Path, *, max_bytes: int) -> Iterator[OsvDocument]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise OsvError(f"{path}: not a readable zip file ({exc})") from None
    with archive:
        members = [
            info
            for info in archive.infolist()
            if not info.is_dir() and info.filename.lower().endswith(".json")
        ]
        total = 0
        for info in members:
            if info.file_size > max_bytes:
                raise OsvError(
                    f"{path}!{info.filename}: {info.file_size} bytes unpacked is "
                    f"over the {max_bytes}-byte limit"
                )
            total += info.file_size
        if total > max_bytes * ARCHIVE_LIMIT_FACTOR:
            raise OsvError(
                f"{path}: unpacks to {total} bytes, over the "
                f"{max_bytes * ARCHIVE_LIMIT_FACTOR}-byte limit for an archive"
            )
        for info in sorted(members, key=lambda info: info.filename):
            name = f"{path}!{info.filename}"
            try:
                with archive.open(info) as member:
                    content = member.read(max_bytes + 1)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise OsvError(f"{name}: cannot be unpacked ({exc})") from None
            if len(content) > max_bytes:
                raise OsvError(f"{name}: over the {max_bytes}-byte limit")
            yield OsvDocument(name=name, content=content)


def json_load(document: OsvDocument) -> object:
    """One record's JSON, read by the bounded decoder (its size was checked
    where it was read)."""
    try:
        return bounded_loads(document.content, max_bytes=len(document.content))
    except JsonRefusedError as exc:
        if exc.line:
            raise OsvError(
                f"{document.name}: invalid JSON at line {exc.line} column "
                f"{exc.column}: {exc.reason}"
            ) from None
        raise OsvError(f"{document.name}: {exc.message}") from None
