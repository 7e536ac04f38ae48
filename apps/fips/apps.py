from django.apps import AppConfig


class FipsConfig(AppConfig):
    name = "apps.fips"
    label = "fips"
    verbose_name = "FIPS crypto modules"
