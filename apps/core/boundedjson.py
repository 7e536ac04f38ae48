"""The one JSON decoder for input from outside: bounded in size, depth and the
length of a number literal, and refusing NUL in strings.

Python's ``json`` recurses once per nested array or object, so a body of
100,000 ``[`` fails deep inside the interpreter (or, called from a deep
stack, sooner than a legitimate document would); and ``int()`` of a
100,000-digit literal is refused only after quadratic work, with a
``ValueError`` no caller expects. Here the raw bytes are scanned before
``json.loads`` runs: string literals are blanked out, then the bracket depth
and the longest number literal are measured at C speed. PostgreSQL stores
neither ``text`` nor ``jsonb`` with a NUL in it, so a decoded string (value or
key) holding one is refused too, naming where it is.

Every refusal is a :class:`JsonRefusedError` with a message fit for the
person who sent the document and a ``code``; each door turns it into its own
clear error (a 400 on the API, a form error, a ``CommandError``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

# Nesting of arrays and objects. Evidence formats nest a few levels (a
# CycloneDX component tree, refused by its reader past 32 components deep, is
# two levels per component); a validator walking the result recurses several
# frames per level, so this stays far from Python's recursion limit.
MAX_DEPTH = 100
# Characters of one number literal (sign, digits, point, exponent): far more
# than a 64-bit integer or a double needs.
MAX_NUMBER_LENGTH = 64

# A JSON string literal, escapes included, or an unterminated one running to
# the end (where json.loads stops too). Possessive, and every quote outside a
# string starts a match, so the scan is linear whatever the input.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NUMBER_CHARS = rb"0-9.eE+\-"
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_STEP = [0] * 256
for _open in b"[{":
    _STEP[_open] = 1
for _close in b"]}":
    _STEP[_close] = -1
_NUL_ESCAPE = b"\\u0000"


class JsonRefusedError(ValueError):
    """A document the decoder will not read, and why.

    ``code`` is one of ``too_large``, ``not_utf8``, ``too_deep``,
    ``number_too_long``, ``invalid_json`` and ``nul``; ``path`` is where a
    NUL was found (keys and indexes from the top), else empty. A syntax error
    (``invalid_json`` from the parser) has its ``reason``, ``line`` and
    ``column``, for a reader that words its own message.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        path: tuple = (),
        reason: str = "",
        line: int = 0,
        column: int = 0,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.path = path
        self.reason = reason
        self.line = line
        self.column = column


def bounded_loads(
    data: bytes | str,
    *,
    max_bytes: int,
    max_depth: int = MAX_DEPTH,
    max_number_length: int = MAX_NUMBER_LENGTH,
    allow_nul: bool = False,
) -> Any:
    """Decode one JSON document (UTF-8, a BOM allowed) within the limits."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise JsonRefusedError(
            f"The document is {len(raw):,} bytes; the limit is {max_bytes:,} bytes.",
            code="too_large",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JsonRefusedError(
            f"The document is not UTF-8 text (byte {exc.start}).", code="not_utf8"
        ) from None
    _check_shape(raw, max_depth=max_depth, max_number_length=max_number_length)
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise JsonRefusedError(
            f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            code="invalid_json",
            reason=exc.msg,
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except (RecursionError, ValueError) as exc:
        # The scan above should have refused these; a literal it misread
        # still ends here, never in the caller.
        raise JsonRefusedError(
            f"Not valid JSON: {str(exc)[:200]}.", code="invalid_json"
        ) from None
    if not allow_nul and _NUL_ESCAPE in raw:
        path = nul_path(value)
        if path is not None:
            raise JsonRefusedError(
                f"{where(path)} contains a NUL character (\\u0000), which "
                "cannot be stored.",
                code="nul",
                path=path,
            )
    return value


def _check_shape(raw: bytes, *, max_depth: int, max_number_length: int) -> None:
    """Depth and number length of the document, with its strings blanked."""
    skeleton = _STRING.sub(b'""', raw)
    steps = map(_STEP.__getitem__, skeleton.translate(None, _NOT_BRACKETS))
    depth = max(accumulate(steps), default=0)
    if depth > max_depth:
        raise JsonRefusedError(
            f"The document is nested too deeply: arrays and objects {depth:,} "
            f"levels deep; the limit is {max_depth}.",
            code="too_deep",
        )
    # Only from the start of a run (the look-behind), so a long run is
    # measured once, not once per character.
    longest = re.search(
        rb"(?<![%s])[%s]{%d,}" % (_NUMBER_CHARS, _NUMBER_CHARS, max_number_length + 1),
        skeleton,
    )
    if longest is not None:
        raise JsonRefusedError(
            f"The document has a number {len(longest.group()):,} characters long; "
            "the limit "
            f"is {max_number_length}.",
            code="number_too_long",
        )


def _reject_constant(name: str) -> None:
    # Python's json reads NaN and Infinity; JSON has neither.
    raise ValueError(f"{name} is not a JSON value")


def nul_path(value: Any) -> tuple | None:
    """Where the first string (or key) holding a NUL is, or None."""
    for path, item in _walk(value):
        if isinstance(item, str) and "\x00" in item:
            return path
    return None


def _walk(value: Any) -> Iterator[tuple[tuple, Any]]:
    # Iterative: the depth was bounded, but a walk needs no recursion at all.
    stack: list[tuple[tuple, Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        yield path, item
        if isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                if "\x00" in key:
                    yield (*path, key), key
                    return
                stack.append(((*path, key), child))
        elif isinstance(item, list):
            stack.extend(
                ((*path, i), child) for i, child in reversed(list(enumerate(item)))
            )


def where(path: tuple) -> str:
    """A path as a reader writes it: ``environment.TZ``, ``items[3].name``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return (text.lstrip(".") or "The document").replace("\x00", "\\u0000")
