"""What the vulns app does when apps below it announce a change."""

from django.dispatch import receiver

from apps.catalog.signals import catalog_learned


@receiver(catalog_learned)
def on_catalog_learned(repositories, images, **kwargs):
    """Statements imported before the catalog knew what they name are linked."""
    from .services import vex_statements_link

    vex_statements_link(repositories=repositories, images=images)
