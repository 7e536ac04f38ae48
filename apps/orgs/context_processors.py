from django.utils.functional import SimpleLazyObject

from .selectors import user_memberships


def org_switcher(request):
    """The header's organization switcher: the signed-in person's memberships."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Lazy: only pages that draw the switcher pay for the query.
    return {
        "switcher_memberships": SimpleLazyObject(
            lambda: list(user_memberships(user=user))
        )
    }
