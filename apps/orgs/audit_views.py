"""The organization's audit log page: the audit app's list, for one org."""

from django.utils import timezone
from django.views.generic import TemplateView

from apps.audit.selectors import audit_event_list
from apps.audit.views import AuditListMixin, audit_csv_response, audit_filters

from .mixins import OrgMixin
from .permissions import Perm


class OrgAuditLogView(OrgMixin, AuditListMixin, TemplateView):
    permission = Perm.AUDIT_VIEW

    def get(self, request, *args, **kwargs):
        if request.GET.get("format") == "csv":
            form = self.form_class(request.GET)
            events = audit_event_list(
                org=self.org, filters=audit_filters(form)
            ).order_by("id")
            stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
            return audit_csv_response(events, f"audit-{self.org.slug}-{stamp}.csv")
        return super().get(request, *args, **kwargs)
