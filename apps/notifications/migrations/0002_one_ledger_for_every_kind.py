"""One ledger for every kind of notice: a row names its kind and the id of
its subject instead of an SLA clock and a threshold. SLA rows are rewritten in
place (kind ``sla.<threshold>``, subject the clock); FIPS rows come in from
``fips.FipsNotice`` in fips 0003. Reversible: the SLA rows get their clock and
threshold back (fips 0003 is unapplied first, taking its rows back)."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import F, Q

SLA_KINDS = {"at_risk": "sla.at_risk", "breached": "sla.breached"}


def to_kinds(apps, schema_editor):
    Notification = apps.get_model("notifications", "Notification")
    for threshold, kind in SLA_KINDS.items():
        Notification.objects.filter(threshold=threshold).update(
            kind=kind, subject_id=F("clock_id")
        )


def to_clocks(apps, schema_editor):
    Notification = apps.get_model("notifications", "Notification")
    other = Notification.objects.exclude(kind__in=SLA_KINDS.values())
    if other.exists():
        kinds = sorted(set(other.values_list("kind", flat=True)))
        raise RuntimeError(
            "The ledger before 0002 holds SLA notices only; it also holds "
            f"{', '.join(kinds)}: unapply the migrations that brought them first."
        )
    for threshold, kind in SLA_KINDS.items():
        Notification.objects.filter(kind=kind).update(
            threshold=threshold, clock_id=F("subject_id")
        )


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("sla", "0002_default_policies"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="kind",
            field=models.CharField(default="", max_length=40),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="notification",
            name="subject_id",
            field=models.PositiveBigIntegerField(null=True),
        ),
        # Nullable and defaulted for the way back, so the columns can return
        # before their values do.
        migrations.AlterField(
            model_name="notification",
            name="clock",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="notifications",
                to="sla.slaclock",
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="threshold",
            field=models.CharField(
                choices=[("at_risk", "At risk"), ("breached", "Breached")],
                default="",
                max_length=10,
            ),
        ),
        migrations.RemoveConstraint(
            model_name="notification", name="notification_once_per_channel"
        ),
        migrations.RemoveConstraint(
            model_name="notification", name="notification_once_per_endpoint"
        ),
        migrations.RemoveConstraint(
            model_name="notification", name="notification_endpoint_iff_webhook"
        ),
        migrations.RunPython(to_kinds, to_clocks),
        migrations.RemoveField(model_name="notification", name="clock"),
        migrations.RemoveField(model_name="notification", name="threshold"),
        migrations.AlterField(
            model_name="notification",
            name="subject_id",
            field=models.PositiveBigIntegerField(),
        ),
        migrations.AddConstraint(
            model_name="notification",
            constraint=models.UniqueConstraint(
                condition=Q(endpoint__isnull=True),
                fields=("kind", "subject_id", "org", "channel"),
                name="notice_once_per_channel",
                violation_error_message="This notice was already sent.",
            ),
        ),
        migrations.AddConstraint(
            model_name="notification",
            constraint=models.UniqueConstraint(
                condition=Q(endpoint__isnull=False),
                fields=("kind", "subject_id", "org", "endpoint"),
                name="notice_once_per_endpoint",
                violation_error_message="This notice was already sent here.",
            ),
        ),
        migrations.AddConstraint(
            model_name="notification",
            constraint=models.CheckConstraint(
                condition=Q(channel="webhook", endpoint__isnull=False)
                | (~Q(channel="webhook") & Q(endpoint__isnull=True)),
                name="notice_endpoint_iff_webhook",
                violation_error_message="A webhook notice names its endpoint.",
            ),
        ),
        migrations.AddConstraint(
            model_name="notification",
            constraint=models.CheckConstraint(
                condition=Q(kind__contains="."),
                name="notice_kind_named",
                violation_error_message="A notice names its kind as family.kind.",
            ),
        ),
        migrations.AddConstraint(
            model_name="notification",
            constraint=models.CheckConstraint(
                condition=Q(channel__in=["email", "staff_email", "webhook"]),
                name="notice_channel_known",
                violation_error_message="The channel is email, staff email or webhook.",
            ),
        ),
    ]
