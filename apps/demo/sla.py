"""The demo's SLA story (manage.py seed_demo): weeks of a customer's ledger
played through the real services at the times they happen, so every clock's
start, deadline and ending comes from the evidence, never from a hand-set date.

The caller moves the clock (seed_demo travels in time); each step here only
does what the publisher would have done that day: publish a build that fixes
findings, or one that brings a new vulnerable package.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from apps.catalog import services as catalog
from apps.catalog.models import ImageDigest, Variant
from apps.demo.catalog import SAFE_PYPI, VULNERABLE_PYPI, generated_cyclonedx
from apps.demo.signing import demo_detached
from apps.evidence.ingest import evidence_import
from apps.sla import clock as arithmetic
from apps.sla.models import SlaPolicyVersion
from apps.sla.services import sla_transitions_run
from apps.vulns.models import DigestComponent, Finding
from apps.vulns.services import findings_match


def _build(variant: Variant, label: str, packages: list[tuple[str, str]], actor):
    """Publish a new build of the variant with these packages, and match it."""
    name = variant.series.repository.name
    digest = "sha256:" + hashlib.sha256(f"{name}/{label}".encode()).hexdigest()
    if ImageDigest.objects.filter(digest=digest).exists():
        return None
    suffix = f"-{variant.suffix}" if variant.suffix else ""
    image = catalog.digest_register(
        variant=variant,
        digest=digest,
        built_at=timezone.now(),
        tags=[f"{variant.series.name}{suffix}"],
    )
    sbom = generated_cyclonedx(name=name, digest=digest, packages=packages)
    evidence_import(
        kind="sbom",
        content=sbom,
        digest=digest,
        actor=actor,
        match=False,
        signature=demo_detached(sbom, name=f"{name}.cdx.json"),
    )
    findings_match(digests=[image])
    sla_transitions_run()
    return image


def demo_fix_release(*, variant: Variant, actor, label: str):
    """A build without any of the vulnerable packages: every open finding of
    the variant is fixed by it (met or missed by its clock's deadline)."""
    return _build(variant, label, list(SAFE_PYPI), actor)


def demo_vulnerable_release(*, variant: Variant, actor, label: str):
    """The variant's newest build plus one vulnerable package it lacked: its
    findings are new, detected today."""
    newest = variant.digests.order_by("-built_at", "-id").first()
    held = set(
        DigestComponent.objects.filter(digest=newest, component__type="pypi")
        .values_list("component__name", "component__version")
        .order_by()
    )
    added = next((p for p in VULNERABLE_PYPI if p not in held), None)
    if added is None:
        return None
    return _build(variant, label, sorted(held | {added}), actor)


def at_risk_start(*, version: SlaPolicyVersion, severity: str, now: datetime):
    """How long before ``now`` a clock of this policy must start to be at
    risk but not yet breached now (the story's last release is dated by it)."""
    days = version.days_for(severity)
    if days is None:
        return None
    for hours in range(24, 24 * 30, 6):
        start = now - timedelta(hours=hours)
        due_at, _ = arithmetic.due(start, days, version.calendar)
        risk = arithmetic.at_risk(start, due_at, version.at_risk_percent)
        if risk <= now - timedelta(hours=6) and due_at >= now + timedelta(hours=12):
            return start
    return None


def demo_variants_by_exposure(*, repositories) -> list[Variant]:
    """The non-FIPS variants of these repositories, the most critical and
    high open findings first (the story fixes the ones that matter)."""
    exposure = Count(
        "digests__findings",
        filter=Q(
            digests__findings__status=Finding.Status.AFFECTED,
            digests__findings__severity__in=["critical", "high"],
        ),
    )
    return list(
        Variant.objects.filter(series__repository__in=repositories, fips=False)
        .annotate(exposure=exposure)
        .order_by("-exposure", "pk")
    )
