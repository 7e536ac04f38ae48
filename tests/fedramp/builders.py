"""FedRAMP test helpers: a customer with a class and exposures (through the
services), and an independent check of documents against FedRAMP's schemas
with the ``jsonschema`` package (the portal checks them with jsonschema-rs)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from apps.catalog.models import Repository
from apps.sla.services import fedramp as services

SCHEMAS = (
    Path(__file__).resolve().parents[2]
    / "apps"
    / "reports"
    / "formats"
    / "fedramp_schemas"
)
FEDRAMP = "https://fedramp.gov/schemas/"
SCHEMA_IDS = {
    "vdt": f"{FEDRAMP}fedramp-vulnerability-detail-report-schema-2026-06-24.json",
    "avi": f"{FEDRAMP}fedramp-accepted-vulnerability-info-schema-2026-06-24.json",
    "history": f"{FEDRAMP}fedramp-historical-ver-activity-schema-2026-06-24.json",
    "cmu": "https://hardened-images.dev/schemas/fedramp-cmu-inventory/v1",
}
PACKAGE = "https://trust.example.gov/package-overview.json"


def _resources() -> dict[str, dict]:
    found = {}
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text("utf-8"))
        found[schema["$id"]] = schema
    return found


RESOURCES = _resources()


def _retrieve(uri: str) -> Resource:
    """FedRAMP's schemas name a definition as ``<$id>/$defs/<name>``: a
    resource pointing at it. Nothing is fetched."""
    for schema_id, schema in RESOURCES.items():
        prefix = f"{schema_id}/$defs/"
        if uri.startswith(prefix):
            return Resource.from_contents(
                {
                    "$schema": schema["$schema"],
                    "$ref": f"{schema_id}#/$defs/{uri[len(prefix) :]}",
                }
            )
    raise NoSuchResource(ref=uri)


REGISTRY = Registry(retrieve=_retrieve).with_resources(
    (schema_id, Resource.from_contents(schema))
    for schema_id, schema in RESOURCES.items()
)


def schema_errors(kind: str, document: dict) -> list[str]:
    """Where ``document`` breaks its schema, by the jsonschema package with
    formats checked."""
    validator = jsonschema.Draft202012Validator(
        RESOURCES[SCHEMA_IDS[kind]],
        registry=REGISTRY,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def fedramp_customer(org, actor, *, klass: str = "C") -> None:
    services.fedramp_profile_set(
        org=org, actor=actor, certification_class=klass, package_uri=PACKAGE
    )


def exposure(org, actor, repository: Repository, *, irv: bool, pain: int, reason=""):
    return services.fedramp_exposure_set(
        org=org,
        repository=repository,
        actor=actor,
        internet_reachable=irv,
        pain=pain,
        reason=reason,
    )
