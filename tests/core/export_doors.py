"""The registry of every CSV and XLSX export door, and the world the walker
(tests/core/test_export_doors.py) feeds through them.

Each ``Door`` says what it serves, through which modules its rows reach the
one writer (``apps/core/formats/spreadsheet.py``), how to fetch it and which
fed values it must show. ``build_world`` feeds ``PAYLOADS`` through what
others control (a user agent, an email typed at a failed login, an
organization's and a token's name, an advisory's summary and aliases, a
waiver's reason), each through its public page or command.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.validators import validate_email
from django.test import Client
from django.urls import reverse

from apps.orgs.models import Organization
from apps.sla import services as sla
from apps.sla.models import SlaClock, SlaWaiver
from apps.sla.tasks import transitions_run
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]

# OWASP's list of what starts a formula, written out here rather than read
# from the writer under test.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PAYLOADS = ('=HYPERLINK("http://x","y")', "+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1")

SBOM = ROOT / "apps/catalog/testdata/portal__cyclonedx-1.5.json"
# The image that SBOM is about (its metadata.component).
IMAGE = "sha256:5b0a8e2b6c0e3a1f9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e"
REPOSITORY = "walker"
START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
SCOPES = ["reports:write", "evidence:read"]


# --- the world: every payload in through a public door -------------------------


@dataclass
class Customer:
    """An organization named after its payload; ``client`` is its owner's
    browser (the payload as user agent), ``token`` its API secret."""

    payload: str
    org: Organization
    owner: object
    token: str
    client: Client


@dataclass
class World:
    """What the doors are fetched with, and the typed emails the login form
    took (``emails``)."""

    staff: object
    customers: list[Customer]
    window: dict
    run: Callable
    emails: list[str] = field(default_factory=list)

    def staff_client(self) -> Client:
        client = Client()
        client.force_login(self.staff)
        return client

    def owner_client(self, customer: Customer) -> Client:
        customer.client.force_login(customer.owner)
        return customer.client


def _command(*args) -> None:
    call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())


def _advisory(number: int, payload: str) -> dict:
    """An OSV record for the SBOM's pip whose summary and alias are ``payload``."""
    return {
        "schema_version": "1.6.0",
        "id": f"PYSEC-2099-{number}",
        "modified": "2026-08-30T00:00:00Z",
        "published": "2026-08-30T00:00:00Z",
        "aliases": [payload],
        "summary": payload,
        "details": "An advisory whose words start like formulas.",
        "severity": [
            {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
        ],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "pip"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": "99.0"}],
                    }
                ],
            }
        ],
    }


def _publish(feed: Path) -> None:
    """The publisher's build, its SBOM and one advisory per payload, by command."""
    _command("register_build", REPOSITORY, "1.0", IMAGE, "--tag", "1.0")
    _command("import_sbom", IMAGE, str(SBOM))
    feed.mkdir()
    for number, payload in enumerate(PAYLOADS, start=1):
        record = _advisory(number, payload)
        (feed / f"{record['id']}.json").write_text(json.dumps(record))
    _command("import_osv", str(feed))
    _command("match_findings")


def _customer(run, staff, payload: str, policy) -> Customer:
    """An owner creates an organization named ``payload`` and a token named
    ``payload``, both from a browser whose user agent is ``payload``; staff
    grant it the SLA by contract with credits; it mirrors the repository."""
    owner = UserFactory()
    client = Client(HTTP_USER_AGENT=payload)
    client.force_login(owner)
    response = client.post(reverse("org_list"), {"name": payload})
    assert response.status_code == 302, response.content.decode()[-800:]
    org = Organization.objects.filter(memberships__user=owner).get()
    staff_client = Client()
    staff_client.force_login(staff)
    response = staff_client.post(
        reverse("staff_entitlements"),
        {"org": org.slug, "feature": "sla", "source": "contract", "reference": "W-1"},
    )
    assert response.status_code == 302, response.content.decode()[-800:]
    sla.sla_policy_assign(
        org=org,
        policy=policy,
        effective_from=START - timedelta(days=1),
        actor=staff,
        monthly_fee_cents=100_000,
    )
    with run():
        response = client.post(
            reverse("entitlements:mirrors", args=[org.slug]), {"repository": REPOSITORY}
        )
    assert response.status_code == 302, response.content.decode()[-800:]
    response = client.post(
        reverse("accounts:tokens", args=[org.slug]), {"name": payload, "scopes": SCOPES}
    )
    assert response.status_code == 201, response.content.decode()[-800:]
    return Customer(payload, org, owner, response.context["new_secret"], client)


def _typed_email(payload: str) -> str | None:
    """The payload as the login form's email field takes it, if it can."""
    email = f"{payload.strip()}@x.example"
    try:
        validate_email(email)
    except ValidationError:
        return None
    return email


def _failed_logins(world: World) -> None:
    """Failed logins typed with each payload, from a user agent of each."""
    for payload in PAYLOADS:
        client = Client(HTTP_USER_AGENT=payload)
        for typed in {payload, _typed_email(payload)} - {None}:
            client.post("/accounts/login/", {"login": typed, "password": "wrong"})
        email = _typed_email(payload)
        if email is not None:
            world.emails.append(email)


def _waivers(world: World, second_staff) -> None:
    """Staff waive each customer's clock of one advisory with the payload as
    the reason; another staff member approves."""
    asking, deciding = world.staff_client(), Client()
    deciding.force_login(second_staff)
    expires = (START + timedelta(days=300)).strftime("%Y-%m-%dT%H:%M")
    for number, customer in enumerate(world.customers, start=1):
        clock = SlaClock.objects.get(
            org=customer.org, finding__vulnerability__vuln_id=f"PYSEC-2099-{number}"
        )
        response = asking.post(
            reverse("staff_sla_clock", args=[clock.pk]),
            {"reason": customer.payload, "expires_at": expires},
        )
        assert response.status_code == 302, response.content.decode()[-800:]
        waiver = SlaWaiver.objects.get(clock=clock)
        response = deciding.post(reverse("staff_sla_waiver_approve", args=[waiver.pk]))
        assert response.status_code == 302


def build_world(run: Callable, traveller, feed: Path) -> World:
    """Everything fed in at ``START``; then a month passes (``traveller``
    shifts the clock), so the clocks not waived breach and credits are owed."""
    staff, second_staff = UserFactory(is_staff=True), UserFactory(is_staff=True)
    version = sla.sla_policy_create(
        key="walker-contract",
        name="Walker contract",
        actor=staff,
        critical_days=7,
        high_days=7,
        credit_percent_per_breach=10,
        credit_cap_percent=50,
    )
    with run():
        _publish(feed)
    world = World(
        staff=staff,
        customers=[
            _customer(run, staff, payload, version.policy) for payload in PAYLOADS
        ],
        window={
            "window_start": str(START.date()),
            "window_end": str((START + timedelta(days=29)).date()),
        },
        run=run,
    )
    _failed_logins(world)
    _waivers(world, second_staff)
    traveller.shift(timedelta(days=31))
    transitions_run.delay()
    return world


# --- the doors -----------------------------------------------------------------


def _body(response) -> bytes:
    assert response.status_code == 200, response
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def _staff_audit(world: World) -> list[bytes]:
    client = world.staff_client()
    return [_body(client.get(reverse("staff_audit"), {"format": "csv"}))]


def _org_audit(world: World) -> list[bytes]:
    return [
        _body(
            world.owner_client(c).get(
                reverse("audit:org_log", args=[c.org.slug]), {"format": "csv"}
            )
        )
        for c in world.customers
    ]


def _sla_clocks(world: World) -> list[bytes]:
    return [
        _body(world.owner_client(c).get(reverse("sla:export", args=[c.org.slug])))
        for c in world.customers
    ]


def _sla_credits(world: World) -> list[bytes]:
    window = {
        "start": world.window["window_start"],
        "end": str((START + timedelta(days=30)).date()),
        "format": "csv",
    }
    return [_body(world.staff_client().get(reverse("staff_sla_credits"), window))]


def _poam(world: World) -> list[bytes]:
    documents = []
    for customer in world.customers:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {customer.token}"}
        with world.run():
            response = customer.client.post(
                "/api/v1/reports/",
                {
                    "kind": "poam",
                    "request_id": f"walker-{customer.org.slug}",
                    **world.window,
                },
                content_type="application/json",
                **headers,
            )
        assert response.status_code == 201, response.content
        detail = customer.client.get(
            f"/api/v1/reports/{response.json()['id']}/", **headers
        ).json()
        assert detail["status"] == "ready", detail
        documents.append(
            _body(customer.client.get(detail["links"]["download"], **headers))
        )
    return documents


def _payloads(world: World) -> list[str]:
    return list(PAYLOADS)


@dataclass(frozen=True)
class Door:
    """One export door: ``modules`` are the files its rows pass through on
    their way to the writer, the one calling it first."""

    name: str
    kind: str
    modules: tuple[str, ...]
    fetch: Callable[[World], list[bytes]]
    # The values fed in that it must show (stored as given, or stripped).
    carried: Callable[[World], list[str]]


DOORS = [
    Door(
        "staff audit log CSV",
        "csv",
        ("apps/audit/views.py",),
        _staff_audit,
        # User agents, typed emails, organization and token names.
        lambda w: [*PAYLOADS, *w.emails],
    ),
    Door(
        "organization audit log CSV",
        "csv",
        ("apps/orgs/audit_views.py", "apps/audit/views.py"),
        _org_audit,
        # User agents, organization and token names.
        _payloads,
    ),
    Door(
        "SLA clocks CSV",
        "csv",
        ("apps/sla/views.py",),
        _sla_clocks,
        # Advisory aliases and waiver reasons.
        _payloads,
    ),
    Door(
        "staff SLA credits CSV",
        "csv",
        ("apps/sla/staff_views/credits.py",),
        _sla_credits,
        # Organization names.
        _payloads,
    ),
    Door(
        "FedRAMP POA&M XLSX",
        "xlsx",
        (
            "apps/reports/formats/poam_xlsx.py",
            "apps/reports/poam.py",
            "apps/reports/services/pipeline.py",
        ),
        _poam,
        # Advisory summaries.
        _payloads,
    ),
]


# --- reading what came out -------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    where: str
    value: object
    data_type: str = "s"


def _csv_cells(document: bytes) -> Iterator[Cell]:
    text = document.decode("utf-8")
    for row_number, row in enumerate(csv.reader(io.StringIO(text, newline="")), 1):
        for column, value in enumerate(row, 1):
            yield Cell(f"row {row_number} column {column}", value)


def _xlsx_cells(document: bytes) -> Iterator[Cell]:
    book = openpyxl.load_workbook(io.BytesIO(document))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is not None:
                    yield Cell(
                        f"{sheet.title}!{cell.coordinate}", cell.value, cell.data_type
                    )


def _unsafe(cells: list[Cell]) -> list[str]:
    """The cells a spreadsheet would run."""
    return [
        f"{c.where}: {c.value!r} ({c.data_type})"
        for c in cells
        if c.data_type == "f"
        or (isinstance(c.value, str) and c.value.startswith(FORMULA_START))
    ]


def _shows(cells: list[Cell], value: str) -> bool:
    """Some cell holds ``value`` (as fed, or stripped by a form) neutralized."""
    wanted = {"'" + value, "'" + value.strip()}
    return any(
        isinstance(c.value, str) and c.value.startswith(tuple(wanted)) for c in cells
    )


def walk(door: Door, world: World) -> list[str]:
    """What is wrong with ``door``'s exports: cells a spreadsheet would run,
    and fed values it does not show neutralized."""
    problems = []
    read = _xlsx_cells if door.kind == "xlsx" else _csv_cells
    cells = [cell for document in door.fetch(world) for cell in read(document)]
    problems += [f"{door.name}: {p}" for p in _unsafe(cells)]
    problems += [
        f"{door.name}: {value!r} not shown neutralized"
        for value in door.carried(world)
        if not _shows(cells, value)
    ]
    return problems
