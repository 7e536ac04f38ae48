"""Signals of the organizations app, for apps above it to act on."""

from django.dispatch import Signal

# Sent inside the transaction that removes a membership (removed or left),
# before it is deleted: ``membership``, ``actor``, ``request``. The accounts app
# revokes the person's API tokens of that organization.
member_leaving = Signal()
