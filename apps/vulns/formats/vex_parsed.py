"""What a VEX document says once read, whichever its format, and the rules
every statement follows (``ParsedDocument``, ``ParsedStatement``,
``ExportStatement``); the catalog's spelling of the images statements name.

The shape is OpenVEX v0.2.0's: CycloneDX and legacy OpenVEX are normalized to
it (see ``apps.vulns.formats.vex`` for the decisions). Pure functions: nothing
here touches the database.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from packageurl import PackageURL

from apps.catalog.formats.document import refuse

OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"

STATUSES = ("not_affected", "affected", "fixed", "under_investigation")

JUSTIFICATIONS = (
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
)

NO_ACTION_STATED = "No action statement was given in the source document."

VULN_ID_MAX = 100  # Vulnerability.vuln_id

DOCUMENT_ID_MAX = 500  # VexDocument.document_id

AUTHOR_MAX = 255

VERSION_MAX = 2_147_483_647  # VexDocument.version

# Image namespaces of the catalog's own registry: ``pkg:docker/dhi/busybox`` and
# ``pkg:oci/dhi%2Fbusybox`` both name the repository ``busybox``.
CATALOG_NAMESPACES = ("dhi",)

IMAGE_PURL_TYPES = ("oci", "docker")

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ParsedStatement:
    vuln_id: str
    product: str
    subcomponent: str
    status: str
    timestamp: datetime
    justification: str = ""
    impact_statement: str = ""
    action_statement: str = ""
    status_notes: str = ""
    index: int = 0  # the statement of the document it comes from

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.vuln_id, self.product, self.subcomponent)


@dataclass
class ParsedDocument:
    format: str  # VexDocument.Format value: "openvex" or "cyclonedx"
    spec_version: str
    document_id: str
    author: str
    issued_at: datetime | None
    version: int
    raw: dict[str, Any]
    statements: list[ParsedStatement] = field(default_factory=list)
    statement_count: int = 0

    @property
    def identity(self) -> str:
        return document_identity(
            format=self.format,
            document_id=self.document_id,
            products=[s.product for s in self.statements],
        )


def unknown_format(why: str) -> ValidationError:
    return refuse(
        f"Unknown format ({why}). Expected OpenVEX (@context {OPENVEX_CONTEXT}) "
        "or CycloneDX VEX (bomFormat CycloneDX, specVersion 1.4 to 1.6).",
        "unknown_format",
    )


def settle(
    *,
    status: str,
    justification: str,
    impact_statement: str,
    action_statement: str,
    status_notes: str,
    where: str,
) -> dict[str, str]:
    """Apply the model's and OpenVEX's rules to one statement's fields."""
    justification = justification.strip()
    impact_statement = impact_statement.strip()
    action_statement = action_statement.strip()
    status_notes = status_notes.strip()
    if status == "not_affected":
        if not justification and not impact_statement:
            raise refuse(
                f"{where}: a not_affected statement needs a justification or an "
                "impact statement.",
                "invalid_statement",
            )
        if justification and impact_statement:
            status_notes = "\n".join(
                part for part in (impact_statement, status_notes) if part
            )
            impact_statement = ""
    if status == "affected" and not action_statement:
        action_statement = NO_ACTION_STATED
    return {
        "status": status,
        "justification": justification,
        "impact_statement": impact_statement,
        "action_statement": action_statement,
        "status_notes": status_notes,
    }


def statement_problems(
    *,
    vuln_id: str,
    status: str,
    justification: str = "",
    impact_statement: str = "",
    action_statement: str = "",
    subcomponent: str = "",
) -> dict[str, str]:
    """What is wrong with a statement a person writes, by field (empty if
    nothing). Stricter than import: nothing is moved or filled in for them."""
    problems: dict[str, str] = {}
    vuln_id = vuln_id.strip()
    if not vuln_id:
        problems["vulnerability_id"] = "Name the vulnerability (e.g. CVE-2024-1234)."
    elif len(vuln_id) > VULN_ID_MAX or re.search(r"\s", vuln_id):
        problems["vulnerability_id"] = (
            "A vulnerability id is one word, at most 100 characters."
        )
    if status not in STATUSES:
        problems["status"] = f"Choose one of {', '.join(STATUSES)}."
    if justification and justification not in JUSTIFICATIONS:
        problems["justification"] = "Choose an OpenVEX justification."
    if status == "not_affected":
        if not justification and not impact_statement.strip():
            problems["justification"] = (
                "A not_affected statement needs a justification or an impact statement."
            )
        elif justification and impact_statement.strip():
            problems["impact_statement"] = (
                "OpenVEX allows a justification or an impact statement, not both: "
                "put the explanation in the status notes."
            )
    if status == "affected" and not action_statement.strip():
        problems["action_statement"] = (
            "An affected statement needs an action statement (what to do)."
        )
    if subcomponent.strip():
        try:
            PackageURL.from_string(subcomponent.strip())
        except ValueError as exc:
            problems["subcomponent"] = f"Not a package URL: {exc}"
    return problems


def document_version(value: int) -> int:
    # VexDocument.version is a 32-bit column; the schemas allow any integer.
    if value > VERSION_MAX:
        raise refuse(f"$.version: at most {VERSION_MAX}.", "schema")
    return value


def checked_vuln_id(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise refuse(f"{path}: a vulnerability id is required.", "schema")
    value = value.strip()
    if len(value) > VULN_ID_MAX:
        raise refuse(
            f"{path}: a vulnerability id is at most {VULN_ID_MAX} characters.",
            "schema",
        )
    return value


def parse_time(value: Any, path: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise refuse(f"{path}: a timestamp must be a string.", "schema")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise refuse(
            f"{path}: {value[:60]!r} is not an RFC 3339 timestamp.", "schema"
        ) from None
    if moment.tzinfo is None:
        # RFC 3339 requires an offset; a bare time is read as UTC.
        moment = moment.replace(tzinfo=UTC)
    return moment


def keep_newest(
    rows: dict[tuple[str, str, str], ParsedStatement], row: ParsedStatement
) -> None:
    current = rows.get(row.key)
    if current is None or row.timestamp >= current.timestamp:
        rows[row.key] = row


def image_purl(repository_name: str, digest: str | None = None) -> str:
    """``pkg:oci/<name>@sha256:<hex>``, or without a version for every build."""
    return PackageURL(type="oci", name=repository_name, version=digest).to_string()


def product_target(product: str) -> tuple[str | None, str | None]:
    """(digest, repository name) a product identifier names in the catalog.

    ``pkg:oci/<name>@sha256:...`` and ``pkg:docker/...`` name an image; a bare
    ``sha256:`` digest names a build. The catalog's own registry namespace
    (``dhi/``) is not part of the repository name.
    """
    value = product.strip()
    if DIGEST_RE.match(value.lower()):
        return value.lower(), None
    try:
        purl = PackageURL.from_string(value)
    except ValueError:
        return None, None
    if purl.type not in IMAGE_PURL_TYPES:
        return None, None
    name = "/".join(part for part in (purl.namespace, purl.name) if part)
    for namespace in CATALOG_NAMESPACES:
        if name.startswith(f"{namespace}/"):
            name = name[len(namespace) + 1 :]
    version = (purl.version or "").lower()
    digest = version if DIGEST_RE.match(version) else None
    return digest, name or None


def canonical_product(product: str) -> str:
    """One spelling per image: ``pkg:oci/<name>[@sha256:...]`` (or the bare
    digest); a product that names no image is kept as written."""
    digest, name = product_target(product)
    if name:
        return image_purl(name, digest)
    return digest or product


def document_identity(*, format: str, document_id: str, products: list[str]) -> str:
    """Which document a version belongs to: its own id and the images its
    products name (sorted), hashed; "" for a document without an id."""
    if not document_id:
        return ""
    images: set[str] = set()
    for product in products:
        digest, name = product_target(product)
        image = name or digest
        if image:
            images.add(image)
    blob = "\n".join([format, document_id, *sorted(images)])
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class ExportStatement:
    vuln_id: str
    product: str
    subcomponent: str
    status: str
    timestamp: datetime
    justification: str = ""
    impact_statement: str = ""
    action_statement: str = ""
    status_notes: str = ""
    aliases: tuple[str, ...] = ()

    def content(self) -> tuple:
        """What makes two statements say the same thing (products aside)."""
        return (
            self.vuln_id,
            self.timestamp,
            self.status,
            self.justification,
            self.impact_statement,
            self.action_statement,
            self.status_notes,
            self.aliases,
        )

    def exportable(self) -> ExportStatement:
        # Rows written other than through our services may break OpenVEX's
        # rules; settle them as the import does so that exports stay valid.
        impact = self.impact_statement
        if self.status == "not_affected" and not (self.justification or impact):
            impact = self.status_notes or "Not affected."
        fields = settle(
            status=self.status,
            justification=self.justification,
            impact_statement=impact,
            action_statement=self.action_statement,
            status_notes=self.status_notes,
            where=self.vuln_id,
        )
        return ExportStatement(
            vuln_id=self.vuln_id,
            product=self.product,
            subcomponent=self.subcomponent,
            timestamp=self.timestamp,
            aliases=self.aliases,
            **fields,
        )


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def content_hash(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
