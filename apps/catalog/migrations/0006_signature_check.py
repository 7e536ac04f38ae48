from django.db import migrations, models


def name_revocations(apps, schema_editor):
    """Attestations a revocation turned Untrusted say so by their check; the
    checks of other verdicts are filled in by the next ``signatures_recheck``."""
    Attestation = apps.get_model("catalog", "Attestation")
    Attestation.objects.filter(
        signature_status="untrusted", signature_signer__revoked_at__isnull=False
    ).update(signature_check="revoked")


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0005_signatures"),
    ]

    operations = [
        migrations.AddField(
            model_name="attestation",
            name="signature_check",
            field=models.CharField(
                blank=True,
                help_text="Which check an Invalid or Untrusted verdict comes from "
                "(signature, subject, transparency_log, revoked, unknown_signer, ...).",
                max_length=20,
            ),
        ),
        migrations.RunPython(name_revocations, migrations.RunPython.noop),
    ]
