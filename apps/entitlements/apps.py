from django.apps import AppConfig


class EntitlementsConfig(AppConfig):
    name = "apps.entitlements"
    label = "entitlements"

    def ready(self) -> None:
        from apps.orgs.extensions import register_seat_provider

        from .selectors import feature_quantity

        def auditor_seats(*, org, at):
            return feature_quantity(org=org, feature="auditor_seats", at=at)

        register_seat_provider(auditor_seats)
