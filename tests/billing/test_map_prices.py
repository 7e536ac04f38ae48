"""manage.py billing_map_prices: Stripe Price ids stored only when Stripe's
Price bills what the portal's row says."""

import pytest
from django.core.management import CommandError, call_command

from apps.billing.models import Plan, Price


@pytest.fixture
def select_month(db):
    return Price.objects.get(plan__key="select", interval="month", active=True)


def run(*args):
    call_command("billing_map_prices", *args)


def test_a_matching_price_is_stored_with_its_product(fake_stripe, select_month):
    fake_stripe.price_add(
        "price_sel_m", amount=select_month.amount, interval="month", product="prod_sel"
    )
    run("select:month=price_sel_m")
    select_month.refresh_from_db()
    assert select_month.stripe_price_id == "price_sel_m"
    assert Plan.objects.get(key="select").stripe_product_id == "prod_sel"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": 1}, "costs 1"),
        ({"interval": "year"}, "bills every 1 year"),
        ({"currency": "eur"}, "is in eur"),
    ],
)
def test_a_price_that_bills_differently_is_refused(
    fake_stripe, select_month, changes, message
):
    spec = {"amount": select_month.amount, "interval": "month", **changes}
    fake_stripe.price_add("price_bad", **spec)
    with pytest.raises(CommandError, match=message):
        run("select:month=price_bad")
    select_month.refresh_from_db()
    assert select_month.stripe_price_id == ""


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("select=price_1", "expected PLAN:INTERVAL=price_id"),
        ("select:week=price_1", "expected PLAN:INTERVAL=price_id"),
        ("select:month=prod_1", "expected PLAN:INTERVAL=price_id"),
        ("nosuch:month=price_1", "no active monthly price for plan 'nosuch'"),
        ("community:month=price_1", "no active monthly price"),
        ("select:month=price_missing", "Stripe has no price price_missing"),
    ],
)
def test_bad_arguments_are_refused_clearly(
    fake_stripe, select_month, argument, message
):
    with pytest.raises(CommandError, match=message):
        run(argument)


def test_all_or_nothing_when_one_mapping_is_bad(fake_stripe, select_month):
    fake_stripe.price_add("price_ok", amount=select_month.amount, interval="month")
    with pytest.raises(CommandError):
        run("select:month=price_ok", "select:year=price_missing")
    select_month.refresh_from_db()
    assert select_month.stripe_price_id == ""


def test_one_stripe_price_cannot_map_two_rows(fake_stripe, select_month):
    with pytest.raises(CommandError, match="given for two prices"):
        run("select:month=price_x", "select:year=price_x", "--no-verify")


def test_without_stripe_keys_it_says_to_use_no_verify(settings, select_month):
    settings.STRIPE_SECRET_KEY = ""
    with pytest.raises(CommandError, match="--no-verify"):
        run("select:month=price_1")
    run("select:month=price_1", "--no-verify")
    select_month.refresh_from_db()
    assert select_month.stripe_price_id == "price_1"


def test_a_stripe_price_mapped_to_another_row_is_refused(fake_stripe, select_month):
    run("select:year=price_taken", "--no-verify")
    with pytest.raises(CommandError, match="already maps another price"):
        run("select:month=price_taken", "--no-verify")
