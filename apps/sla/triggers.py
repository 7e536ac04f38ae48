"""How the rest of the portal tells the ledger that something happened.

Each call schedules an SLA task for after the caller's transaction commits, so
the ledger never reads uncommitted rows and a failure there never undoes the
write that triggered it (the tasks are idempotent; the reconciliation sweep,
``sla.ledger_reconcile`` every hour, opens anything a lost task missed and
records each repair in the audit log).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction


def _after_commit(task, *args, **kwargs) -> None:
    transaction.on_commit(lambda: task.delay(*args, **kwargs))


def mirror_added(*, mirror_id: int) -> None:
    from .tasks import clocks_open_for_mirror

    _after_commit(clocks_open_for_mirror, mirror_id)


def sla_entitlement_started(*, org_id: int) -> None:
    from .tasks import clocks_open_for_org

    _after_commit(clocks_open_for_org, org_id)


def findings_matched(*, digest_ids: Iterable[int] | None) -> None:
    from .tasks import clocks_open_for_digests

    _after_commit(
        clocks_open_for_digests, None if digest_ids is None else sorted(digest_ids)
    )


def vex_statements_stored(*, statement_ids: Iterable[int]) -> None:
    from .tasks import clocks_exempt_by_vex

    ids = sorted(statement_ids)
    if ids:
        _after_commit(clocks_exempt_by_vex, ids)


def vex_statements_changed(
    *, withdrawn_ids: Iterable[int], stored_ids: Iterable[int], reason: str
) -> None:
    """Statements left force (a newer version replaced their document, or it
    was withdrawn) and others came into it: one task, so the clocks the old
    ones stopped resume before the new ones stop them again."""
    from .tasks import clocks_follow_vex

    withdrawn, stored = sorted(withdrawn_ids), sorted(stored_ids)
    if withdrawn or stored:
        _after_commit(clocks_follow_vex, withdrawn, stored, reason)


def mirror_removed(*, org_id: int, repository_id: int) -> None:
    from .tasks import clocks_stop_for_unmirrored

    _after_commit(clocks_stop_for_unmirrored, org_id, repository_id)


def policy_changed(*, org_id: int | None) -> None:
    """A contract policy was assigned (org_id) or a policy got a new version
    (None: every entitled org may now be governed by it)."""
    from .tasks import clocks_open_for_org, ledger_reconcile

    if org_id is None:
        _after_commit(ledger_reconcile)
    else:
        _after_commit(clocks_open_for_org, org_id)


def findings_revised(*, finding_ids: Iterable[int]) -> None:
    """An advisory revision withdrew, restored or gave an upstream fix time to
    these findings: their clocks stop, resume or start from the fix."""
    from .tasks import clocks_follow_findings

    ids = sorted(set(finding_ids))
    if ids:
        _after_commit(clocks_follow_findings, ids)
