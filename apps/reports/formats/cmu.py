"""The cryptographic-module inventory per image (FedRAMP CMU-CSO-CMD):
"document the cryptographic modules used in each service ... including
whether these modules are validated under the NIST Cryptographic Module
Validation Program or are update streams of such modules."

FedRAMP publishes no schema for it; the document is the portal's own
(``fedramp_schemas/hardened-images-cmu-inventory-v1.json``) and is checked
against it. A module a build declares at the certificate's validated version
is ``validated``; at another version, an ``update_stream`` of the validated
module; with no version stated, ``not_stated``. Pure functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

import jsonschema_rs

from .fedramp_ver import MESSAGES_KEPT, pointer, retrieve, schemas, stamp

SCHEMA_ID = "https://hardened-images.dev/schemas/fedramp-cmu-inventory/v1"
CMVP_CERTIFICATE = (
    "https://csrc.nist.gov/projects/cryptographic-module-validation-program/"
    "certificate/{}"
)


class CmuInvalid(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"CMU inventory: {'; '.join(problems[:3])}")


@cache
def _validator() -> Any:
    return jsonschema_rs.validator_for(
        schemas()[SCHEMA_ID], validate_formats=True, retriever=retrieve
    )


def problems(document: dict[str, Any]) -> list[str]:
    return [
        f"{pointer(e.instance_path)}: {e.message}"
        for e in _validator().iter_errors(document)
    ][:MESSAGES_KEPT]


@dataclass(frozen=True)
class ModuleRow:
    certificate: int
    name: str
    vendor: str
    standard: str  # "FIPS 140-2" or "FIPS 140-3"
    status: str  # active, historical, revoked (on the day stated)
    status_basis: str
    validation_date: date
    sunset_date: date | None
    validated_version: str
    declared_version: str
    package: str
    security_policy: str


@dataclass(frozen=True)
class ImageRow:
    repository: str
    series: str
    variant: str
    digest: str
    built_at: datetime
    modules: tuple[ModuleRow, ...]


def version_relation(module: ModuleRow) -> str:
    if not module.declared_version:
        return "not_stated"
    if module.declared_version == module.validated_version:
        return "validated"
    return "update_stream"


def _module(row: ModuleRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "certificate": row.certificate,
        "name": row.name,
        "vendor": row.vendor,
        "standard": row.standard,
        "status": row.status,
        "statusBasis": row.status_basis,
        "activeValidation": row.status == "active",
        "validationDate": row.validation_date.isoformat(),
        "validatedVersion": row.validated_version,
        "declaredVersion": row.declared_version,
        "versionRelation": version_relation(row),
        "certificateUrl": CMVP_CERTIFICATE.format(row.certificate),
    }
    if row.sunset_date is not None:
        out["sunsetDate"] = row.sunset_date.isoformat()
    if row.package:
        out["package"] = row.package
    if row.security_policy:
        out["securityPolicy"] = row.security_policy
    return out


def cmu_document(*, generated_at: datetime, images: Iterable[ImageRow]) -> dict:
    """The inventory, checked against its schema (``CmuInvalid`` if not)."""
    document = {
        "$schema": SCHEMA_ID,
        "generatedAt": stamp(generated_at),
        "rule": "CMU-CSO-CMD",
        "images": [
            {
                "repository": image.repository,
                "series": image.series,
                "variant": image.variant,
                "digest": image.digest,
                "builtAt": stamp(image.built_at),
                "modules": [
                    _module(m)
                    for m in sorted(image.modules, key=lambda m: m.certificate)
                ],
            }
            for image in sorted(images, key=lambda i: (i.repository, i.variant))
        ],
    }
    found = problems(document)
    if found:
        raise CmuInvalid(found)
    return document
