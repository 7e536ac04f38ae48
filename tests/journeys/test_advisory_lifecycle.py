"""An advisory that changes, end to end through the public doors: a record
arrives without a fix, a revision names one, the record is withdrawn and then
published again. The customer's clock starts as the policy says from what is
known at each step, says where its upstream fix time came from, stops
"advisory withdrawn" and resumes with its deadline; the staff desk agrees, and
``ledger_check`` holds throughout. A malformed revision is refused whole."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from apps.sla.defaults import defaults_load
from apps.sla.models import SlaClock
from apps.vulns.models import AdvisoryRevision, Finding, Vulnerability
from tests.entitlements.builders import ensure_tiers
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
MONGO_SBOM = ROOT / "apps/catalog/testdata/guac__big-mongo-cyclonedx.json"
# Ubuntu's real record of CVE-2023-0286 (openssl); the revisions below are
# made from it by changing what each step is about and nothing else.
ADVISORY = ROOT / "apps/vulns/testdata/osv/ubuntu/CVE-2023-0286.json"
MONGO = "sha256:fd73df9425bd48f25d7e913422af8124a6eadbd5d99f67bbd4a8b121f59b1187"
START = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # a Monday
FOCAL = "Ubuntu:20.04:LTS"


def _command(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _ledger_check() -> dict:
    """manage.py ledger_check --json (it exits 1 on a violation)."""
    out = io.StringIO()
    with contextlib.suppress(CommandError):
        call_command("ledger_check", "--json", stdout=out)
    return json.loads(out.getvalue())


def _page(client, url: str, user) -> str:
    # Sessions end after a day idle; each step comes back the next day.
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, (
        url,
        response.status_code,
        response.get("Location"),
    )
    return response.content.decode()


def _revision(tmp_path, name: str, *, modified: datetime, fixed: bool, **extra):
    """The real record as of one step: focal's openssl fix named or not."""
    record = json.loads(ADVISORY.read_text())
    record["modified"] = modified.strftime("%Y-%m-%dT%H:%M:%SZ")
    if not fixed:
        for entry in record["affected"]:
            if entry["package"]["ecosystem"] == FOCAL:
                for item in entry["ranges"]:
                    item["events"] = [e for e in item["events"] if "fixed" not in e]
    record.update(extra)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(record, indent=2))
    return str(path)


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_tiers()
    defaults_load()


def test_an_advisory_revised_fixed_withdrawn_and_published_again(
    world, client, tmp_path, django_capture_on_commit_callbacks
):
    def run():
        return django_capture_on_commit_callbacks(execute=True)

    staff = UserFactory(is_staff=True, email="staff@publisher.example")
    northwind = OrganizationFactory(features=(), name="Northwind", slug="northwind")
    owner = MembershipFactory(org=northwind, role="owner").user

    with time_machine.travel(START, tick=False) as traveller:
        # The publisher's build and its SBOM; Northwind gets the SLA by
        # contract (the default policy: from the upstream fix) and mirrors.
        _command(
            "register_build", "mongo", "6.0", MONGO, "--tag", "6.0",
            "--built-at", (START - timedelta(days=3)).isoformat(),
        )  # fmt: skip
        _command("import_sbom", MONGO, str(MONGO_SBOM))
        client.force_login(staff)
        with run():
            response = client.post(
                reverse("staff_entitlements"),
                {
                    "org": "northwind",
                    "feature": "sla",
                    "source": "contract",
                    "reference": "NW-1",
                },
            )
        assert response.status_code == 302
        client.force_login(owner)
        with run():
            client.post("/o/northwind/mirrors/", {"repository": "mongo"})

        # 1. The record arrives without a fix for focal: the clocks start at
        #    detection, as the policy says when its event has no time.
        traveller.shift(timedelta(days=1))
        detected = START + timedelta(days=1)
        unfixed = _revision(
            tmp_path, "v1", modified=detected - timedelta(hours=2), fixed=False
        )
        with run():
            _command("import_osv", unfixed)
            _command("match_findings")
        clocks = SlaClock.objects.filter(org=northwind).select_related("finding")
        assert clocks.count() == 2  # libssl1.1 and openssl, both from openssl
        for clock in clocks:
            assert clock.finding.upstream_fix_at is None
            assert (clock.start_event, clock.started_at) == ("detection", detected)
        clock = clocks.first()
        page = _page(client, f"/o/northwind/sla/clocks/{clock.pk}/", owner)
        assert "this clock started from <strong>detection</strong> instead" in page

        # 2. A revision names the fix: the fix time is the revision's
        #    modified (earlier than its import); the clocks start from it.
        traveller.shift(timedelta(days=2))
        fix_named = START + timedelta(days=2)
        fixed = _revision(tmp_path, "v2", modified=fix_named, fixed=True)
        with run():
            out = _command("import_osv", fixed)
        assert "1 updated" in out
        clock.refresh_from_db()
        assert Finding.objects.get(pk=clock.finding_id).upstream_fix_at == fix_named
        assert (clock.start_event, clock.started_at) == ("upstream_fix", fix_named)
        due = clock.due_at
        page = _page(client, f"/o/northwind/sla/clocks/{clock.pk}/", owner)
        assert (
            "a fixed version first appeared in the CVE-2023-0286 record of "
            "2026-10-07 09:00 UTC (its modified time)"
        ) in page
        assert "started from <strong>" not in page
        assert _ledger_check()["ok"]

        # 3. The record is withdrawn: the findings are out of force and the
        #    clocks stop with that reason; the customer sees it.
        traveller.shift(timedelta(days=1))
        withdrawn_at = START + timedelta(days=4)
        withdrawn = _revision(
            tmp_path,
            "v3",
            modified=withdrawn_at,
            fixed=True,
            withdrawn=withdrawn_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        with run():
            _command("import_osv", withdrawn)
        assert set(
            Finding.objects.filter(digest__digest=MONGO).values_list(
                "status", flat=True
            )
        ) == {"withdrawn"}
        for stopped in SlaClock.objects.filter(org=northwind):
            assert (stopped.state, stopped.stop_reason) == ("exempt", "withdrawn")
        page = _page(client, f"/o/northwind/sla/clocks/{clock.pk}/", owner)
        assert "Advisory withdrawn" in page
        assert "CVE-2023-0286 was withdrawn 2026-10-09 09:00 UTC" in page
        listed = _page(client, "/o/northwind/sla/", owner)
        assert "Exempt" in listed
        assert "advisory withdrawn" in listed
        assert "waiver" not in listed.split("<tbody>", 1)[1]
        assert _ledger_check()["ok"]

        # The staff desk's clock page says the same.
        staff_page = _page(
            client, reverse("staff_sla_clock", kwargs={"pk": clock.pk}), staff
        )
        assert "Advisory withdrawn" in staff_page

        # A malformed revision at the import door changes nothing.
        record = json.loads(Path(withdrawn).read_text())
        record["modified"] = "last Tuesday"
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(record))
        revisions = AdvisoryRevision.objects.count()
        with pytest.raises(CommandError, match="is not an RFC 3339 timestamp"):
            _command("import_osv", str(bad))
        assert AdvisoryRevision.objects.count() == revisions
        assert Vulnerability.objects.get(vuln_id="CVE-2023-0286").withdrawn_at

        # 4. Published again: the findings are back and the clocks resume,
        #    with the deadline they had.
        traveller.shift(timedelta(days=1))
        again = _revision(
            tmp_path, "v4", modified=START + timedelta(days=5), fixed=True
        )
        with run():
            _command("import_osv", again)
        clock.refresh_from_db()
        assert clock.state in SlaClock.RUNNING
        assert (clock.due_at, clock.stop_reason, clock.started_at) == (
            due,
            "",
            fix_named,
        )
        page = _page(client, f"/o/northwind/sla/clocks/{clock.pk}/", owner)
        assert "Advisory withdrawn" not in page
        assert _ledger_check()["ok"]

        # Every version the feed delivered is kept, in the API as well.
        detail = client.get("/api/v1/vulnerabilities/CVE-2023-0286/").json()
        assert len(detail["revisions"]) == 4
        assert detail["revisions"][0]["applied"] is True
