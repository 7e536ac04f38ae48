"""Map the portal's prices to Stripe Price ids, checked against Stripe."""

import stripe
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.billing.services.catalog import prices_map_to_stripe
from apps.billing.services.stripe_api import StripeNotConfiguredError


class Command(BaseCommand):
    help = (
        "Store Stripe Price ids on the portal's prices, e.g. "
        "`billing_map_prices select:month=price_123 select:year=price_456`. "
        "Each is checked against Stripe (amount, currency, interval) first."
    )

    def add_arguments(self, parser):
        parser.add_argument("mappings", nargs="+", metavar="PLAN:INTERVAL=price_id")
        parser.add_argument(
            "--no-verify",
            action="store_true",
            help="Store without asking Stripe (when it cannot be reached).",
        )

    def handle(self, *args, mappings, no_verify, **options):
        try:
            prices = prices_map_to_stripe(mappings=mappings, verify=not no_verify)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        except StripeNotConfiguredError as exc:
            raise CommandError(
                "Stripe is not configured (STRIPE_SECRET_KEY); use --no-verify "
                "to store the ids unchecked."
            ) from exc
        except stripe.StripeError as exc:
            raise CommandError(f"Stripe could not be asked: {exc}") from exc
        for price in prices:
            self.stdout.write(f"{price}: {price.stripe_price_id}")
