from django.apps import AppConfig


class CustomizationsConfig(AppConfig):
    name = "apps.customizations"
    label = "customizations"
