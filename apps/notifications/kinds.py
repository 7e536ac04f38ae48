"""The kinds of notice, as data.

An app with something to tell its customers (SLA thresholds in ``apps.sla``,
FIPS alerts in ``apps.fips``) registers its kinds here from its
``AppConfig.ready()``: what is due, how a digest section and a webhook message
word it. The notice run reads this registry and knows no kind by name, so this
app imports none of the apps that register with it.

A *family* is the kinds whose notices share one section of an email digest and
one webhook message per endpoint (the SLA family: at risk and breached). A
*kind* is one thing to be told once per organization and channel; its name is
the ledger's ``kind`` and the webhook event an endpoint subscribes to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet

# What a kind's finder answers: a queryset of subjects (rows with ``pk`` and
# ``org_id``; the run leaves out those already told in SQL) or the (subject id,
# org id) pairs due (the ledger's unique keys skip those already told).
Due = QuerySet[Any] | Iterable[tuple[int, int]]


@dataclass(frozen=True)
class NoticeFamily:
    """Kinds told together: one digest section, one webhook message each run.

    ``templates`` is a template stem: ``<stem>.txt`` and ``<stem>.html`` are the
    family's section of a digest, ``<stem>_subject.txt`` its part of the
    subject line. A family with ``staff_templates`` (the same three) also has a
    section in the publisher staff's digest, for its kinds marked ``staff``.
    """

    name: str
    templates: str
    # The webhook message: its ``type`` and the key of ``data`` listing subjects.
    message_type: str
    payload_key: str
    # subject ids -> {id: subject}, with what templates and messages read, in a
    # fixed number of queries.
    load: Callable[[list[int]], dict[int, Any]]
    as_json: Callable[[Any, NoticeKind], dict[str, Any]]
    # Where a subject sorts in a section (earliest deadline or event first).
    order: Callable[[Any], Any]
    staff_templates: str = ""
    # Runs before the run's transaction: records what became due (FIPS events
    # found by a sweep); returns how many new things it recorded.
    prepare: Callable[[datetime], int] | None = None


@dataclass(frozen=True)
class NoticeKind:
    """One kind of notice: told once per subject, organization and channel."""

    name: str  # "sla.breached": the ledger's kind and the webhook event
    label: str  # what the webhook form says of the event
    word: str  # what a digest line calls it: "Breached"
    family: NoticeFamily
    find: Callable[[datetime], Due]
    # Also told to publisher staff, in one digest for every organization.
    staff: bool = False

    @property
    def short(self) -> str:
        """The name within its family ("breached"), as templates count it."""
        return self.name.split(".", 1)[-1]


_KINDS: dict[str, NoticeKind] = {}


def notice_kind_register(kind: NoticeKind) -> NoticeKind:
    """Add a kind; registering the same kind again is harmless, another kind
    under a name already taken is a configuration error."""
    held = _KINDS.get(kind.name)
    if held is not None and held != kind:
        raise ImproperlyConfigured(f"Notice kind {kind.name!r} is registered twice.")
    if not kind.name or "." not in kind.name or len(kind.name) > 40:
        raise ImproperlyConfigured(
            f"Notice kind {kind.name!r}: name it '<family>.<kind>', 40 characters"
            " at most."
        )
    _KINDS[kind.name] = kind
    return kind


def notice_kinds() -> list[NoticeKind]:
    """Every registered kind, in the order registered (apps' order)."""
    return list(_KINDS.values())


def notice_kind(name: str) -> NoticeKind | None:
    return _KINDS.get(name)


def notice_families() -> list[NoticeFamily]:
    """Every family of a registered kind, in the order first registered."""
    seen: dict[str, NoticeFamily] = {}
    for kind in _KINDS.values():
        seen.setdefault(kind.family.name, kind.family)
    return list(seen.values())


def webhook_event_choices() -> list[tuple[str, str]]:
    """The events a webhook endpoint may subscribe to: one per kind."""
    return [(kind.name, kind.label) for kind in _KINDS.values()]
