"""Deny by default: every API view is scoped to the token's organization."""

from rest_framework import exceptions, permissions, viewsets

from apps.accounts.models import ApiToken


class HasTokenScope(permissions.BasePermission):
    """The request carries an API token with the scope this action declares."""

    message = "This token lacks the scope this endpoint needs."

    def has_permission(self, request, view):
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        action = getattr(view, "action", None)
        if action is None and not hasattr(view, request.method.lower()):
            # No action answers this method on this URL: say so (405) rather
            # than blame the token's scopes. Checked after authentication, as
            # Django REST framework's own views do.
            raise exceptions.MethodNotAllowed(request.method)
        scope = view.required_scopes.get(action or "")
        if scope is None:
            return False
        return token.has_scope(scope)


class OrgScopedViewSet(viewsets.GenericViewSet):
    """Querysets come from ``base_queryset`` narrowed to the token's organization,
    so another tenant's object is simply not found (404)."""

    permission_classes = [HasTokenScope]
    required_scopes: dict[str, str] = {}
    base_queryset = None
    lookup_value_regex = r"\d+"

    @property
    def org(self):
        return self.request.auth.org

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            # Schema generation has no token, so no organization: an empty,
            # correctly typed queryset lets the schema infer path parameters.
            return self.base_queryset.none()
        return self.base_queryset.all().for_org(self.org)
