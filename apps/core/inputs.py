"""What a value from a URL, a query string or a form may hold.

Two questions with one answer each, for every door:

* ``control_character``: a path or query value holding NUL or another
  control character is refused whole (``InputGuardMiddleware``); PostgreSQL
  cannot store NUL and no page of the portal takes any of them.
* ``ascii_int``: a number from outside is ASCII digits. ``str.isdigit()``
  says yes to "²", which ``int()`` refuses, and ``int()`` says yes to "١٢"
  (Arabic-Indic digits); neither reaches a query.
"""

from __future__ import annotations

import re

# C0 controls, DEL and the C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A bigint holds any 18-digit number.
MAX_DIGITS = 18


def control_character(text: str) -> str | None:
    """The first control character in ``text``, or None."""
    found = _CONTROL.search(text)
    return found.group() if found else None


def printable(text: str, limit: int = 100) -> str:
    """``text`` for a message: control characters written as ``\\uXXXX``."""
    shown = _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text[:limit])
    return shown + ("..." if len(text) > limit else "")


def ascii_int(value: object, *, max_digits: int = MAX_DIGITS) -> int | None:
    """The whole number ``value`` spells in ASCII digits (no sign, no
    spaces, at most ``max_digits``), or None."""
    if not isinstance(value, str) or not 0 < len(value) <= max_digits:
        return None
    if not (value.isascii() and value.isdigit()):
        return None
    return int(value)
