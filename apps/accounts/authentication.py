from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .services import api_token_authenticate
from .standing import token_suspension


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer hip_…``: an organization's API token."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(
            "latin-1", errors="replace"
        )
        if not header:
            return None
        parts = header.split()
        # The scheme is case-insensitive (RFC 9110 11.1); this API has no other.
        if parts and parts[0].lower() != self.keyword.lower():
            raise exceptions.AuthenticationFailed(
                "Unsupported authorization scheme; expected 'Bearer <token>'."
            )
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header; expected 'Bearer <token>'."
            )
        token = api_token_authenticate(raw=parts[1])
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        # Valid; it acts with its creator's standing now (accounts/standing.py).
        reason = token_suspension(token)
        if reason is not None:
            raise exceptions.PermissionDenied(f"This token is suspended: {reason}.")
        return (token.created_by, token)

    def authenticate_header(self, request):
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "hip_<id>_<secret>"}
