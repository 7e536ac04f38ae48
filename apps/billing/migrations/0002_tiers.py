"""Load the tiers of DESIGN.md section 2 (apps/billing/tiers.py)."""

from django.db import migrations

from apps.billing.tiers import tiers_load


def load(apps, schema_editor):
    tiers_load(apps)


def unload(apps, schema_editor):
    for model in ("PlanFeature", "Price", "Plan", "Feature"):
        apps.get_model("billing", model).objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
