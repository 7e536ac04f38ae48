"""Writes about billing: Checkout and the Billing Portal, webhook events,
subscription sync (what a subscription entitles an org to), reconciliation."""
