from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "apps.registry"
    label = "registry"
    verbose_name = "Image registry access"

    def ready(self) -> None:
        from . import system_checks  # noqa: F401  (registers the token-key check)
