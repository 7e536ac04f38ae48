"""The features table takes the entitlements name (billing_feature ->
entitlements_feature); foreign keys to it follow the rename."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("entitlements", "0002_feature_from_billing"),
        ("billing", "0004_feature_to_entitlements"),
    ]

    operations = [migrations.AlterModelTable(name="feature", table=None)]
