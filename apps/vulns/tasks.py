from celery import shared_task


@shared_task(
    name="vulns.findings_match",
    acks_late=True,
    soft_time_limit=1800,
    time_limit=1900,
    autoretry_for=(ConnectionError,),
    max_retries=3,
)
def findings_match_task(*, digest_ids: list[int] | None = None) -> dict:
    """Match components to advisories; idempotent, so a redelivery is harmless."""
    from dataclasses import asdict

    from .services import findings_match

    report = findings_match(digests=digest_ids)
    return {k: v for k, v in asdict(report).items() if isinstance(v, int)}
