# The Stripe fake and its mapped prices, shared with the billing tests.
from tests.billing.conftest import fake_stripe, stripe_prices  # noqa: F401
