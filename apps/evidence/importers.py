"""The importers of the kinds owned by the apps below this one (the catalog's
provenance; vulns' SBOMs, VEX, OSV and KEV), registered at ready(). STIG scans
and FIPS attestations register from their own apps."""

from __future__ import annotations

import tempfile
import zipfile
from io import BytesIO

from apps.catalog.formats.intoto import provenance_parse
from apps.catalog.models import Attestation
from apps.catalog.provenance import provenance_import
from apps.vulns.formats.sbom import sbom_parse
from apps.vulns.services import kev_import, osv_import, vex_import, vex_imported
from apps.vulns.services.sbom import sbom_import

from .registry import Importer, register


def _sbom(*, image, content, subject_override):
    return sbom_import(image=image, content=content, subject_override=subject_override)


def _provenance(*, image, content, subject_override):
    return provenance_import(
        image=image, content=content, subject_override=subject_override
    )


def _vex(*, image, content, subject_override):
    return vex_imported(vex_import(content=content))


def _osv(*, image, content, subject_override):
    if zipfile.is_zipfile(BytesIO(content)):
        with tempfile.NamedTemporaryFile(suffix=".zip") as handle:
            handle.write(content)
            handle.flush()
            return osv_import(path=handle.name)
    return osv_import(records=[content])


def _kev(*, image, content, subject_override):
    return kev_import(content=content)


def _sbom_subject(content: bytes):
    return sbom_parse(content).subject


def _provenance_subject(content: bytes):
    return provenance_parse(content).subject


def register_own() -> None:
    register(
        Importer(
            kind="sbom",
            run=_sbom,
            matches_after=True,
            subject_readers={
                Attestation.Kind.SBOM_CYCLONEDX: _sbom_subject,
                Attestation.Kind.SBOM_SPDX: _sbom_subject,
            },
        )
    )
    register(
        Importer(
            kind="provenance",
            run=_provenance,
            subject_readers={Attestation.Kind.SLSA_PROVENANCE: _provenance_subject},
        )
    )
    register(Importer(kind="vex", run=_vex))
    register(Importer(kind="osv", run=_osv, matches_after=True))
    register(Importer(kind="kev", run=_kev))
