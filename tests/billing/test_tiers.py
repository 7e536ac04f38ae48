"""The tiers of DESIGN.md section 2 are rows, and the pricing page shows them."""

from __future__ import annotations

import ast
import pathlib

import pytest
from django.urls import reverse

from apps.billing.models import Plan, PlanFeature, Price
from apps.billing.tiers import tiers_load
from apps.entitlements.models import Feature, FeatureKey

pytestmark = pytest.mark.django_db
UNLIMITED = None


def _grants(plan_key: str) -> dict[str, int | None]:
    return dict(
        PlanFeature.objects.filter(plan__key=plan_key).values_list(
            "feature__key", "quantity"
        )
    )


def test_every_feature_guards_ask_about_is_a_row():
    assert set(Feature.objects.values_list("key", flat=True)) == set(FeatureKey.values)
    counted = set(
        Feature.objects.filter(kind=Feature.Kind.COUNTED).values_list("key", flat=True)
    )
    assert counted == {"customizations", "auditor_seats"}
    for feature in Feature.objects.all():
        assert feature.stripe_lookup_key == feature.key


def test_the_plans_grant_what_the_design_says():
    assert list(Plan.objects.values_list("key", "is_addon")) == [
        ("community", False),
        ("select", False),
        ("enterprise", False),
        ("els", True),
    ]
    assert _grants("community") == {}
    assert _grants("select") == {
        "sla": None,
        "fips": None,
        "stig": None,
        "customizations": 5,
        "sso": None,
        "auditor_seats": 2,
    }
    assert _grants("enterprise") == {
        "sla": None,
        "fips": None,
        "stig": None,
        "customizations": UNLIMITED,
        "sso": None,
        "auditor_seats": UNLIMITED,
    }
    assert _grants("els") == {"els": None}


def test_prices_are_integer_minor_units_monthly_and_yearly_and_unmapped():
    assert not Price.objects.filter(plan__key="community").exists()
    for key in ("select", "enterprise", "els"):
        intervals = set(
            Price.objects.filter(plan__key=key, active=True).values_list(
                "interval", flat=True
            )
        )
        assert intervals == {"month", "year"}
    for price in Price.objects.all():
        assert isinstance(price.amount, int)
        assert price.amount > 0
        assert price.currency == "usd"
        assert price.stripe_price_id == ""  # the Stripe side maps them
    assert not Plan.objects.exclude(stripe_product_id="").exists()


def test_loading_again_changes_nothing():
    before = (
        list(Feature.objects.values()),
        list(Plan.objects.values()),
        list(Price.objects.values()),
        list(PlanFeature.objects.values()),
    )
    tiers_load()
    after = (
        list(Feature.objects.values()),
        list(Plan.objects.values()),
        list(Price.objects.values()),
        list(PlanFeature.objects.values()),
    )
    assert before == after


def test_pricing_page_is_rendered_from_the_rows(client):
    response = client.get(reverse("pricing"))
    assert response.status_code == 200
    body = response.content.decode()
    for plan in Plan.objects.all():
        assert plan.name in body
    assert "$500" in body
    assert "$2,000" in body
    assert "Free" in body
    assert "Auditor seats: 2" in body
    assert "Auditor seats: unlimited" in body
    # A row changed is the page changed: nothing is hard-coded in the template.
    Plan.objects.filter(key="select").update(name="Select Plus")
    Price.objects.filter(plan__key="select", interval="month").update(amount=61234)
    body = client.get(reverse("pricing")).content.decode()
    assert "Select Plus" in body
    assert "$612.34" in body


def test_pricing_page_reads_a_fixed_number_of_queries(
    client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        client.get(reverse("pricing"))


TIER_NAMES = {"community", "select", "enterprise", "els"}


def test_no_tier_name_in_any_if_of_the_code():
    """Tiers are data: no ``if`` (or comparison) in our code names a plan."""
    root = pathlib.Path(__file__).resolve().parents[2] / "apps"
    offenders = []
    for path in root.rglob("*.py"):
        if "migrations" in path.parts or path.name == "tiers.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.If | ast.IfExp | ast.Compare | ast.match_case):
                offenders.extend(
                    f"{path}:{sub.lineno}"
                    for sub in ast.walk(node)
                    if isinstance(sub, ast.Constant)
                    and isinstance(sub.value, str)
                    and sub.value.lower() in TIER_NAMES
                )
    assert not offenders, offenders
