"""Service credits owed to every customer for a window, as a page or CSV."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpResponse
from django.views.generic import TemplateView

from apps.core.exports import csv_response
from apps.core.mixins import StaffOnlyMixin

from ..formats.csv_export import credit_rows
from ..selectors.credits import sla_credits_owed_all
from ..staff_forms import WindowForm
from .presentation import cents_text, with_status


class CreditsView(StaffOnlyMixin, TemplateView):
    template_name = "sla/staff_credits.html"

    def get(self, request, *args, **kwargs):
        form = WindowForm(request.GET)
        start, end = form.window()
        owed = sla_credits_owed_all(start=start, end=end)
        if request.GET.get("format") == "csv" and not form.errors:
            return self._csv(owed, start, end)
        context = self.get_context_data(
            form=form,
            window=(start, end - timedelta(days=1)),
            rows=[
                {
                    "credits": c,
                    "total": cents_text(c.total_cents),
                    "lines": [
                        {
                            "line": line,
                            "credit": cents_text(line.credit_cents),
                            "fee": cents_text(line.fee_cents),
                        }
                        for line in c.lines
                    ],
                }
                for c in owed
            ],
            grand_total=cents_text(sum(c.total_cents for c in owed)),
            csv_query=request.GET.urlencode(),
        )
        return with_status(self.render_to_response(context), form)

    @staticmethod
    def _csv(owed, start, end) -> HttpResponse:
        last = (end - timedelta(days=1)).date()
        name = f"sla-credits-{start.date().isoformat()}-{last.isoformat()}.csv"
        return csv_response(credit_rows(owed), name)
