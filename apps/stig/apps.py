from django.apps import AppConfig


class StigConfig(AppConfig):
    name = "apps.stig"
    label = "stig"
    verbose_name = "STIG scans and checklists"
