"""FIPS notices move into the one notice ledger (``notifications.Notification``,
kind ``fips.alert``, subject the event's id), keeping their channel, endpoint,
delivery, run and time, so a notice told before is never told again; then
``FipsNotice`` goes. Reversible: the way back copies the rows back out."""

from django.db import migrations

KIND = "fips.alert"
FIELDS = ("org_id", "channel", "endpoint_id", "delivery_id", "run_id", "created_at")


def into_ledger(apps, schema_editor):
    FipsNotice = apps.get_model("fips", "FipsNotice")
    Notification = apps.get_model("notifications", "Notification")
    rows = (
        Notification(
            kind=KIND,
            subject_id=notice.event_id,
            **{field: getattr(notice, field) for field in FIELDS},
        )
        for notice in FipsNotice.objects.order_by("pk").iterator(chunk_size=2000)
    )
    # No ignore_conflicts: a clash would mean a notice told twice, and the
    # migration should stop there rather than hide it.
    Notification.objects.bulk_create(rows, batch_size=1000)


def out_of_ledger(apps, schema_editor):
    FipsNotice = apps.get_model("fips", "FipsNotice")
    Notification = apps.get_model("notifications", "Notification")
    mine = Notification.objects.filter(kind=KIND)
    FipsNotice.objects.bulk_create(
        (
            FipsNotice(
                event_id=row.subject_id,
                **{field: getattr(row, field) for field in FIELDS},
            )
            for row in mine.order_by("pk").iterator(chunk_size=2000)
        ),
        batch_size=1000,
    )
    mine.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("fips", "0002_digest_modules_events_notices"),
        ("notifications", "0002_one_ledger_for_every_kind"),
    ]

    operations = [
        migrations.RunPython(into_ledger, out_of_ledger),
        migrations.DeleteModel(name="FipsNotice"),
    ]
