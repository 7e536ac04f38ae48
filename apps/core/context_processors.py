from django.conf import settings


def portal(request):
    """Site-wide template values: the development banner and the site name."""
    return {"DEV_MODE": settings.DEV_MODE, "SITE_NAME": settings.SITE_NAME}
