"""A local fake of the parts of Stripe's HTTP API the portal calls, answering
with Stripe's own example objects (apps/billing/testdata/stripe_fixtures3.json,
from stripe/openapi), plus the dashboard-side actions a test needs (a customer
pays, a card fails, a plan changes, a subscription is canceled), each returning
the webhook events Stripe would send, signed with Stripe's scheme.

stripe-python is pointed at it through STRIPE_API_BASE; nothing is patched.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FIXTURES = json.loads(
    (
        Path(__file__).resolve().parents[2]
        / "apps/billing/testdata/stripe_fixtures3.json"
    ).read_text()
)["resources"]
API_KEY = "sk_test_fake_portal"
WEBHOOK_SECRET = "whsec_test_portal_secret"
API_VERSION = "2026-10-28.endive"


def fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(FIXTURES[name])


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    """A Stripe-Signature header: t=<unix time>,v1=HMAC-SHA256(secret, "t.body")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (a[b][0][c]=v) back into dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for part, following in itertools.pairwise([*parts, None]):
            if following is None:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


class FakeStripe:
    """State of one fake Stripe account, and the HTTP server answering for it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.customers: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.prices: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.idempotency: dict[str, dict] = {}
        # Features per price, for the Entitlements summary (lookup keys).
        self.price_features: dict[str, list[str]] = {}
        self.fail_requests = 0
        self.clock = int(time.time())
        self._ids = itertools.count(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeStripe:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}{secrets.token_hex(4)}"

    def tick(self, seconds: int = 1) -> int:
        self.clock += seconds
        return self.clock

    # -- objects -----------------------------------------------------------
    def price_add(
        self, price_id: str, *, amount: int, interval: str, currency="usd", product=""
    ) -> dict:
        price = fixture("price")
        price.update(
            id=price_id,
            unit_amount=amount,
            unit_amount_decimal=str(amount),
            currency=currency,
            product=product or f"prod_{price_id}",
        )
        price["recurring"]["interval"] = interval
        self.prices[price_id] = price
        return price

    def customer_create(self, params: dict) -> dict:
        customer = fixture("customer")
        customer.update(
            id=self.new_id("cus"),
            email=params.get("email"),
            name=params.get("name"),
            metadata=params.get("metadata") or {},
            created=self.tick(),
            discount=None,
        )
        self.customers[customer["id"]] = customer
        return customer

    def session_create(self, params: dict) -> dict:
        session = fixture("checkout.session")
        session_id = self.new_id("cs_test")
        session.update(
            id=session_id,
            mode=params.get("mode"),
            customer=params.get("customer"),
            client_reference_id=params.get("client_reference_id"),
            metadata=params.get("metadata") or {},
            success_url=params.get("success_url"),
            cancel_url=params.get("cancel_url"),
            status="open",
            payment_status="unpaid",
            subscription=None,
            url=f"https://checkout.stripe.com/c/pay/{session_id}",
            created=self.tick(),
        )
        session["_line_items"] = params.get("line_items") or []
        session["_subscription_data"] = params.get("subscription_data") or {}
        self.sessions[session_id] = session
        return session

    def portal_session_create(self, params: dict) -> dict:
        portal = fixture("billing_portal.session")
        portal.update(
            id=self.new_id("bps"),
            customer=params.get("customer"),
            return_url=params.get("return_url"),
            flow=None,
            url=f"https://billing.stripe.com/p/session/{secrets.token_hex(8)}",
            created=self.tick(),
        )
        return portal

    def _price(self, price_id: str) -> dict:
        """A registered price (its amount and interval), else the example's."""
        if price_id in self.prices:
            return copy.deepcopy(self.prices[price_id])
        price = fixture("subscription")["items"]["data"][0]["price"]
        price["id"] = price_id
        return price

    def _item(self, subscription_id: str, price_id: str) -> dict:
        item = fixture("subscription")["items"]["data"][0]
        item["id"] = self.new_id("si")
        item["subscription"] = subscription_id
        item["price"] = self._price(price_id)
        item["plan"]["id"] = price_id
        item["created"] = self.clock
        item["current_period_start"] = self.clock
        item["current_period_end"] = self.clock + 30 * 86400
        return item

    def subscription_create(
        self, *, customer: str, price: str, metadata: dict, status: str = "active"
    ) -> dict:
        subscription = fixture("subscription")
        subscription_id = self.new_id("sub")
        subscription.update(
            id=subscription_id,
            customer=customer,
            status=status,
            metadata=metadata,
            created=self.tick(),
            start_date=self.clock,
            cancel_at=None,
            canceled_at=None,
            cancel_at_period_end=False,
            ended_at=None,
            latest_invoice=None,
        )
        subscription["items"]["data"] = [self._item(subscription_id, price)]
        subscription["items"]["url"] = (
            f"/v1/subscription_items?subscription={subscription_id}"
        )
        self.subscriptions[subscription_id] = subscription
        return subscription

    def invoice_create(self, subscription: dict, *, status: str, attempts=0) -> dict:
        invoice = fixture("invoice")
        invoice_id = self.new_id("in")
        item = subscription["items"]["data"][0]
        invoice.update(
            id=invoice_id,
            customer=subscription["customer"],
            status=status,
            number=f"FAKE-{len(self.invoices) + 1:04d}",
            amount_due=item["price"]["unit_amount"],
            amount_paid=item["price"]["unit_amount"] if status == "paid" else 0,
            amount_remaining=0 if status == "paid" else item["price"]["unit_amount"],
            attempt_count=attempts,
            created=self.tick(),
            period_start=item["current_period_start"],
            period_end=item["current_period_end"],
            hosted_invoice_url=f"https://invoice.stripe.com/i/{invoice_id}",
            invoice_pdf=f"https://pay.stripe.com/invoice/{invoice_id}/pdf",
            parent={
                "quote_details": None,
                "subscription_details": {
                    "metadata": subscription["metadata"],
                    "subscription": subscription["id"],
                },
                "type": "subscription_details",
            },
        )
        self.invoices[invoice_id] = invoice
        subscription["latest_invoice"] = invoice_id
        return invoice

    # -- events ------------------------------------------------------------
    def event(self, type_: str, obj: dict) -> dict:
        """An event carrying a snapshot of ``obj`` as it is now (later
        changes do not reach it, as with Stripe's own stale copies)."""
        event = fixture("event")
        event.update(
            id=self.new_id("evt"),
            type=type_,
            api_version=API_VERSION,
            created=self.tick(),
            livemode=False,
            data={
                "object": {k: v for k, v in copy.deepcopy(obj).items() if k[0] != "_"}
            },
        )
        return event

    # -- what customers do at Stripe (each returns the events sent) ------------
    def checkout_complete(self, session_id: str, *, status: str = "active") -> list:
        with self.lock:
            session = self.sessions[session_id]
            price = session["_line_items"][0]["price"]
            metadata = (session["_subscription_data"] or {}).get("metadata") or {}
            subscription = self.subscription_create(
                customer=session["customer"],
                price=price,
                metadata=metadata,
                status=status,
            )
            invoice = self.invoice_create(subscription, status="paid", attempts=1)
            session.update(
                status="complete",
                payment_status="paid",
                subscription=subscription["id"],
                invoice=invoice["id"],
            )
            return [
                self.event("checkout.session.completed", session),
                self.event("customer.subscription.created", subscription),
                self.event("invoice.paid", invoice),
            ]

    def subscription_change_price(self, subscription_id: str, price: str) -> list:
        with self.lock:
            subscription = self.subscriptions[subscription_id]
            item = subscription["items"]["data"][0]
            item["price"] = self._price(price)
            item["plan"]["id"] = price
            self.tick()
            return [self.event("customer.subscription.updated", subscription)]

    def subscription_set_status(self, subscription_id: str, status: str) -> list:
        types = {
            "canceled": "customer.subscription.deleted",
            "paused": "customer.subscription.paused",
        }
        with self.lock:
            subscription = self.subscriptions[subscription_id]
            previous = subscription["status"]
            subscription["status"] = status
            if status == "canceled":
                subscription["canceled_at"] = subscription["ended_at"] = self.tick()
            type_ = types.get(status, "customer.subscription.updated")
            if previous == "paused" and status == "active":
                type_ = "customer.subscription.resumed"
            return [self.event(type_, subscription)]

    def cancel_at_period_end(self, subscription_id: str) -> list:
        with self.lock:
            subscription = self.subscriptions[subscription_id]
            subscription["cancel_at_period_end"] = True
            subscription["cancel_at"] = subscription["items"]["data"][0][
                "current_period_end"
            ]
            return [self.event("customer.subscription.updated", subscription)]

    def payment_fails(self, subscription_id: str) -> list:
        with self.lock:
            subscription = self.subscriptions[subscription_id]
            invoice = self.invoice_create(subscription, status="open", attempts=1)
            subscription["status"] = "past_due"
            return [
                self.event("invoice.payment_failed", invoice),
                self.event("customer.subscription.updated", subscription),
            ]

    def invoice_pays(self, invoice_id: str) -> list:
        with self.lock:
            invoice = self.invoices[invoice_id]
            invoice.update(
                status="paid",
                amount_paid=invoice["amount_due"],
                amount_remaining=0,
                attempt_count=invoice["attempt_count"] + 1,
            )
            subscription = self.subscriptions[
                invoice["parent"]["subscription_details"]["subscription"]
            ]
            subscription["status"] = "active"
            return [
                self.event("invoice.paid", invoice),
                self.event("customer.subscription.updated", subscription),
            ]

    def entitlement_summary(self, customer: str) -> dict:
        summary = fixture("entitlements.active_entitlement_summary")
        rows = []
        for subscription in self.subscriptions.values():
            if subscription["customer"] != customer or subscription["status"] not in (
                "active",
                "trialing",
                "past_due",
            ):
                continue
            for item in subscription["items"]["data"]:
                for key in self.price_features.get(item["price"]["id"], []):
                    row = copy.deepcopy(summary["entitlements"]["data"][0])
                    row.update(id=self.new_id("ent"), lookup_key=key, livemode=False)
                    row["feature"].update(lookup_key=key, name=key, livemode=False)
                    rows.append(row)
        summary.update(customer=customer, livemode=False)
        summary["entitlements"] = {
            "data": rows,
            "has_more": False,
            "object": "list",
            "url": "/v1/entitlements/active_entitlements",
        }
        return self.event("entitlements.active_entitlement_summary.updated", summary)

    # -- HTTP --------------------------------------------------------------
    def _list(self, rows: list[dict], url: str) -> dict:
        return {"object": "list", "data": rows, "has_more": False, "url": url}

    def answer(self, method: str, path: str, query: dict, body: dict, headers):
        self.requests.append((method, path, body))
        if self.fail_requests:
            self.fail_requests -= 1
            return 500, {"error": {"type": "api_error", "message": "Fake outage."}}
        if headers.get("Authorization") != f"Bearer {API_KEY}":
            return 401, {
                "error": {"type": "invalid_request_error", "message": "Bad API key."}
            }
        key = headers.get("Idempotency-Key")
        if method == "POST" and key and key in self.idempotency:
            return 200, self.idempotency[key]
        with self.lock:
            status, payload = self._route(method, path, query, body)
        if method == "POST" and key and status == 200:
            self.idempotency[key] = payload
        return status, payload

    def _route(self, method, path, query, body):
        def clean(obj):
            return {k: v for k, v in obj.items() if not k.startswith("_")}

        def missing(what):
            return 404, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": f"No such {what}",
                }
            }

        if method == "POST" and path == "/v1/customers":
            return 200, self.customer_create(body)
        if method == "POST" and path == "/v1/checkout/sessions":
            if not body.get("customer") or not body.get("line_items"):
                return 400, {"error": {"type": "invalid_request_error"}}
            return 200, clean(self.session_create(body))
        if method == "POST" and path == "/v1/billing_portal/sessions":
            if body.get("customer") not in self.customers:
                return missing("customer")
            return 200, self.portal_session_create(body)
        if method == "GET" and (m := re.fullmatch(r"/v1/prices/(\w+)", path)):
            found = self.prices.get(m[1])
            return (200, copy.deepcopy(found)) if found else missing("price")
        if method == "GET" and (m := re.fullmatch(r"/v1/subscriptions/(\w+)", path)):
            found = self.subscriptions.get(m[1])
            return (200, copy.deepcopy(found)) if found else missing("subscription")
        if method == "GET" and path == "/v1/subscriptions":
            rows = [
                copy.deepcopy(s)
                for s in self.subscriptions.values()
                if s["customer"] == query.get("customer")
            ]
            return 200, self._list(rows, "/v1/subscriptions")
        if method == "GET" and (m := re.fullmatch(r"/v1/invoices/(\w+)", path)):
            found = self.invoices.get(m[1])
            return (200, copy.deepcopy(found)) if found else missing("invoice")
        if method == "GET" and path == "/v1/invoices":
            rows = [
                copy.deepcopy(i)
                for i in self.invoices.values()
                if i["customer"] == query.get("customer")
            ]
            rows.sort(key=lambda i: -i["created"])
            return 200, self._list(rows[: int(query.get("limit", 10))], "/v1/invoices")
        return 404, {"error": {"type": "invalid_request_error", "message": path}}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                status, payload = fake.answer(
                    method,
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    _nested(parse_qsl(raw)),
                    self.headers,
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def log_message(self, *args):
                pass

        return Handler
