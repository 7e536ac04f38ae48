"""The ledger hears about what happens elsewhere: a mirror added, an sla
entitlement granted, findings matched, a not_affected VEX statement. Each
opens (or exempts) clocks after the triggering write commits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.entitlements.services import entitlement_grant_contract, mirror_add
from apps.sla.models import SlaClock
from apps.vulns.models import VexStatement
from apps.vulns.services import findings_match, osv_import, vex_statement_author
from tests.factories import MembershipFactory
from tests.vulns.feed_helpers import build, osv_record, variant

from . import builders

MONGO_LIBSSL = (
    "pkg:deb/ubuntu/libssl1.1@1.1.1f-1ubuntu2.16?arch=amd64"
    "&upstream=openssl&distro=ubuntu-20.04"
)


@pytest.fixture
def owner_of(sla_defaults):
    def make(org):
        return MembershipFactory(org=org, role="owner").user

    return make


def test_adding_a_mirror_opens_clocks_on_its_findings(
    owner_of, django_capture_on_commit_callbacks
):
    org = builders.plan_org("select")
    repo, series = builders.repo_and_series()
    finding = builders.finding(series, upstream_fix_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        mirror_add(org=org, repository=repo, actor=owner_of(org))
    clock = SlaClock.objects.get(org=org)
    assert clock.finding == finding


def test_a_community_mirror_opens_no_clock(
    owner_of, django_capture_on_commit_callbacks
):
    org = builders.plan_org("community")
    repo, series = builders.repo_and_series()
    builders.finding(series)
    with django_capture_on_commit_callbacks(execute=True):
        mirror_add(org=org, repository=repo, actor=owner_of(org))
    assert not SlaClock.objects.exists()


def test_granting_sla_opens_clocks_on_existing_mirrors(
    owner_of, django_capture_on_commit_callbacks
):
    org = builders.plan_org("community")
    repo, series = builders.repo_and_series()
    builders.finding(series, upstream_fix_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        mirror_add(org=org, repository=repo, actor=owner_of(org))
    assert not SlaClock.objects.exists()
    # Select's grants as a contract: the ledger's default policy needs them all.
    with django_capture_on_commit_callbacks(execute=True):
        for feature in ("fips", "stig", "sso", "sla"):
            entitlement_grant_contract(
                org=org,
                feature=feature,
                reference="MSA-1",
                starts_at=timezone.now() - timedelta(minutes=1),
                ends_at=None,
                actor=builders.staff(),
            )
        for feature, quantity in (("customizations", 5), ("auditor_seats", 2)):
            entitlement_grant_contract(
                org=org,
                feature=feature,
                quantity=quantity,
                reference="MSA-1",
                starts_at=timezone.now() - timedelta(minutes=1),
                ends_at=None,
                actor=builders.staff(),
            )
    assert SlaClock.objects.filter(org=org).count() == 1


def test_matched_findings_open_clocks_for_orgs_mirroring_the_repository(
    owner_of, django_capture_on_commit_callbacks
):
    osv_import(records=[osv_record("ubuntu/CVE-2023-0286.json")])
    org = builders.plan_org("select")
    mongo = variant()
    build(mongo, timezone.now() - timedelta(days=2), [MONGO_LIBSSL])
    with django_capture_on_commit_callbacks(execute=True):
        mirror_add(org=org, repository=mongo.series.repository, actor=owner_of(org))
    assert not SlaClock.objects.exists()  # nothing matched yet
    with django_capture_on_commit_callbacks(execute=True):
        report = findings_match()
    assert report.findings_created == 1
    clock = SlaClock.objects.get(org=org)
    assert clock.finding.vulnerability.vuln_id == "CVE-2023-0286"
    # Matching again creates nothing and opens nothing twice.
    with django_capture_on_commit_callbacks(execute=True):
        findings_match()
    assert SlaClock.objects.filter(org=org).count() == 1


def test_a_not_affected_statement_exempts_the_running_clocks(
    owner_of, django_capture_on_commit_callbacks
):
    org = builders.plan_org("select")
    repo, series = builders.repo_and_series()
    finding = builders.finding(series, upstream_fix_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        mirror_add(org=org, repository=repo, actor=owner_of(org))
    with django_capture_on_commit_callbacks(execute=True):
        vex_statement_author(
            author=builders.staff(),
            vulnerability_id=finding.vulnerability.vuln_id,
            status=VexStatement.Status.NOT_AFFECTED,
            repository=repo,
            justification="vulnerable_code_not_in_execute_path",
        )
    clock = SlaClock.objects.get(org=org)
    assert clock.state == SlaClock.State.EXEMPT
    assert clock.vex_statement is not None
    assert "execute path" in clock.exempt_reason.lower()
