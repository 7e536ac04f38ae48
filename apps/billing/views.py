from django.views.generic import TemplateView

from .models import Feature
from .selectors import plan_list_public


class PricingView(TemplateView):
    template_name = "billing/pricing.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        plans = list(plan_list_public())
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
