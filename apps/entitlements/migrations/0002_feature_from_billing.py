"""Feature moves from billing to entitlements: entitlements own what can be
granted, plans (billing) sell it. The table and its rows stay as they are here
(state only); 0003 gives the table the entitlements name once billing's state
no longer has the model."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("entitlements", "0001_initial"),
        ("billing", "0003_stripe_state"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Feature",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "key",
                            models.SlugField(
                                choices=[
                                    ("sla", "CVE patch SLA"),
                                    ("fips", "FIPS variants"),
                                    ("stig", "STIG variants"),
                                    ("els", "Extended lifecycle support"),
                                    ("customizations", "Customizations"),
                                    ("sso", "Single sign-on and enforced MFA"),
                                    ("auditor_seats", "Auditor seats"),
                                ],
                                unique=True,
                            ),
                        ),
                        ("name", models.CharField(max_length=100)),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("boolean", "On or off"),
                                    ("counted", "Counted"),
                                ],
                                max_length=10,
                            ),
                        ),
                        (
                            "stripe_lookup_key",
                            models.CharField(max_length=80, unique=True),
                        ),
                    ],
                    options={"ordering": ["key"], "db_table": "billing_feature"},
                ),
                migrations.AlterField(
                    model_name="entitlement",
                    name="feature",
                    field=models.ForeignKey(
                        on_delete=models.deletion.PROTECT,
                        related_name="entitlements",
                        to="entitlements.feature",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
