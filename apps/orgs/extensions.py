"""What apps above this one add to an organization, registered at their ready().

Organizations sit low in the map of apps (the README's architecture section):
entitlements, tokens and the rest are built on them, so this app never imports
them. Where an organization's page or rule needs their answer, they register it
here instead:

* ``auditor seats``: how many live auditor grants the organization's plan or
  contract allows (entitlements answers; None means unlimited);
* ``dashboard figures``: the counters on the organization's dashboard, each
  shown to the roles holding its permission.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured


class SeatProvider(Protocol):
    def __call__(self, *, org: Any, at: datetime) -> int | None: ...


_seats: list[SeatProvider] = []


def register_seat_provider(provider: SeatProvider) -> None:
    _seats[:] = [provider]


def auditor_seats(*, org, at: datetime) -> int | None:
    """The organization's auditor seats at ``at`` (None: unlimited)."""
    if not _seats:
        raise ImproperlyConfigured(
            "No auditor seat provider is registered (apps.entitlements not installed?)."
        )
    return _seats[0](org=org, at=at)


@dataclass(frozen=True)
class DashboardFigure:
    """One counter on the dashboard: its context name, the permission a role
    needs to see it, and how to count it for an organization."""

    key: str
    permission: str
    count: Callable[[Any], int]


_figures: dict[str, DashboardFigure] = {}


def register_dashboard_figure(figure: DashboardFigure) -> None:
    _figures[figure.key] = figure


def dashboard_figures() -> list[DashboardFigure]:
    return list(_figures.values())
