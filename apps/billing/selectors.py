from django.db.models import Prefetch

from .models import Plan, PlanFeature, Price


def plan_list_public():
    """Plans with their active prices and grants, in display order."""
    return Plan.objects.prefetch_related(
        Prefetch("prices", queryset=Price.objects.filter(active=True)),
        Prefetch("grants", queryset=PlanFeature.objects.select_related("feature")),
    )
