from django.conf import settings
from django.utils.functional import SimpleLazyObject


def portal(request):
    """Site-wide template values: the development banner, the org switcher."""
    context = {"DEV_MODE": settings.DEV_MODE, "SITE_NAME": settings.SITE_NAME}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        from apps.orgs.selectors import user_memberships

        # Lazy: only pages that draw the switcher pay for the query.
        context["switcher_memberships"] = SimpleLazyObject(
            lambda: list(user_memberships(user=user))
        )
    return context
