"""The staff credits CSV names each customer; a name that starts like a
formula opens in a spreadsheet as text."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.orgs.models import Organization
from apps.sla import services
from tests.factories import UserFactory

from . import builders as b
from .test_staff import clock_on

pytestmark = pytest.mark.django_db

NAME = '=HYPERLINK("http://x","y")'


def test_an_org_name_that_starts_like_a_formula_is_text(client):
    staff = b.staff()
    version = services.sla_policy_create(
        key="contract-formulas",
        name="Contract",
        actor=staff,
        critical_days=7,
        high_days=7,
        credit_percent_per_breach=10,
    )
    owner = UserFactory()
    browser = Client()
    browser.force_login(owner)
    # The name as its owner typed it on the page.
    assert browser.post(reverse("org_list"), {"name": NAME}).status_code == 302
    org = Organization.objects.get(memberships__user=owner)
    services.sla_policy_assign(
        org=org,
        policy=version.policy,
        effective_from=timezone.now() - timedelta(days=60),
        actor=staff,
        monthly_fee_cents=100_000,
    )
    clock_on(org, version, due_in=-2)
    client.force_login(staff)
    today = timezone.now().date()
    response = client.get(
        reverse("staff_sla_credits"),
        {"start": str(today - timedelta(days=10)), "end": str(today), "format": "csv"},
    )
    body = b"".join(response.streaming_content).decode()
    (row,) = csv.DictReader(io.StringIO(body, newline=""))
    assert row["org_slug"] == org.slug
    assert row["org_name"] == "'" + NAME
    assert int(row["breaches"]) == 1
