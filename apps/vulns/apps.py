from django.apps import AppConfig


class VulnsConfig(AppConfig):
    name = "apps.vulns"
    label = "vulns"
