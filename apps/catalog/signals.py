"""Signals of the catalog, for apps above it to act on."""

from django.dispatch import Signal

# Sent when the catalog learns a repository or a build, inside the transaction
# that stores it: ``repositories`` and ``images`` (lists, either may be empty).
# The vulns app links VEX statements imported before the catalog knew what
# they name (and so stops the clocks they cover).
catalog_learned = Signal()
