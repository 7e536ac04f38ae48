"""The audit log's CSV (staff and organization) carries what strangers typed:
a failed login's email and user agent, an organization's and a token's name.
Opened in a spreadsheet, none of it runs as a formula."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.orgs.models import Organization
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

AGENT = '=HYPERLINK("http://x","y")'
Action = AuditEvent.Action


def _rows(response) -> list[dict]:
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body, newline="")))


def test_a_failed_login_s_email_and_user_agent_are_text_in_the_staff_csv():
    Client(HTTP_USER_AGENT=AGENT).post(
        "/accounts/login/", {"login": "-1+1@x.example", "password": "wrong"}
    )
    assert AuditEvent.objects.filter(action=Action.LOGIN_FAILED).exists()
    staff = Client()
    staff.force_login(UserFactory(is_staff=True))
    (row,) = [
        r
        for r in _rows(staff.get(reverse("staff_audit"), {"format": "csv"}))
        if r["action"] == Action.LOGIN_FAILED
    ]
    assert row["actor_email"] == "'-1+1@x.example"
    assert row["user_agent"] == "'" + AGENT


def test_org_and_token_names_are_text_in_the_org_csv():
    owner = UserFactory()
    browser = Client(HTTP_USER_AGENT="\t=1")
    browser.force_login(owner)
    assert browser.post(reverse("org_list"), {"name": "@SUM(A1)"}).status_code == 302
    org = Organization.objects.get(memberships__user=owner)
    created = browser.post(
        reverse("accounts:tokens", args=[org.slug]),
        {"name": "+1", "scopes": ["evidence:read"]},
    )
    assert created.status_code == 201
    rows = _rows(
        browser.get(reverse("audit:org_log", args=[org.slug]), {"format": "csv"})
    )
    by_action = {r["action"]: r for r in rows}
    assert by_action[Action.ORG_CREATED]["target_repr"] == "'@SUM(A1)"
    assert by_action[Action.TOKEN_CREATED]["target_repr"].startswith("'+1 (")
    assert {r["user_agent"] for r in rows} == {"'\t=1"}
