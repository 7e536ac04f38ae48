"""The README's run command loads this demo: real documents, and it can run twice."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.catalog.models import Attestation, Repository, TrustedSigner
from apps.catalog.signatures import attestations_signature_recheck
from apps.fips.models import DigestCryptoModule, FipsEvent
from apps.notifications.models import Notification
from apps.stig.models import StigScan
from apps.vulns.models import Finding, VexStatement, Vulnerability


@pytest.mark.django_db
def test_demo_loads_real_documents_and_is_idempotent(capsys):
    call_command("seed_demo", password="demo-password-123")
    out = capsys.readouterr().out
    assert "owner@demo.example" in out
    assert "demo-password-123" in out
    assert User.objects.get(email="owner@demo.example").check_password(
        "demo-password-123"
    )
    real = set(
        Repository.objects.filter(is_generated=False).values_list("name", flat=True)
    )
    assert {"alpine-base", "busybox", "static", "mongo", "debian-base"} <= real
    generated = Repository.objects.filter(is_generated=True)
    assert generated.exists()
    assert all("Generated" in r.description for r in generated)
    # The real mongo SBOM carries Ubuntu's vulnerable openssl.
    assert Finding.objects.filter(
        digest__variant__series__repository__name="mongo",
        vulnerability__vuln_id="CVE-2023-0286",
        component__version="1.1.1f-1ubuntu2.16",
    ).exists()
    assert VexStatement.objects.filter(repository__name="busybox").exists()
    # The whole CISA KEV catalog went through the door (none of its entries
    # names a vulnerability of these particular images).
    kev = AuditEvent.objects.get(
        action=AuditEvent.Action.EVIDENCE_IMPORTED, details__kind="kev"
    )
    assert kev.details["entries"] == 1404
    assert Vulnerability.objects.count() > 200
    # FIPS builds carry the real CMVP certificate #4282; one series moved on,
    # and the demo org, mirroring them with FIPS, was told.
    assert DigestCryptoModule.objects.filter(module__certificate_number=4282).exists()
    swap = FipsEvent.objects.get(kind="module_changed")
    assert swap.previous_module.certificate_number == 4282
    assert Notification.objects.filter(
        org__slug="acme", kind="fips.alert", subject_id=swap.pk
    ).exists()
    # A STIG build carries the real RHEL 8 OpenSCAP results.
    scan = StigScan.objects.get()
    assert (scan.benchmark_id, scan.rule_count) == ("RHEL_8_STIG", 248)
    # Publisher staff read the evidence admin the README sends them to.
    staff = Client()
    staff.force_login(User.objects.get(email="staff@demo.example"))
    for path in ("/admin/catalog/attestation/", "/admin/vulns/vulnerability/"):
        assert staff.get(path).status_code == 200, path
    # The demo publisher signed every document it attached, and the portal
    # verified each signature: all Verified by its registered key, but the one
    # provenance changed after signing, which is Invalid.
    statuses = _signature_statuses()
    total = Attestation.objects.count()
    assert statuses == {"verified": total - 1, "invalid": 1}
    assert total >= 80
    invalid = Attestation.objects.get(signature_status="invalid")
    assert (
        invalid.kind,
        invalid.digest.variant.series.repository.name,
        invalid.signature_check,
    ) == ("slsa-provenance", "mongo", "signature")
    assert "changed after signing" in invalid.signature_message
    (signer,) = TrustedSigner.objects.all()
    assert signer.name == "Demo publisher release key"
    assert set(
        Attestation.objects.filter(signature_status="verified").values_list(
            "signature_signer", flat=True
        )
    ) == {signer.pk}
    kinds = set(
        Attestation.objects.filter(signature_status="verified").values_list(
            "kind", flat=True
        )
    )
    assert kinds == {"sbom-cyclonedx", "slsa-provenance", "fips", "stig-scan"}
    # Checked again from the stored documents and signatures: the same.
    assert attestations_signature_recheck() == statuses
    busybox = Client().get(
        Attestation.objects.filter(digest__variant__series__repository__name="busybox")
        .first()
        .digest.get_absolute_url()
    )
    page = busybox.content.decode()
    assert page.count('data-status="verified">Verified<') == 2  # SBOM, provenance
    assert "by Demo publisher release key" in page
    counts = (
        Repository.objects.count(),
        Attestation.objects.count(),
        Finding.objects.count(),
        VexStatement.objects.count(),
    )

    call_command("seed_demo", password="demo-password-456")
    assert (
        Repository.objects.count(),
        Attestation.objects.count(),
        Finding.objects.count(),
        VexStatement.objects.count(),
    ) == counts
    # Run again: the same key, found registered, and the same verdicts.
    assert TrustedSigner.objects.count() == 1
    assert _signature_statuses() == statuses


def _signature_statuses() -> dict[str, int]:
    return dict(Counter(Attestation.objects.values_list("signature_status", flat=True)))


@pytest.mark.django_db
def test_the_demo_ledger_tells_a_story_and_holds(monkeypatch):
    """Acme's clocks come from the services over weeks of demo time: every
    state an SLA page shows, and the ledger check is clean right after."""
    # Under `make run` each write commits and its tasks run at once; inside a
    # test's transaction they would wait for a commit that never comes.
    monkeypatch.setattr(
        "django.db.transaction.on_commit",
        lambda func, using=None, robust=False: func(),
    )
    from io import StringIO

    from apps.orgs.models import AuditorGrant
    from apps.sla.models import LedgerCheckRun, SlaClock

    call_command("seed_demo", password="demo-password-123")
    states = set(
        SlaClock.objects.filter(org__slug="acme").values_list("state", flat=True)
    )
    assert {"open", "at_risk", "breached", "met", "missed"} <= states
    assert LedgerCheckRun.objects.get().ok
    out = StringIO()
    call_command("ledger_check", stdout=out)  # exits 0: no CommandError
    assert "The ledger holds." in out.getvalue()
    # The auditor can sign in to a grant in force today.
    grant = AuditorGrant.objects.get(org__slug="acme")
    assert grant.status == "active"
    # Acme's cluster pulled the builds its clocks track: the registry's
    # reports are attributed to Acme through the token service's grants,
    # and its clock pages say when.
    from apps.registry.models import PullLogEntry, RegistryEvent
    from apps.registry.selectors import images_run_list
    from apps.sla.selectors.clocks import sla_clock_timeline

    acme = grant.org
    assert RegistryEvent.objects.filter(org__isnull=True).count() == 0
    runs = images_run_list(org=acme)
    assert len(runs) >= 4
    pulled = {run.image.pk for run in runs if run.image is not None}
    clock = SlaClock.objects.filter(org=acme, finding__digest_id__in=pulled).first()
    assert clock is not None
    assert {e.key for e in sla_clock_timeline(clock) if e.at} >= {"pulled"}
    # Refusals name what would allow them: Acme's ELS pull, Globex's FIPS pull.
    refused = PullLogEntry.objects.filter(granted=[])
    assert set(refused.values_list("org__slug", flat=True)) == {"acme", "globex"}
    assert {tuple(m) for m in refused.values_list("missing_features", flat=True)} == {
        ("els",),
        ("fips",),
    }
    # Acme is a FedRAMP Class C customer: every clock is under CR26, one
    # reduced and one accepted by its admin, and last month's VER documents
    # hold to FedRAMP's schemas.
    from django.utils import timezone

    from apps.reports.evidence.fedramp import default_window, fedramp_pack
    from apps.sla.selectors.overlay_figures import sla_overlay_figures
    from tests.fedramp.builders import schema_errors

    now = timezone.now()
    figures = sla_overlay_figures(
        org=acme, start=now - timedelta(days=400), end=now, now=now
    )
    cr26 = figures.summary["fedramp_cr26"]["counts"]
    assert "not_applicable" not in cr26
    assert sum(cr26.values()) == SlaClock.objects.filter(org=acme).count()
    pack = fedramp_pack(org=acme, start=now - timedelta(days=45), end=now)
    for kind, document in pack.documents.items():
        assert schema_errors(kind, document) == [], kind
    (accepted,) = pack.documents["avi"]["acceptedVulnerabilities"]
    assert "offline" in accepted["acceptanceRationale"]
    assert any(d["painReductions"] for d in pack.documents["vdt"]["vulnerabilities"])
    assert pack.documents["cmu"]["images"]
    start, end = default_window(now)
    assert fedramp_pack(org=acme, start=start, end=end).documents["vdt"]
