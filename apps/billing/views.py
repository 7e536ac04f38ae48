"""Pricing (public), the org billing page, Checkout and Billing Portal
redirects, the Stripe webhook and the staff view of received events."""

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.inputs import ascii_int
from apps.core.mixins import StaffOnlyMixin
from apps.entitlements.models import Entitlement, Feature
from apps.entitlements.selectors import entitlement_list
from apps.orgs.mixins import OrgMixin
from apps.orgs.permissions import Perm

from . import selectors
from .models import Price, StripeEvent
from .services import checkout, events, stripe_api
from .services.sync import grace_ends
from .tasks import enqueue_event

logger = logging.getLogger(__name__)


class PricingView(TemplateView):
    template_name = "billing/pricing.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        plans = list(selectors.plan_list_public())
        features = list(Feature.objects.all())
        for plan in plans:
            granted = {g.feature_id: g for g in plan.grants.all()}
            # One cell per feature, in the features' order, for the table.
            plan.cells = [(f, granted.get(f.pk)) for f in features]
            plan.monthly = next(
                (p for p in plan.prices.all() if p.interval == "month"), None
            )
            plan.yearly = next(
                (p for p in plan.prices.all() if p.interval == "year"), None
            )
        context["plans"] = [p for p in plans if not p.is_addon]
        context["addons"] = [p for p in plans if p.is_addon]
        context["features"] = features
        return context


class BillingView(OrgMixin, TemplateView):
    permission = Perm.BILLING_MANAGE
    template_name = "billing/billing.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        subscriptions = list(selectors.subscription_list(org=self.org))
        plans = {p.key: p for p in selectors.plan_list()}
        live_keys = set()
        for sub in subscriptions:
            sub.plans = [plans[k] for k in sub.plan_keys if k in plans]
            sub.grace_ends = grace_ends(sub)
            sub.is_live = sub.status in ("active", "trialing", "past_due")
            if sub.is_live:
                live_keys.update(sub.plan_keys)
        has_plan = any(not plans[k].is_addon for k in live_keys if k in plans)
        offers = [
            price
            for price in selectors.price_list_for_sale()
            if price.plan.key not in live_keys and (price.plan.is_addon or not has_plan)
        ]
        arranged = [
            e
            for e in entitlement_list(org=self.org)
            if e.source != Entitlement.Source.SUBSCRIPTION and e.status(now) == "active"
        ]
        context.update(
            arranged=arranged,
            configured=stripe_api.stripe_configured(),
            account=selectors.billing_account_get(org=self.org),
            live=[s for s in subscriptions if s.is_live],
            ended=[s for s in subscriptions if not s.is_live],
            invoices=selectors.invoice_list(org=self.org),
            offers=offers,
            has_plan=has_plan,
            now=now,
            checkout_state=self.request.GET.get("checkout", ""),
        )
        return context


def _to_stripe(request, org, back: str, what: str, open_session) -> HttpResponse:
    """Send the browser to the Stripe page ``open_session()`` returns (303), or
    back to the billing page with the reason it could not."""
    try:
        url = open_session()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except stripe_api.StripeNotConfiguredError:
        messages.error(request, "Online payment is not configured.")
    except checkout.StripeUnavailableError as exc:
        logger.warning("%s failed for org %s: %s", what, org.pk, exc)
        messages.error(request, f"Stripe could not open the {what}. Try again shortly.")
    else:
        return HttpResponseRedirect(url, status=303)
    return redirect(back)


class BillingCheckoutView(OrgMixin, View):
    permission = Perm.BILLING_MANAGE

    def post(self, request, org_slug):
        pk = ascii_int(request.POST.get("price", ""))
        price = (
            Price.objects.filter(pk=pk).select_related("plan").first()
            if pk is not None
            else None
        )
        back = reverse("billing:billing", kwargs={"org_slug": org_slug})
        if price is None:
            messages.error(request, "Choose a plan to buy.")
            return redirect(back)
        return _to_stripe(
            request,
            self.org,
            back,
            "checkout",
            lambda: checkout.billing_checkout_start(
                org=self.org,
                price=price,
                actor=request.user,
                request=request,
                success_url=request.build_absolute_uri(back) + "?checkout=done",
                cancel_url=request.build_absolute_uri(back) + "?checkout=canceled",
            ),
        )


class BillingPortalView(OrgMixin, View):
    permission = Perm.BILLING_MANAGE

    def post(self, request, org_slug):
        back = reverse("billing:billing", kwargs={"org_slug": org_slug})
        return _to_stripe(
            request,
            self.org,
            back,
            "billing portal",
            lambda: checkout.billing_portal_open(
                org=self.org,
                actor=request.user,
                request=request,
                return_url=request.build_absolute_uri(back),
            ),
        )


@method_decorator(csrf_exempt, name="dispatch")
class StripeWebhookView(View):
    """Verify, store once, answer at once; a task does the work."""

    http_method_names = ["post"]

    def post(self, request):
        try:
            event, created = events.stripe_event_receive(
                payload=request.body,
                signature=request.headers.get("Stripe-Signature"),
            )
        except stripe_api.StripeNotConfiguredError:
            return JsonResponse({"error": "Stripe is not configured."}, status=503)
        except events.WebhookRefusedError as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        # A redelivery of an event not yet done is a reason to try again.
        if event.processed_at is None:
            enqueue_event(event.pk)
        return JsonResponse({"received": event.event_id, "duplicate": not created})


class StaffBillingEventsView(StaffOnlyMixin, TemplateView):
    template_name = "billing/staff_events.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        state = self.request.GET.get("state", "")
        if state not in ("", "processed", "pending", "failing"):
            state = ""
        page = Paginator(selectors.stripe_event_list(state=state), 50).get_page(
            self.request.GET.get("page")
        )
        context.update(
            page=page, state=state, configured=stripe_api.stripe_configured()
        )
        return context


class StaffBillingEventRetryView(StaffOnlyMixin, View):
    def post(self, request, pk):
        event = get_object_or_404(StripeEvent, pk=pk)
        if event.processed_at is not None:
            messages.info(request, f"{event.event_id} is already processed.")
        else:
            audit_record(
                action=AuditEvent.Action.BILLING_EVENT_RETRIED,
                actor=request.user,
                org=event.org,
                target=event,
                request=request,
                details={"event": event.event_id, "attempts": event.attempts},
            )
            enqueue_event(event.pk)
            messages.success(request, f"{event.event_id} is queued again.")
        return redirect("staff_billing_events")
