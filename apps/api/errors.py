"""How a service's refusal reaches an API client.

Services raise Django's ``ValidationError`` (by field, or as plain
messages); the API answers 400 with it in REST framework's shape: by field,
or under ``non_field_errors``. ``exception_handler`` does this for every
view, so a refusal a view did not expect is still a 400, never a 500.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.views import exception_handler as drf_exception_handler


def api_validation_error(exc: DjangoValidationError) -> serializers.ValidationError:
    """A service's ValidationError as the API's 400."""
    if hasattr(exc, "error_dict"):
        return serializers.ValidationError(exc.message_dict)
    return serializers.ValidationError({"non_field_errors": exc.messages})


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = api_validation_error(exc)
    return drf_exception_handler(exc, context)
