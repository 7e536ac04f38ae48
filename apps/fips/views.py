"""The organization's FIPS page: its crypto-module inventory and the events
(status changes, sunsets, module swaps) that concern it."""

from __future__ import annotations

from datetime import UTC

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.views.generic import TemplateView

from apps.entitlements.selectors import FEATURE_ACTIVE, FEATURE_LAPSED, feature_state
from apps.orgs.mixins import OrgMixin
from apps.orgs.permissions import Perm

from . import selectors
from .notices import SUNSET_THRESHOLDS


class OrgFipsView(OrgMixin, TemplateView):
    """Members and auditors read it; it writes nothing."""

    permission = None
    template_name = "fips/org_fips.html"

    def get(self, request, *args, **kwargs):
        access = self.access
        if not (access.can(Perm.ORG_VIEW) or access.can(Perm.EVIDENCE_VIEW)):
            raise PermissionDenied("Your role does not allow this.")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        now = timezone.now()
        org = self.org
        state = feature_state(org=org, feature="fips", now=now)
        mirrors = list(selectors.org_fips_mirrors(org=org))
        inventory = selectors.org_module_inventory(
            org=org, today=now.astimezone(UTC).date(), mirrors=mirrors
        )
        return {
            **super().get_context_data(**kwargs),
            "entitled": state == FEATURE_ACTIVE,
            "lapsed": state == FEATURE_LAPSED,
            "mirrors": mirrors,
            "inventory": inventory,
            "attention": sum(1 for row in inventory if row.tone != "ok"),
            "events": selectors.org_fips_events(org=org, now=now),
            "thresholds": SUNSET_THRESHOLDS,
        }
