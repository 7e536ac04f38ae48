from django.db import migrations


def load(apps, schema_editor):
    from apps.sla.defaults import defaults_load

    defaults_load(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0001_initial"),
        ("billing", "0002_tiers"),
    ]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
