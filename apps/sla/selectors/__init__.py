"""Reads of the SLA ledger, by concern: ``clocks`` (the customer's lists, one
clock and its timeline), ``metrics`` (a window's figures, attainment per month,
the trend), ``credits`` (service credits owed), ``overlay_figures`` and
``desk`` (the publisher staff's desk and customer list)."""
