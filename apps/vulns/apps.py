from django.apps import AppConfig


class VulnsConfig(AppConfig):
    name = "apps.vulns"
    label = "vulns"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
