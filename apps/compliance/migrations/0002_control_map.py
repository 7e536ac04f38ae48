from django.db import migrations


def load(apps, schema_editor):
    from apps.compliance.services import DEFAULT_MAP, control_map_apply, control_map_parse

    control_map_apply(control_map_parse(DEFAULT_MAP.read_bytes()), apps=apps)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
