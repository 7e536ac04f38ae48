# Built without locking writes to the clock table (CREATE INDEX CONCURRENTLY).

from django.db import migrations, models

from apps.core.migration_operations import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("orgs", "0001_initial"),
        ("sla", "0004_fewer_clock_indexes"),
        ("vulns", "0002_finding_fewer_indexes"),
    ]

    operations = [
        AddIndexOnline(
            model_name="slaclock",
            index=models.Index(
                models.F("org"),
                models.OrderBy(models.F("stopped_at"), descending=True),
                models.F("due_at"),
                models.OrderBy(models.F("id"), descending=True),
                name="sla_clock_org_list",
            ),
        ),
    ]
