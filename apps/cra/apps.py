from django.apps import AppConfig


class CraConfig(AppConfig):
    name = "apps.cra"
    label = "cra"
    verbose_name = "EU CRA Article 14 reporting"
