from django.apps import AppConfig


class PublicConfig(AppConfig):
    """The public catalog pages, composed from every domain below them."""

    name = "apps.public"
    label = "public"
