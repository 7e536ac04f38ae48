"""The one bounded JSON decoder (apps.core.boundedjson)."""

from __future__ import annotations

import json
import time

import pytest

from apps.core.boundedjson import (
    MAX_DEPTH,
    MAX_NUMBER_LENGTH,
    JsonRefusedError,
    bounded_loads,
    nul_path,
)

LIMIT = 10_000_000


def refused(data, **limits) -> JsonRefusedError:
    with pytest.raises(JsonRefusedError) as exc:
        bounded_loads(data, max_bytes=limits.pop("max_bytes", LIMIT), **limits)
    return exc.value


def test_a_document_within_the_limits_is_decoded_as_json_would():
    doc = {"a": [1, 2.5e10, -3, True, None, "x[{]}\\u0000"], "b": {"c": "é"}}
    raw = json.dumps(doc).encode()
    assert bounded_loads(raw, max_bytes=LIMIT) == json.loads(raw)
    assert bounded_loads(raw.decode(), max_bytes=LIMIT) == json.loads(raw)
    assert bounded_loads(b"\xef\xbb\xbf[1]", max_bytes=LIMIT) == [1]


@pytest.mark.parametrize("depth", [100_000, 10_000, MAX_DEPTH + 1])
def test_nesting_past_the_limit_is_refused_before_decoding(depth):
    started = time.perf_counter()
    error = refused(b"[" * depth + b"]" * depth)
    assert error.code == "too_deep"
    assert f"{depth:,} levels deep; the limit is {MAX_DEPTH}" in error.message
    assert time.perf_counter() - started < 1


def test_nesting_at_the_limit_is_read():
    value = bounded_loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, max_bytes=LIMIT)
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == []


def test_objects_count_toward_the_depth_and_an_unclosed_document_too():
    assert refused(b'{"a": ' * 200 + b"1" + b"}" * 200).code == "too_deep"
    assert refused(b"[" * 100_000).code == "too_deep"


def test_brackets_and_digits_inside_strings_do_not_count():
    text = json.dumps({"a": "[" * 5_000, "b": "9" * 5_000, "c": '\\"[[[['})
    assert bounded_loads(text, max_bytes=LIMIT)["a"] == "[" * 5_000


@pytest.mark.parametrize(
    "literal",
    [b"1" * 100_000, b"-" + b"9" * 65, b"0." + b"1" * 100_000, b"1e" + b"5" * 80],
)
def test_a_number_literal_past_the_limit_is_refused(literal):
    started = time.perf_counter()
    error = refused(b'{"n": ' + literal + b"}")
    assert error.code == "number_too_long"
    assert f"the limit is {MAX_NUMBER_LENGTH}" in error.message
    assert time.perf_counter() - started < 1


def test_a_long_number_at_the_limit_is_read():
    literal = "1" * MAX_NUMBER_LENGTH
    assert bounded_loads(f"[{literal}]", max_bytes=LIMIT) == [int(literal)]


def test_many_numbers_just_under_the_limit_are_read_in_linear_time():
    doc = b"[" + b",".join([b"7" * (MAX_NUMBER_LENGTH - 1)] * 50_000) + b"]"
    started = time.perf_counter()
    assert len(bounded_loads(doc, max_bytes=LIMIT)) == 50_000
    assert time.perf_counter() - started < 2


def test_over_the_size_limit_is_refused_before_reading():
    error = refused(b"[" + b"1," * 600 + b"1]", max_bytes=1_000)
    assert error.code == "too_large"
    assert "1,203 bytes; the limit is 1,000 bytes" in error.message


@pytest.mark.parametrize(
    ("doc", "path", "where"),
    [
        ({"repository": "mon\u0000go"}, ("repository",), "repository"),
        ({"env": {"mon\u0000go": "x"}}, ("env", "mon\u0000go"), "env.mon\\u0000go"),
        ({"items": [{"a": 1}, {"name": "\u0000"}]}, ("items", 1, "name"), "items[1]"),
        (["ok", "\u0000"], (1,), "[1]"),
    ],
)
def test_nul_in_a_string_or_key_is_refused_naming_where(doc, path, where):
    error = refused(json.dumps(doc))
    assert error.code == "nul"
    assert error.path == path
    assert error.message.startswith(where)
    assert "NUL character (\\u0000)" in error.message


def test_an_escaped_backslash_before_u0000_is_not_a_nul():
    assert bounded_loads(b'{"a": "\\\\u0000"}', max_bytes=LIMIT) == {"a": "\\u0000"}


def test_nul_may_be_allowed_where_nothing_is_stored():
    assert bounded_loads(b'["\\u0000"]', max_bytes=LIMIT, allow_nul=True) == ["\x00"]


@pytest.mark.parametrize(
    ("raw", "code", "says"),
    [
        (b'{"a": 1,}', "invalid_json", "Not valid JSON: Expecting property name"),
        (b'{"a": NaN}', "invalid_json", "NaN is not a JSON value"),
        (b"[Infinity]", "invalid_json", "Infinity is not a JSON value"),
        (b'{"a": "\xff"}', "not_utf8", "not UTF-8 text (byte 7)"),
        (b"", "invalid_json", "Expecting value"),
        (b'"' + b'\\"' * 200_000, "invalid_json", "Unterminated string"),
    ],
)
def test_malformed_input_is_refused_with_the_reason(raw, code, says):
    error = refused(raw)
    assert error.code == code
    assert says in error.message


def test_a_syntax_error_carries_its_line_and_column():
    error = refused(b'{\n  "a": [1,\n  }')
    assert (error.line, error.column) == (3, 3)
    assert error.reason == "Expecting value"


def test_nul_path_finds_nothing_in_clean_data():
    assert nul_path({"a": ["b", {"c": "d"}]}) is None
