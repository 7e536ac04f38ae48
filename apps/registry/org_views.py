"""The organization's Registry page: recent refusals of the token service,
with the reason (the entitlement that was missing), for owners and admins."""

from django.views.generic import TemplateView

from apps.orgs.mixins import OrgMixin
from apps.orgs.permissions import Perm

from .selectors import pull_log_list

RECENT_DENIALS = 100


class RegistryDenialsView(OrgMixin, TemplateView):
    permission = Perm.AUDIT_VIEW
    template_name = "registry/denials.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["denials"] = pull_log_list(org=self.org, denied_only=True)[
            :RECENT_DENIALS
        ]
        context["limit"] = RECENT_DENIALS
        return context
