from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    """The evidence door: documents in (one import path for the upload page,
    the API and the commands, with importers registered by the apps that own
    each kind) and out (who may download a build's evidence)."""

    name = "apps.evidence"
    label = "evidence"

    def ready(self) -> None:
        from .importers import register_own

        register_own()
