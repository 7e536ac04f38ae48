"""Report request ids belong to the organization that sent them: another
organization may use the same id and gets its own report, learning nothing of
the first; within an organization an id is still one report, however often it
is sent. The staff reports across customers (no organization) share one set
of ids, the publisher's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.reports.models import Report
from apps.reports.services import intake
from tests.factories import MembershipFactory, UserFactory
from tests.reports.test_api import REPORTS, bearer, body

Scope = ApiToken.Scope
Kind = Report.Kind

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _post(client, headers, **overrides):
    return client.post(
        REPORTS, body(**overrides), content_type="application/json", **headers
    )


def _window() -> tuple:
    today = timezone.now().date()
    return today - timedelta(days=30), today - timedelta(days=1)


@pytest.fixture
def tokens(org, owner, other_org):
    theirs = MembershipFactory(org=other_org, role="owner").user
    return (
        bearer(org, owner.user, Scope.REPORTS_WRITE, Scope.EVIDENCE_READ),
        bearer(other_org, theirs, Scope.REPORTS_WRITE, Scope.EVIDENCE_READ),
    )


def test_another_org_may_use_an_id_already_used_and_gets_its_own_report(
    client, org, other_org, tokens
):
    ours, theirs = tokens
    first = _post(client, ours, request_id="shared-1")
    assert first.status_code == 201
    # The same id, the same parameters, from the other organization.
    elsewhere = _post(client, theirs, request_id="shared-1")
    assert elsewhere.status_code == 201, elsewhere.content
    assert elsewhere.json()["id"] != first.json()["id"]
    assert elsewhere.json()["request_id"] == "shared-1"
    theirs_report = Report.objects.get(public_id=elsewhere.json()["id"])
    assert theirs_report.org == other_org
    # Its request is audited in its own organization.
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.REPORT_REQUESTED,
        org=other_org,
        target_id=str(theirs_report.pk),
    ).exists()
    # The first organization sending it again gets its own report back.
    again = _post(client, ours, request_id="shared-1")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Report.objects.get(public_id=first.json()["id"]).org == org
    assert Report.objects.filter(request_id="shared-1").count() == 2


def test_other_parameters_under_another_orgs_id_reveal_nothing(client, tokens):
    ours, theirs = tokens
    assert _post(client, ours, request_id="taken-elsewhere").status_code == 201
    # Other parameters under the id the first org used: a fresh request, not
    # a refusal that would say the id is taken.
    answer = _post(client, theirs, request_id="taken-elsewhere", kind="poam")
    assert answer.status_code == 201, answer.content
    assert answer.json()["kind"] == "poam"
    assert "already used" not in answer.content.decode()
    # Its own id, sent again with other parameters, is refused as before.
    refused = _post(client, theirs, request_id="taken-elsewhere")
    assert refused.status_code == 400
    assert "request id already used" in str(refused.json())


def test_the_form_of_another_org_accepts_an_id_used_elsewhere(
    org, other_org, owner, client_for
):
    start, end = _window()
    intake.report_request(
        org=org,
        kind=Kind.ORG_COMPLIANCE,
        window_start=start,
        window_end=end,
        request_id="form-shared",
        actor=owner.user,
    )
    theirs = MembershipFactory(org=other_org, role="owner").user
    response = client_for(theirs).post(
        reverse("reports:list", args=[other_org.slug]),
        {
            "kind": "org_compliance",
            "window_start": str(start),
            "window_end": str(end),
            "request_id": "form-shared",
        },
    )
    assert response.status_code == 302, response.content.decode()[-800:]
    report = Report.objects.for_org(other_org).get(request_id="form-shared")
    assert response["Location"] == reverse(
        "reports:detail", args=[other_org.slug, report.public_id]
    )
    assert Report.objects.filter(request_id="form-shared").count() == 2


def test_the_service_keeps_ids_apart_per_org(org, other_org, owner):
    start, end = _window()
    theirs = MembershipFactory(org=other_org, role="owner").user
    args = {
        "kind": Kind.ORG_COMPLIANCE,
        "window_start": start,
        "window_end": end,
        "request_id": "svc-1",
    }
    ours, created = intake.report_request(org=org, actor=owner.user, **args)
    other, other_created = intake.report_request(org=other_org, actor=theirs, **args)
    again, again_created = intake.report_request(org=org, actor=owner.user, **args)
    assert (created, other_created, again_created) == (True, True, False)
    assert (ours.org, other.org) == (org, other_org)
    assert again.pk == ours.pk != other.pk


def test_a_role_that_cannot_request_gets_no_report_back_by_its_id(org, owner):
    start, end = _window()
    args = {
        "org": org,
        "kind": Kind.ORG_COMPLIANCE,
        "window_start": start,
        "window_end": end,
        "request_id": "owner-only",
    }
    intake.report_request(actor=owner.user, **args)
    member = MembershipFactory(org=org, role="member").user
    with pytest.raises(PermissionDenied):
        intake.report_request(actor=member, **args)


def test_staff_reports_share_the_publishers_ids(org, owner):
    start, end = _window()
    first_staff, second_staff = UserFactory(is_staff=True), UserFactory(is_staff=True)
    args = {
        "org": None,
        "kind": Kind.SLA_PERFORMANCE,
        "window_start": start,
        "window_end": end,
        "request_id": "staff-1",
    }
    report, created = intake.report_request(actor=first_staff, **args)
    again, created_again = intake.report_request(actor=second_staff, **args)
    assert (created, created_again) == (True, False)
    assert again.pk == report.pk
    with pytest.raises(ValidationError, match="request id already used"):
        intake.report_request(
            **{**args, "window_start": start - timedelta(days=1)}, actor=first_staff
        )
    # An organization's use of the same id is its own.
    ours, ours_created = intake.report_request(
        org=org,
        kind=Kind.ORG_COMPLIANCE,
        window_start=start,
        window_end=end,
        request_id="staff-1",
        actor=owner.user,
    )
    assert ours_created
    assert ours.pk != report.pk


def _row(org, request_id: str) -> Report:
    return Report.objects.create(
        request_id=request_id,
        kind=Kind.SLA_PERFORMANCE if org is None else Kind.ORG_COMPLIANCE,
        org=org,
        data_cutoff=timezone.now(),
    )


def test_the_database_keeps_one_report_per_org_and_id(org, other_org):
    _row(org, "db-1")
    _row(other_org, "db-1")
    _row(None, "db-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(org, "db-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(None, "db-1")
    assert Report.objects.filter(request_id="db-1").count() == 3
