"""The upgrade story in a real browser, against the local fake of Stripe.

A Community organization's owner opens "Plan and billing", subscribes to
Enterprise, pays on Stripe Checkout, comes back to the plan active with its
invoice, sees the subscription's entitlements, and later sees a failed payment's
grace period. Stripe's webhooks are signed and posted to the live server as
Stripe would post them; tasks run eagerly, so each delivery is processed before
its answer.
"""

import json
import re
import urllib.request
from html import escape

import pytest

from apps.orgs import services as org_services
from tests.billing import conftest as billing_fixtures
from tests.billing.conftest import WEBHOOK_URL
from tests.billing.fake_stripe import sign
from tests.entitlements.builders import ensure_tiers
from tests.factories import UserFactory

from .conftest import snap
from .test_screenshots import Shooter

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The billing tests' fake of Stripe and its prices, used here as they are.
fake_stripe = billing_fixtures.fake_stripe
stripe_prices = billing_fixtures.stripe_prices

OWNER_EMAIL = "ciso@northwind.example"
CHECKOUT = re.compile(r"^https://checkout\.stripe\.com/")
PORTAL = re.compile(r"^https://billing\.stripe\.com/")
# The portal's two doors to Stripe: Checkout and the Billing Portal.
DOORS = re.compile(r"/o/[^/]+/billing/(checkout|portal)/$")
ENTERPRISE_FEATURES = [
    "CVE patch SLA",
    "FIPS variants",
    "STIG variants",
    "Customizations",
    "Single sign-on and enforced MFA",
    "Auditor seats",
]


@pytest.fixture(autouse=True)
def _tiers(db):
    # A transactional test's flush empties the plans the data migration wrote.
    ensure_tiers()


@pytest.fixture
def northwind(stripe_prices):
    owner = UserFactory(email=OWNER_EMAIL)
    org = org_services.org_create(name="Northwind Traders", owner=owner)
    return {"org": org, "owner": owner}


def deliver_live(live_server, events: list[dict]) -> list[dict]:
    """Post each event, signed as Stripe signs it, to the live server's webhook.

    The live server answers from its own thread, so the test client cannot
    reach it: this is a plain HTTP POST, as Stripe's would be.
    """
    answers = []
    for event in events:
        payload = json.dumps(event).encode()
        request = urllib.request.Request(
            live_server.url + WEBHOOK_URL,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sign(payload),
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200, event["type"]
            answer = json.loads(response.read())
        assert answer == {"received": event["id"], "duplicate": False}, answer
        answers.append(answer)
    return answers


def stand_in(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


class StripeStandIns:
    """Stripe's hosted pages, answered by small local pages.

    checkout.stripe.com and billing.stripe.com cannot be reached from here, and
    the real ones would not know the fake's sessions anyway: page.route answers
    in their place. The Checkout stand-in names the session and links to its
    success URL, which is where Stripe sends the customer after paying.

    Chromium follows a server's redirect inside one request, and page.route
    never sees the hop (Playwright's "should not work with redirects"). So the
    portal's own answer to Subscribe or Manage billing is fetched from the live
    server here and recorded, and ``press`` then sends the browser to the
    address of its 303, where the Stripe routes serve it.
    """

    def __init__(self, tab, fake):
        self.tab = tab
        self.fake = fake
        # (status, Location) of each answer of the portal's doors to Stripe.
        self.redirects: list[tuple[int, str]] = []
        page = tab.page
        page.route(CHECKOUT, self._checkout)
        page.route(PORTAL, self._portal)
        page.route(DOORS, self._to_stripe)

    def _to_stripe(self, route):
        # No assert here: a failure inside a handler would leave the request
        # hanging; ``press`` checks what was recorded.
        response = route.fetch(max_redirects=0)
        self.redirects.append((response.status, response.headers.get("location", "")))
        route.fulfill(status=204)

    def _checkout(self, route):
        session_id = route.request.url.rstrip("/").rsplit("/", 1)[-1]
        session = self.fake.sessions.get(session_id)
        if session is None:
            route.fulfill(status=404, content_type="text/html", body="No session")
            return
        route.fulfill(
            status=200,
            content_type="text/html",
            body=stand_in(
                "Stripe Checkout (test stand-in)",
                f"<p id=session>{escape(session_id)}</p>"
                f"<p id=price>{escape(session['_line_items'][0]['price'])}</p>"
                f"<a id=pay href='{escape(session['success_url'])}'>Pay</a> "
                f"<a id=cancel href='{escape(session['cancel_url'])}'>Cancel</a>",
            ),
        )

    def _portal(self, route):
        route.fulfill(
            status=200,
            content_type="text/html",
            body=stand_in("Stripe billing portal (test stand-in)", ""),
        )

    def press(self, button) -> str:
        """Press a button whose form the portal answers with a 303 to Stripe,
        and follow it: the Stripe address the browser lands on."""
        before = len(self.redirects)
        with self.tab.page.expect_response(DOORS) as answer:
            button.click()
        assert answer.value.status == 204
        assert len(self.redirects) == before + 1, "the door was not answered"
        status, location = self.redirects[-1]
        assert status == 303, (status, location)
        response = self.tab.page.goto(location)
        assert response is not None, location
        assert response.status == 200, location
        return location


def test_owner_upgrades_to_enterprise_pays_and_then_a_payment_fails(
    northwind, fake_stripe, live_server, new_tab
):
    slug = northwind["org"].slug
    billing = f"/o/{slug}/billing/"
    s = Shooter(new_tab())
    page = s.page
    stripe = StripeStandIns(s.tab, fake_stripe)
    s.log_in(OWNER_EMAIL)

    # 1. Community, and the plans for sale.
    s.tab.goto(f"/o/{slug}/")
    with page.expect_navigation():
        page.locator("nav.sidebar").get_by_role("link", name="Plan and billing").click()
    assert s.tab.path() == billing
    s.shot("billing_community", h1="Plan and billing")
    main = page.locator("main")
    assert "Northwind Traders has no subscription: its plan is Community" in (
        main.inner_text()
    )
    offers = page.locator("main .offers .plan")
    assert offers.locator("h3").all_inner_texts() == [
        "Select",
        "Enterprise",
        "Extended lifecycle support",
    ]
    assert "No invoices yet." in page.locator("#invoices").inner_text()

    # 2. Subscribe monthly to Enterprise: the portal sends the browser to Checkout.
    enterprise = offers.filter(
        has=page.get_by_role("heading", name="Enterprise", exact=True)
    )
    assert "$2,000 / month" in enterprise.inner_text()
    assert "$20,000 / year" in enterprise.inner_text()
    location = stripe.press(enterprise.get_by_role("button", name="Subscribe monthly"))
    assert CHECKOUT.match(location), location
    assert page.url == location
    session_id = page.locator("#session").inner_text()
    assert page.url.endswith("/" + session_id)
    assert page.locator("#price").inner_text() == "price_enterprise_month"
    snap(page, "billing_checkout_stand_in")

    # 3. The customer pays; Stripe sends them back before its webhooks arrive.
    events = fake_stripe.checkout_complete(session_id)
    with page.expect_navigation():
        page.click("#pay")
    assert s.tab.path() == billing + "?checkout=done"
    s.shot("billing_checkout_returned", h1="Plan and billing")
    assert "Thank you." in page.locator("main .notice").inner_text()

    # 4. Stripe's webhooks: checkout completed, subscription created, invoice paid.
    assert [e["type"] for e in events] == [
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
    ]
    deliver_live(live_server, events)
    subscription_id = events[1]["data"]["object"]["id"]
    invoice_number = events[2]["data"]["object"]["number"]
    s.visit("billing_enterprise_active", billing, h1="Plan and billing")
    current = page.locator("main section.panel")
    assert current.count() == 1
    assert current.locator("h3").inner_text().split() == ["Enterprise", "Active"]
    assert subscription_id in current.inner_text()
    invoices = page.locator("#invoices tbody tr")
    assert invoices.count() == 1
    row = invoices.first.inner_text()
    assert invoice_number in row
    assert "Paid" in row
    manage = main.get_by_role("button", name=re.compile(r"^Manage billing"))
    assert manage.is_visible()
    # Enterprise is held: only the add-on is still for sale.
    assert offers.locator("h3").all_inner_texts() == ["Extended lifecycle support"]

    # 5. The entitlements the subscription grants.
    with page.expect_navigation():
        page.locator("nav.sidebar").get_by_role("link", name="Entitlements").click()
    s.shot("entitlements_enterprise", h1="Entitlements")
    rows = page.locator("#current tbody tr")
    assert rows.count() == 6
    features = [r.locator("td").first.inner_text() for r in rows.all()]
    for name in ENTERPRISE_FEATURES:
        assert any(f.startswith(name) for f in features), (name, features)
    for r in rows.all():
        cells = r.locator("td").all_inner_texts()
        assert cells[4] == "Subscription", cells
        assert cells[6] == "Active", cells
    assert "Customizations (unlimited)" in features
    assert "Auditor seats (unlimited)" in features

    # 6. "Manage billing" opens Stripe's billing portal.
    s.tab.goto(billing)
    location = stripe.press(manage)
    assert PORTAL.match(location), location
    assert "Stripe billing portal" in page.locator("h1").inner_text()

    # 7. A renewal's payment fails: the plan stays on, with a grace period.
    deliver_live(live_server, fake_stripe.payment_fails(subscription_id))
    s.visit("billing_payment_failed", billing, h1="Plan and billing")
    current = page.locator("main section.panel")
    assert current.locator("h3").inner_text().split() == ["Enterprise", "Past", "due"]
    warning = current.locator(".notice.warn").inner_text()
    assert warning.startswith("A payment failed. Your features stay on until ")
    assert "update your card in the billing portal" in warning
    statuses = page.locator("#invoices tbody tr").all_inner_texts()
    assert len(statuses) == 2
    assert "Open" in statuses[0]
    assert "1 failed attempt" in statuses[0]
    assert "Paid" in statuses[1]
    # The features are still on during the grace period.
    s.visit("entitlements_grace", f"/o/{slug}/entitlements/", h1="Entitlements")
    assert page.locator("#current tbody tr").count() == 6
