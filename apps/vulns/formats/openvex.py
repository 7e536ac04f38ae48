"""OpenVEX documents: v0.2.0, checked against the official schema, and the
legacy pre-0.2 shape, normalized to v0.2.0 and checked field by field; and the
v0.2.0 documents the portal exports."""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

from django.utils import timezone
from jsonschema import Draft202012Validator

from apps.catalog.formats.document import refuse

from .vex_parsed import (
    AUTHOR_MAX,
    DOCUMENT_ID_MAX,
    JUSTIFICATIONS,
    OPENVEX_CONTEXT,
    STATUSES,
    ExportStatement,
    ParsedDocument,
    ParsedStatement,
    canonical_product,
    checked_vuln_id,
    content_hash,
    document_version,
    format_time,
    keep_newest,
    parse_time,
    settle,
)

OPENVEX_LEGACY_CONTEXTS = ("https://openvex.dev/ns", "https://openvex.dev/ns/v0.0.1")

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"


@cache
def openvex_validator() -> Draft202012Validator:
    """The official OpenVEX v0.2.0 schema. Formats are not asserted, as in the
    spec's own tooling: DHI's statement ids are bare UUIDs, not IRIs."""
    schema = json.loads((SCHEMA_DIR / "openvex_json_schema.json").read_text())
    return Draft202012Validator(schema)


def openvex_schema_errors(document: Any) -> list[str]:
    """Every schema violation, each as ``<JSON path>: <what is wrong>``."""
    messages = []
    errors = sorted(
        openvex_validator().iter_errors(document),
        key=lambda e: [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in e.path],
    )
    for error in errors:
        path = error.json_path
        instance = error.instance
        if (
            error.validator == "oneOf"
            and isinstance(instance, dict)
            and instance.get("status") == "not_affected"
        ):
            what = (
                "a not_affected statement needs a justification or an "
                "impact_statement (exactly one)"
            )
        elif error.validator == "required" and error.validator_value == [
            "action_statement"
        ]:
            what = "an affected statement needs an action_statement"
        else:
            what = (
                error.message
                if len(error.message) <= 300
                else (error.message[:300] + "...")
            )
        messages.append(f"{path}: {what}")
    return messages


def openvex_parse(data: dict[str, Any]) -> ParsedDocument:
    errors = openvex_schema_errors(data)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise refuse(f"Not valid OpenVEX v0.2.0: {errors[0]}{more}.", "schema")
    return _openvex_document(data, spec_version="0.2.0")


def openvex_legacy_parse(data: dict[str, Any]) -> ParsedDocument:
    """vexctl's pre-0.2 documents, normalized to the v0.2.0 shape and checked
    field by field (the v0.2.0 schema would refuse their shape outright)."""
    statements = data.get("statements")
    if not isinstance(statements, list) or not statements:
        raise refuse("$.statements: a non-empty list is required.", "schema")
    for name in ("@id", "author"):
        if name in data and not isinstance(data[name], str):
            raise refuse(f"$['{name}']: must be a string.", "schema")
    version = data.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise refuse("$.version: must be a whole number.", "schema")
    normalized = [
        _legacy_statement(statement, f"$.statements[{i}]")
        for i, statement in enumerate(statements)
    ]
    return _openvex_document(
        {**data, "version": version, "statements": normalized},
        spec_version="0.0.1",
        raw=data,
    )


def _legacy_statement(statement: Any, path: str) -> dict[str, Any]:
    if not isinstance(statement, dict):
        raise refuse(f"{path}: a statement must be an object.", "schema")
    vulnerability = statement.get("vulnerability")
    if isinstance(vulnerability, str):
        vulnerability = {"name": vulnerability}
    elif isinstance(vulnerability, dict):
        vulnerability = {"name": vulnerability.get("name") or vulnerability.get("@id")}
    else:
        raise refuse(f"{path}.vulnerability: a vulnerability id is required.", "schema")
    products = statement.get("products") or []
    # v0.0.1 listed subcomponents beside the products they belong to.
    beside = statement.get("subcomponents") or []
    for name, value in (("products", products), ("subcomponents", beside)):
        if not isinstance(value, list):
            raise refuse(f"{path}.{name}: must be a list.", "schema")
    if beside and not products:
        products = [""]
    normalized_products = []
    for j, product in enumerate(products):
        if isinstance(product, str):
            product = {"@id": product}
        if not isinstance(product, dict):
            raise refuse(f"{path}.products[{j}]: must be a string or object.", "schema")
        subs = product.get("subcomponents") or []
        if not isinstance(subs, list):
            raise refuse(
                f"{path}.products[{j}].subcomponents: must be a list.", "schema"
            )
        subs = subs + beside
        normalized_products.append(
            {
                **product,
                "subcomponents": [
                    {"@id": sub} if isinstance(sub, str) else sub for sub in subs
                ],
            }
        )
    status = statement.get("status")
    if status not in STATUSES:
        raise refuse(
            f"{path}.status: {status!r} is not one of {', '.join(STATUSES)}.", "schema"
        )
    justification = statement.get("justification") or ""
    if justification and justification not in JUSTIFICATIONS:
        raise refuse(
            f"{path}.justification: {justification!r} is not an OpenVEX justification.",
            "schema",
        )
    for name in ("status_notes", "impact_statement", "action_statement", "timestamp"):
        if statement.get(name) is not None and not isinstance(statement[name], str):
            raise refuse(f"{path}.{name}: must be a string.", "schema")
    return {
        **statement,
        "vulnerability": vulnerability,
        "products": normalized_products,
    }


def _openvex_document(
    data: dict[str, Any], *, spec_version: str, raw: dict[str, Any] | None = None
) -> ParsedDocument:
    issued_at = parse_time(data.get("timestamp"), "$.timestamp")
    default_time = issued_at or timezone.now()
    document_id = (data.get("@id") or "").strip()
    if len(document_id) > DOCUMENT_ID_MAX:
        raise refuse(f"$['@id']: longer than {DOCUMENT_ID_MAX} characters.", "schema")
    rows: dict[tuple[str, str, str], ParsedStatement] = {}
    for i, statement in enumerate(data["statements"]):
        path = f"$.statements[{i}]"
        vuln_id = checked_vuln_id(
            statement["vulnerability"].get("name"), f"{path}.vulnerability.name"
        )
        timestamp = (
            parse_time(statement.get("timestamp"), f"{path}.timestamp") or default_time
        )
        fields = settle(
            status=statement["status"],
            justification=statement.get("justification") or "",
            impact_statement=statement.get("impact_statement") or "",
            action_statement=statement.get("action_statement") or "",
            status_notes=statement.get("status_notes") or "",
            where=path,
        )
        for product, subcomponent in _openvex_targets(statement, path):
            keep_newest(
                rows,
                ParsedStatement(
                    vuln_id=vuln_id,
                    product=canonical_product(product),
                    subcomponent=subcomponent,
                    timestamp=timestamp,
                    index=i,
                    **fields,
                ),
            )
    return ParsedDocument(
        format="openvex",
        spec_version=spec_version,
        document_id=document_id,
        author=(data.get("author") or "").strip()[:AUTHOR_MAX],
        issued_at=issued_at,
        version=document_version(data["version"]),
        raw=raw if raw is not None else data,
        statements=list(rows.values()),
        statement_count=len(data["statements"]),
    )


def _openvex_targets(statement: dict[str, Any], path: str) -> list[tuple[str, str]]:
    products = statement.get("products") or []
    if not products:
        # Legacy statements may name no product at all; they are kept, though
        # they target nothing in the catalog.
        return [("", "")]
    targets = []
    for j, product in enumerate(products):
        product_id = _component_id(product, f"{path}.products[{j}]", allow_empty=True)
        subcomponents = product.get("subcomponents") or []
        if not subcomponents:
            targets.append((product_id, ""))
        for k, sub in enumerate(subcomponents):
            sub_id = _component_id(sub, f"{path}.products[{j}].subcomponents[{k}]")
            targets.append((product_id, sub_id))
    return targets


def _component_id(item: Any, path: str, *, allow_empty: bool = False) -> str:
    """A product or subcomponent's identifier: its @id, else a purl or CPE from
    ``identifiers``, else its sha-256 hash."""
    value: Any = item
    if isinstance(item, dict):
        identifiers = item.get("identifiers") or {}
        hashes = item.get("hashes") or {}
        value = (
            item.get("@id")
            or identifiers.get("purl")
            or identifiers.get("@cpe23")
            or identifiers.get("@cpe22")
            or (f"sha256:{hashes['sha-256']}" if hashes.get("sha-256") else "")
        )
    if not isinstance(value, str):
        raise refuse(f"{path}: the identifier must be a string.", "schema")
    value = value.strip()
    if not value and not allow_empty:
        raise refuse(f"{path}: names nothing (give @id or identifiers.purl).", "schema")
    return value


def build_openvex(
    *, statements: list[ExportStatement], author: str, id_prefix: str
) -> dict[str, Any]:
    """An OpenVEX v0.2.0 document. The same statements give the same bytes and
    the same ``@id``; statements are grouped by what they say and ordered."""
    if not statements:
        raise ValueError("OpenVEX needs at least one statement.")
    groups: dict[tuple, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    settled = [statement.exportable() for statement in statements]
    for statement in settled:
        groups[statement.content()][statement.product].add(statement.subcomponent)
    out = []
    for content in sorted(groups):
        vuln_id, timestamp, status, justification, impact, action, notes, aliases = (
            content
        )
        vulnerability: dict[str, Any] = {"name": vuln_id}
        if aliases:
            vulnerability["aliases"] = list(aliases)
        products: list[dict[str, Any]] = []
        for product, subcomponents in sorted(groups[content].items()):
            if "" in subcomponents:
                products.append({"@id": product})
            named = sorted(sub for sub in subcomponents if sub)
            if named:
                products.append(
                    {"@id": product, "subcomponents": [{"@id": s} for s in named]}
                )
        item: dict[str, Any] = {
            "vulnerability": vulnerability,
            "timestamp": format_time(timestamp),
            "products": products,
            "status": status,
        }
        texts = {
            "justification": justification,
            "impact_statement": impact,
            "action_statement": action,
            "status_notes": notes,
        }
        item.update({name: value for name, value in texts.items() if value})
        out.append(item)
    newest = max(statement.timestamp for statement in settled)
    body = {"author": author, "statements": out}
    return {
        "@context": OPENVEX_CONTEXT,
        "@id": f"{id_prefix}{content_hash(body)}",
        "author": author,
        "timestamp": format_time(newest),
        "version": 1,
        "statements": out,
    }
