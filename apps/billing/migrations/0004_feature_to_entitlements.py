"""Feature now lives in entitlements (entitlements 0002): plans point at it
there, and billing's state forgets the model. Nothing changes in the database."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_stripe_state"),
        ("entitlements", "0002_feature_from_billing"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="planfeature",
                    name="feature",
                    field=models.ForeignKey(
                        on_delete=models.deletion.PROTECT,
                        related_name="+",
                        to="entitlements.feature",
                    ),
                ),
                migrations.AlterField(
                    model_name="plan",
                    name="features",
                    field=models.ManyToManyField(
                        related_name="plans",
                        through="billing.PlanFeature",
                        to="entitlements.feature",
                    ),
                ),
                migrations.DeleteModel(name="Feature"),
            ],
            database_operations=[],
        ),
    ]
