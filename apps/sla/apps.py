from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "apps.sla"
    label = "sla"
    verbose_name = "SLA ledger"

    def ready(self) -> None:
        # The SLA kinds of notice join the one notice run.
        from .notices import register

        register()
