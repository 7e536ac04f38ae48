"""A certificate's status follows from its dates: once its sunset date has
come it is historical in pages, API, reports and evidence, whatever the
registry row still says."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from apps.fips.models import CryptoModule
from apps.fips.status import module_status
from apps.reports.evidence.document import build_evidence
from apps.reports.models import Report
from apps.reports.render import report_html
from tests.catalog import builders as catalog
from tests.reports.builders import report_for

from . import builders as b

pytestmark = pytest.mark.django_db

CREATED = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
SUNSET = CREATED.date() + timedelta(days=100)  # 2026-04-20
LATER = datetime.combine(SUNSET + timedelta(days=77), datetime.min.time(), UTC)
LATER += timedelta(hours=10)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def world():
    """A FIPS build carrying a module whose sunset is 100 days out, made on
    CREATED; the registry row stays "active" from then on."""
    with time_machine.travel(CREATED, tick=False):
        repo = catalog.repository("python")
        module = b.module(4282, sunset_in=100)
        image = b.fips_build(catalog.series(repo, "3.12"), built_days_ago=1)
        b.attest(image, module)
        org, owner = b.customer(repo)
    assert module.sunset_date == SUNSET
    return {"repo": repo, "module": module, "image": image, "org": org, "owner": owner}


# --------------------------------------------------------------------------
# The one function
# --------------------------------------------------------------------------


def _module(status: str, sunset: date | None) -> CryptoModule:
    return CryptoModule(status=status, sunset_date=sunset)


@pytest.mark.parametrize(
    ("registry", "day", "status", "label"),
    [
        ("active", SUNSET - timedelta(days=1), "active", "Active"),
        # CMVP moves a certificate to the historical list on its sunset date.
        ("active", SUNSET, "historical", "Historical (sunset passed)"),
        (
            "active",
            SUNSET + timedelta(days=77),
            "historical",
            "Historical (sunset passed)",
        ),
        ("historical", SUNSET + timedelta(days=1), "historical", "Historical"),
        # The registry may move it early; a revocation is never undone by a date.
        ("historical", SUNSET - timedelta(days=1), "historical", "Historical"),
        ("revoked", SUNSET + timedelta(days=1), "revoked", "Revoked"),
        ("revoked", SUNSET - timedelta(days=1), "revoked", "Revoked"),
    ],
)
def test_the_status_on_a_day_follows_the_sunset(registry, day, status, label):
    found = module_status(_module(registry, SUNSET), on=day)
    assert (found.status, found.label) == (status, label)
    assert found.registry_status == registry
    assert found.derived is (status != registry)


def test_a_module_without_sunset_keeps_the_registry_status():
    found = module_status(_module("active", None), on=date(2040, 1, 1))
    assert (found.status, found.active, found.derived) == ("active", True, False)


def test_a_datetime_counts_by_its_utc_day():
    late_evening = datetime(2026, 4, 19, 23, 30, tzinfo=UTC)
    assert module_status(_module("active", SUNSET), on=late_evening).active
    assert not module_status(
        _module("active", SUNSET), on=late_evening + timedelta(hours=1)
    ).active


# --------------------------------------------------------------------------
# Pages and API, 77 days past the sunset
# --------------------------------------------------------------------------


def test_the_org_fips_page_shows_historical_not_a_green_active(client, world):
    with time_machine.travel(LATER, tick=False):
        client.force_login(world["owner"])
        page = client.get(
            reverse("fips:org_fips", kwargs={"org_slug": world["org"].slug})
        ).content.decode()
    rows = page.split('id="inventory-table"')[1].split("</table>")[0]
    assert "Historical (sunset passed)" in rows
    assert 'class="badge ok' not in rows
    assert ">Active<" not in rows
    assert "passed 77 days ago" in rows


def test_the_org_fips_page_before_the_sunset_still_says_active(client, world):
    with time_machine.travel(CREATED + timedelta(days=10), tick=False):
        client.force_login(world["owner"])
        page = client.get(
            reverse("fips:org_fips", kwargs={"org_slug": world["org"].slug})
        ).content.decode()
    rows = page.split('id="inventory-table"')[1].split("</table>")[0]
    assert ">Active<" in rows
    assert "in 90 days" in rows


def test_the_digest_page_shows_the_derived_status(client, world):
    with time_machine.travel(LATER, tick=False):
        page = client.get(world["image"].get_absolute_url()).content.decode()
    rows = page.split('id="fips-modules-table"')[1].split("</table>")[0]
    assert "Historical (sunset passed)" in rows
    assert ">Active<" not in rows


def test_the_api_answers_the_derived_status(client, world):
    from apps.accounts.services import api_token_create

    with time_machine.travel(LATER, tick=False):
        _, raw = api_token_create(
            org=world["org"],
            name="ci",
            scopes=["evidence:read"],
            expires_at=None,
            actor=world["owner"],
        )
        inventory = client.get(
            "/api/v1/fips/modules/", headers={"authorization": f"Bearer {raw}"}
        ).json()
        detail = client.get(f"/api/v1/digests/{world['image'].digest}/").json()
    (row,) = inventory["modules"]
    assert (row["status"], row["status_label"], row["registry_status"]) == (
        "historical",
        "Historical (sunset passed)",
        "active",
    )
    assert row["days_to_sunset"] == -77
    assert row["attention"] == "bad"
    (carried,) = detail["crypto_modules"]
    assert (carried["status"], carried["registry_status"]) == ("historical", "active")
    assert carried["status_label"] == "Historical (sunset passed)"


# --------------------------------------------------------------------------
# Reports: as of their cut-off
# --------------------------------------------------------------------------


def _compliance(org, cutoff_day: date) -> Report:
    return report_for(
        org,
        window=(cutoff_day - timedelta(days=30), cutoff_day - timedelta(days=1)),
        data_cutoff=_midnight(cutoff_day),
    )


def test_a_compliance_report_after_the_sunset_says_historical(world):
    with time_machine.travel(LATER, tick=False):
        report = _compliance(world["org"], LATER.date())
        evidence = build_evidence(report)
        page = report_html(report, evidence, evidence_sha256="0" * 64)
    (module,) = evidence["fips_modules"]
    assert (module["status"], module["registry_status"]) == ("historical", "active")
    assert module["status_label"] == "Historical (sunset passed)"
    assert module["days_to_sunset"] == -77
    section = page.split('id="fips"')[1].split('id="stig"')[0]
    assert "Historical (sunset passed)" in section
    assert ">Active<" not in section


def test_a_compliance_report_cut_off_before_the_sunset_says_active(world):
    # Built late, but of a window cut off before the sunset: as of its cut-off.
    with time_machine.travel(LATER, tick=False):
        evidence = build_evidence(
            _compliance(world["org"], SUNSET - timedelta(days=10))
        )
    (module,) = evidence["fips_modules"]
    assert (module["status"], module["status_label"]) == ("active", "Active")


def test_an_image_dossier_after_the_sunset_says_historical(world):
    with time_machine.travel(LATER, tick=False):
        report = report_for(
            None,
            kind=Report.Kind.IMAGE_DOSSIER,
            digest=world["image"],
            data_cutoff=_midnight(LATER.date()),
        )
        evidence = build_evidence(report)
        page = report_html(report, evidence, evidence_sha256="0" * 64)
    (module,) = evidence["fips_modules"]
    assert (module["status"], module["registry_status"]) == ("historical", "active")
    assert "Historical (sunset passed)" in page
