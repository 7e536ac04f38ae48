"""The helpers every door parses with: ``ascii_int`` and its form field, and
``control_character`` (apps.core.inputs, apps.core.forms)."""

from __future__ import annotations

import pytest
from django import forms

from apps.core.forms import AsciiIntegerField
from apps.core.inputs import ascii_int, control_character, printable


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("0", 0),
        ("42", 42),
        ("9" * 18, 10**18 - 1),
        ("²", None),  # str.isdigit() says yes, int() refuses
        ("\u0661\u0662", None),  # int() reads these Arabic-Indic digits as 12
        ("\uff11\uff12", None),  # fullwidth 12
        ("9" * 19, None),
        ("", None),
        (" 1", None),
        ("-1", None),
        ("+1", None),
        ("1_000", None),
        ("1.0", None),
        (None, None),
        (12, None),
    ],
)
def test_ascii_int_reads_ascii_digits_only(text, number):
    assert ascii_int(text) == number


class _Quantity(forms.Form):
    quantity = AsciiIntegerField(min_value=-5)


@pytest.mark.parametrize(
    ("value", "valid", "number"),
    [("12", True, 12), (" 3 ", True, 3), ("-2", True, -2), ("", False, None)]
    + [(v, False, None) for v in ("\u00b2", "\u0661\u0662", "1.5", "--1", "9" * 30)],
)
def test_the_form_field_reads_ascii_digits_only(value, valid, number):
    form = _Quantity({"quantity": value})
    assert form.is_valid() is valid
    if valid:
        assert form.cleaned_data["quantity"] == number
    else:
        assert "quantity" in form.errors


@pytest.mark.parametrize("char", ["\x00", "\x1f", "\x7f", "\x85"])
def test_control_characters_are_found(char):
    assert control_character(f"a{char}b") == char


def test_ordinary_text_has_no_control_character():
    assert control_character("Grüße, 日本 ² \u00a0") is None


def test_printable_writes_control_characters_as_escapes():
    assert printable("a\x00b\x1f") == "a\\u0000b\\u001f"
    assert printable("x" * 150) == "x" * 100 + "..."
