from django import forms
from django.core.exceptions import ValidationError

from .inputs import ascii_int


def apply_validation_error(form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form: by field where it names one."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


class AsciiIntegerField(forms.IntegerField):
    """Django's IntegerField, reading only ASCII digits (and a leading minus)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip()
        number = ascii_int(text.removeprefix("-"))
        if number is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return -number if text.startswith("-") else number
