"""The evidence bundle: one zip an auditor can check offline.

It holds the signed report (``report.pdf``), the canonical evidence JSON it
was made from (``evidence.json``), the organization's OSCAL 1.1.2 POA&M,
Assessment Results and Component Definition for the same window and cut-off
(``oscal/``), and the documents in scope:

- ``attestations/<repository>/<digest12>/<kind>-<sha256[:12]>.<ext>``: every
  stored attestation (SBOMs, provenance, OpenVEX, FIPS, STIG) of the builds
  in scope, byte for byte as stored;
- ``fedramp/<name>.json``: the FedRAMP VER reports and the crypto-module
  inventory the evidence carries (``evidence.fedramp``), byte for byte as
  they are downloaded;
- ``vex/<repository>/<digest12>.openvex.json``: the publisher's VEX for each
  build in scope, as ``/catalog/digest/<d>/vex/`` serves it (builds without
  any statement have none);

then ``README.txt`` (what the bundle is, the report id, what it holds, with
"none" for a kind of document it has none of, how to verify) and,
last, ``MANIFEST.sha256``: ``sha256sum`` lines (hash, two spaces, path) for
every other entry, so ``sha256sum -c MANIFEST.sha256`` checks the unpacked
bundle.

Builds in scope: those carrying the org's SLA clocks that ran during the
report's window (started by its end, not stopped before its start), plus,
for repositories the org mirrors with FIPS or STIG included, the FIPS and
STIG builds made in the window. FIPS and STIG evidence is entitlement-guarded
(``apps.evidence.access``): a guarded build's attestations
go in only when the org held the matching entitlement at the cut-off.

The VEX export is the publisher's VEX when the bundle is made; the
attestations are immutable. Entries are written in path order (README and
manifest last) with the cut-off as their timestamp, so the same inputs give
the same bytes. Documents are streamed from storage in chunks into a
temporary file; the bundle is refused (``BundleTooLarge``) past
``settings.REPORT_BUNDLE_MAX_BYTES``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import IO

from django.conf import settings
from django.db.models import Prefetch, Q

from apps.catalog.models import Attestation, ImageDigest
from apps.entitlements.models import Mirror
from apps.entitlements.selectors import has_feature
from apps.evidence.access import evidence_features
from apps.sla.models import SlaClock
from apps.vulns.selectors import NoVexStatements, openvex_export_for_digest

from .bundle_signatures import contents_lines as signature_contents_lines
from .bundle_signatures import signature_files
from .evidence.fedramp import fedramp_bundle_files
from .evidence.mirrored import assessed_builds
from .links import verify_url
from .oscal.documents import oscal_bundle_documents

DEFAULT_MAX_BYTES = 2 * 1024**3
READ_CHUNK = 1024 * 1024
DIGEST_CHUNK = 500
MEDIA_TYPE = "application/zip"
MANIFEST = "MANIFEST.sha256"
README = "README.txt"
_EXTENSIONS = (("json", "json"), ("xml", "xml"), ("pdf", "pdf"), ("text/plain", "txt"))


class BundleTooLarge(Exception):
    """The documents in scope exceed ``REPORT_BUNDLE_MAX_BYTES``."""


class BundleIntegrityError(Exception):
    """A stored document no longer matches the hash recorded for it."""


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    # One of: bytes in hand, a stored attestation, a build's VEX export
    # (made when written: skipped if the build has no statement).
    content: bytes | None = None
    attestation_id: int | None = None
    sha256: str = ""
    vex_digest_id: int | None = None


@dataclass(frozen=True)
class BundleFile:
    """A written bundle: the open file (at offset 0), its size and hash."""

    file: IO[bytes]
    size: int
    sha256: str
    entries: int


def max_bytes() -> int:
    return getattr(settings, "REPORT_BUNDLE_MAX_BYTES", DEFAULT_MAX_BYTES)


def _extension(media_type: str) -> str:
    media_type = media_type.lower()
    for needle, extension in _EXTENSIONS:
        if needle in media_type:
            return extension
    return "bin"


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def _window(report) -> tuple[datetime | None, datetime]:
    """[start, end) of the window in UTC, the end capped at the cut-off."""
    start = end = None
    if report.window_start is not None:
        start = datetime.combine(report.window_start, time.min, tzinfo=UTC)
    if report.window_end is not None:
        end = datetime.combine(
            report.window_end + timedelta(days=1), time.min, tzinfo=UTC
        )
    cutoff = report.data_cutoff
    return start, min(end, cutoff) if end is not None else cutoff


def scope_digest_ids(report) -> list[int]:
    """Ids of the builds in scope, in id order (see the module docstring)."""
    start, end = _window(report)
    clocks = SlaClock.objects.for_org(report.org).filter(started_at__lt=end)
    if start is not None:
        clocks = clocks.filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=start))
    ids = set(clocks.values_list("finding__digest_id", flat=True).distinct())
    mirrors = Mirror.objects.for_org(report.org).filter(
        Q(include_fips=True) | Q(include_stig=True)
    )
    guarded = Q()
    for m in mirrors.only("repository_id", "include_fips", "include_stig"):
        flags = Q()
        if m.include_fips:
            flags |= Q(variant__fips=True)
        if m.include_stig:
            flags |= Q(variant__stig=True)
        guarded |= Q(variant__series__repository_id=m.repository_id) & flags
    if guarded:
        builds = ImageDigest.objects.filter(guarded, built_at__lt=end)
        if start is not None:
            builds = builds.filter(built_at__gte=start)
        ids |= set(builds.values_list("id", flat=True))
    # The builds whose vulnerability assessment the report states: their
    # SBOMs are the evidence for it.
    mirrored = list(Mirror.objects.for_org(report.org).filter(created_at__lt=end))
    ids |= {image.pk for image in assessed_builds(mirrored, end)}
    return sorted(ids)


def _scope_images(report) -> Iterator[ImageDigest]:
    ids = scope_digest_ids(report)
    attestations = Attestation.objects.filter(created_at__lt=report.data_cutoff).only(
        "id", "digest_id", "kind", "sha256", "size", "media_type"
    )
    for at in range(0, len(ids), DIGEST_CHUNK):
        chunk = ids[at : at + DIGEST_CHUNK]
        yield from (
            ImageDigest.objects.filter(id__in=chunk)
            .select_related("variant__series__repository")
            .prefetch_related(
                Prefetch("attestations", queryset=attestations, to_attr="in_scope")
            )
            .order_by("id")
        )


def _vex_bytes(digest_id: int) -> bytes | None:
    image = ImageDigest.objects.select_related("variant__series__repository").get(
        pk=digest_id
    )
    try:
        document = openvex_export_for_digest(image=image)
    except NoVexStatements:
        return None
    # As the digest's VEX download serves it.
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode()


def _plan(report, *, pdf: bytes, evidence_json: bytes) -> list[Entry]:
    entries = [
        Entry("report.pdf", len(pdf), content=pdf),
        Entry("evidence.json", len(evidence_json), content=evidence_json),
    ]
    for path, document in oscal_bundle_documents(report):
        entries.append(Entry(path, len(document), content=document))
    entries.extend(
        Entry(path, len(document), content=document)
        for path, document in fedramp_bundle_files(evidence_json)
    )
    entitled: dict[tuple[int, tuple[str, ...]], bool] = {}
    for image in _scope_images(report):
        repository = image.variant.series.repository
        features = evidence_features(variant=image.variant)
        key = (repository.pk, features)
        if key not in entitled:
            entitled[key] = all(
                has_feature(
                    org=report.org,
                    feature=f,
                    repository=repository,
                    at=report.data_cutoff,
                )
                for f in features
            )
        folder = f"{repository.name}/{_short(image.digest)}"
        if entitled[key]:
            for a in image.in_scope:  # type: ignore[attr-defined]  # Prefetch to_attr
                path = (
                    f"attestations/{folder}/{a.kind}-{a.sha256[:12]}."
                    f"{_extension(a.media_type)}"
                )
                entries.append(
                    Entry(path, a.size, attestation_id=a.pk, sha256=a.sha256)
                )
        entries.append(Entry(f"vex/{folder}.openvex.json", 0, vex_digest_id=image.pk))
    entries.extend(
        Entry(path, len(content), content=content)
        for path, content in signature_files(
            evidence_json=evidence_json,
            documents=[
                (e.path, e.attestation_id)
                for e in entries
                if e.attestation_id is not None
            ],
        )
    )
    entries.sort(key=lambda e: e.path)
    return entries


# Attestation kinds as the README names them, in the order it names them.
KIND_NAMES = {
    "sbom-cyclonedx": "CycloneDX SBOMs",
    "sbom-spdx": "SPDX SBOMs",
    "slsa-provenance": "SLSA provenance",
    "openvex": "OpenVEX documents",
    "fips": "FIPS attestations",
    "stig-scan": "STIG scans",
}


def _series(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(names) < 2:
        return "".join(names) or "documents"
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _contents(written: list[str]) -> list[str]:
    """The Contents lines: what the zip holds, and "none" for a kind of
    document no build in scope has (no folder is named that is not there)."""
    lines = [
        "  report.pdf        the signed report (PDF/A-3b, PAdES signature)",
        "  evidence.json     the canonical evidence the report was made from",
    ]
    if "oscal/poam.json" in written:
        lines += [
            "  oscal/            the OSCAL 1.1.2 POA&M, Assessment Results and",
            "                    Component Definition (JSON) of the same window",
        ]
    else:
        lines += [
            "  oscal/            the OSCAL 1.1.2 Assessment Results and Component",
            "                    Definition (JSON) of the same window; no POA&M:",
            "                    no SLA clock was running at the data cut-off",
        ]
    if any(p.startswith("fedramp/") for p in written):
        lines += [
            "  fedramp/          FedRAMP's VER reports (VER-RPT-VDT, VER-RPT-AVI,",
            "                    VER-TFR-MRH; when the organization states a class)",
            "                    and the crypto-module inventory (CMU), as JSON; the",
            "                    evidence.json the signed PDF carries holds each",
            "                    one and its SHA-256",
        ]
    documents = [p for p in written if p.startswith("attestations/")]
    attested = len({"/".join(p.split("/")[1:3]) for p in documents})
    held = {p.rsplit("/", 1)[1].rsplit("-", 1)[0] for p in documents}
    kinds = [label for kind, label in KIND_NAMES.items() if kind in held]
    vex = len([p for p in written if p.startswith("vex/")])
    if attested:
        lines += [
            f"  attestations/     {_series(kinds)} of",
            f"                    {attested} build(s) in scope, byte for byte as "
            "published",
        ]
    else:
        lines += [
            "  Attestations      none: no build in scope has a document this",
            "                    organization may receive",
        ]
    if vex:
        lines.append(
            f"  vex/              the publisher's OpenVEX for {vex} build(s) in scope"
        )
    else:
        lines.append(
            "  Publisher VEX     none: the publisher made no VEX statement about "
            "a build in scope"
        )
    lines += signature_contents_lines(written)
    lines.append(
        f"  {MANIFEST}   SHA-256 of each of the {len(written) + 1} other files"
    )
    return lines


def _readme(report, written: list[str]) -> bytes:
    window = (
        f"{report.window_start} to {report.window_end}"
        if report.window_start and report.window_end
        else "not set"
    )
    org = report.org.name if report.org_id else "all customers"
    lines = [
        f"Evidence bundle of {settings.SITE_NAME}",
        "",
        f"Report id:     {report.public_id}",
        f"Organization:  {org}",
        f"Window:        {window}",
        f"Data cut-off:  {report.data_cutoff.astimezone(UTC).isoformat()}",
        "",
        "Contents",
        *_contents(written),
        "",
        "How to verify",
        "  1. Unpack the zip and, in its folder, run:",
        f"       sha256sum -c {MANIFEST}",
        "     Every line must end in OK.",
        "  2. Check the bundle against the portal's record: upload the zip as",
        "     downloaded, or enter its SHA-256, at",
        f"       {verify_url(report)}",
        "  3. report.pdf carries the portal's PAdES signature; a PDF signature",
        "     validator shows whether it is intact and by whom it was signed.",
        "  4. The signatures on evidence.json and on the attestations: see",
        "     signatures/VERIFY.txt.",
        "",
    ]
    return "\n".join(lines).encode()


def _stamp(report) -> tuple[int, int, int, int, int, int]:
    stamp = report.data_cutoff.astimezone(UTC).timetuple()[:6]
    return max(stamp, (1980, 1, 1, 0, 0, 0))


def _info(path: str, stamp, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    info.create_system = 3
    # Known ahead, so zipfile picks ZIP64 headers for large entries itself.
    info.file_size = size
    return info


def evidence_bundle_write(
    report, *, pdf: bytes, evidence_json: bytes, out: IO[bytes]
) -> int:
    """Write the bundle into the seekable binary file ``out``; returns the
    number of entries. Raises ``BundleTooLarge`` past the limit (``out`` then
    holds a partial zip the caller discards)."""
    if report.org_id is None:
        raise ValueError("An evidence bundle is an organization's: this has none.")
    limit = max_bytes()
    entries = _plan(report, pdf=pdf, evidence_json=evidence_json)
    planned = sum(e.size for e in entries)
    if planned > limit:
        raise BundleTooLarge(
            f"The evidence bundle would hold {planned} bytes of documents, "
            f"over the limit of {limit} bytes (REPORT_BUNDLE_MAX_BYTES)."
        )
    stamp = _stamp(report)
    manifest: list[str] = []
    written: list[str] = []
    with zipfile.ZipFile(
        out, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=6
    ) as zf:
        for entry in entries:
            content = entry.content
            if entry.vex_digest_id is not None:
                content = _vex_bytes(entry.vex_digest_id)
                if content is None:
                    continue
            digest = hashlib.sha256()
            size = entry.size if content is None else len(content)
            with zf.open(_info(entry.path, stamp, size), "w") as target:
                if content is not None:
                    digest.update(content)
                    target.write(content)
                else:
                    _copy_attestation(entry, target, digest)
            if out.tell() > limit:
                raise BundleTooLarge(
                    f"The evidence bundle passed the limit of {limit} bytes "
                    "(REPORT_BUNDLE_MAX_BYTES)."
                )
            manifest.append(f"{digest.hexdigest()}  {entry.path}\n")
            written.append(entry.path)
        readme = _readme(report, written)
        zf.writestr(_info(README, stamp, len(readme)), readme)
        manifest.append(f"{hashlib.sha256(readme).hexdigest()}  {README}\n")
        body = "".join(manifest).encode()
        zf.writestr(_info(MANIFEST, stamp, len(body)), body)
    return len(manifest) + 1


def _copy_attestation(entry: Entry, target: IO[bytes], digest) -> None:
    if entry.attestation_id is None:
        raise ValueError(f"{entry.path}: not a stored attestation")
    attestation = Attestation.objects.only("document").get(pk=entry.attestation_id)
    size = 0
    with attestation.document.open("rb") as source:
        while chunk := source.read(READ_CHUNK):
            digest.update(chunk)
            target.write(chunk)
            size += len(chunk)
    if digest.hexdigest() != entry.sha256 or size != entry.size:
        raise BundleIntegrityError(
            f"{entry.path}: the stored document does not match its recorded "
            "SHA-256 and size."
        )


def evidence_bundle_file(report, *, pdf: bytes, evidence_json: bytes) -> BundleFile:
    """The bundle in a temporary file (spilled to disk past 16 MiB), rewound;
    the caller closes it. Nothing is left behind when this raises."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
    try:
        count = evidence_bundle_write(
            report, pdf=pdf, evidence_json=evidence_json, out=spool
        )
        size = spool.tell()
        spool.seek(0)
        digest = hashlib.sha256()
        while chunk := spool.read(READ_CHUNK):
            digest.update(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return BundleFile(spool, size, digest.hexdigest(), count)


def evidence_bundle(report, *, pdf: bytes, evidence_json: bytes) -> bytes:
    """The bundle's bytes. For large bundles prefer ``evidence_bundle_file``,
    which hands over the temporary file rather than the bytes."""
    bundle = evidence_bundle_file(report, pdf=pdf, evidence_json=evidence_json)
    with bundle.file as f:
        buffer = bytearray()
        while chunk := f.read(READ_CHUNK):
            buffer += chunk
    return bytes(buffer)


def copy_to(bundle: BundleFile, target: IO[bytes]) -> None:
    """Copy a written bundle into ``target`` in chunks (e.g. a storage file)."""
    shutil.copyfileobj(bundle.file, target, READ_CHUNK)
