"""A service's ValidationError reaching the API is a 400 in REST framework's
shape (apps.api.errors), whether or not the view expected it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from rest_framework.exceptions import NotFound

from apps.api.errors import api_validation_error, exception_handler


def test_a_refusal_by_field_is_a_400_by_field():
    response = exception_handler(
        ValidationError({"email": "Taken.", "window_end": ["Before the start."]}), {}
    )
    assert response.status_code == 400
    assert response.data == {"email": ["Taken."], "window_end": ["Before the start."]}


def test_a_refusal_without_a_field_is_a_400_under_non_field_errors():
    response = exception_handler(ValidationError("No seats left."), {})
    assert response.status_code == 400
    assert response.data == {"non_field_errors": ["No seats left."]}


def test_a_list_of_messages_keeps_every_message():
    error = api_validation_error(ValidationError(["One.", "Two."]))
    assert error.detail == {"non_field_errors": ["One.", "Two."]}


def test_other_errors_are_left_to_rest_framework():
    assert exception_handler(NotFound(), {}).status_code == 404
    assert exception_handler(RuntimeError("a bug"), {}) is None
