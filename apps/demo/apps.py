from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo organization, its builds, evidence and SLA story: the top floor,
    allowed to call every app's services."""

    name = "apps.demo"
    label = "demo"
