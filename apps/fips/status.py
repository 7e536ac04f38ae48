"""A certificate's status on a day, derived from its dates.

The registry row keeps what CMVP (or staff) last said. What the portal states
is derived: a certificate whose sunset date has come is historical on that
day whatever the row still says, and a revoked one stays revoked. Pages use
today; reports use their data cut-off. Nothing here reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from .models import CryptoModule

Status = CryptoModule.Status


@dataclass(frozen=True)
class ModuleStatus:
    """A module's status on ``day``, and whether its dates decided it."""

    status: str  # a CryptoModule.Status value
    registry_status: str  # what the registry row says
    day: date
    sunset_passed: bool

    @property
    def derived(self) -> bool:
        """The status differs from the registry row because of a date."""
        return self.status != self.registry_status

    @property
    def active(self) -> bool:
        return self.status == Status.ACTIVE

    @property
    def label(self) -> str:
        """``Active``, ``Revoked``, ``Historical`` or ``Historical (sunset
        passed)`` when the sunset date, not the registry, made it so."""
        label = Status(self.status).label
        if self.derived and self.sunset_passed:
            return f"{label} (sunset passed)"
        return label


def module_status(module: CryptoModule, *, on: date | datetime) -> ModuleStatus:
    """The status of ``module`` on a day (a datetime counts by its UTC day).

    Revoked stays revoked; a certificate on or past its sunset date is
    historical (CMVP moves it to the historical list on that date); otherwise
    the registry's status stands.
    """
    day = on.astimezone(UTC).date() if isinstance(on, datetime) else on
    passed = module.sunset_date is not None and module.sunset_date <= day
    status = module.status
    if status != Status.REVOKED and passed:
        status = Status.HISTORICAL
    return ModuleStatus(
        status=status, registry_status=module.status, day=day, sunset_passed=passed
    )
