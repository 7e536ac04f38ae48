"""The API's request bodies, read through the input guard.

Set in ``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``. A JSON body is read by
the one bounded decoder (``apps.core.boundedjson``): nested too deeply, with
a number literal too long or over the size limit, it is refused with 400
before it is decoded. A NUL in a string, which PostgreSQL cannot store, is
refused with 400 naming the field, in JSON and form bodies alike.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions, parsers
from rest_framework.exceptions import ValidationError

from apps.core.boundedjson import JsonRefusedError, bounded_loads, where

NUL_MESSAGE = "contains a NUL character (\\u0000), which cannot be stored."


def _nul_refusal(path: tuple, message: str) -> ValidationError:
    field = path[0] if path else ""
    if isinstance(field, str) and field:
        return ValidationError({field: [message]})
    return ValidationError({"non_field_errors": [message]})


class BoundedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        try:
            return bounded_loads(raw, max_bytes=limit)
        except JsonRefusedError as exc:
            if exc.code == "nul":
                raise _nul_refusal(exc.path, exc.message) from None
            raise exceptions.ParseError(f"JSON parse error - {exc.message}") from None


def _form_nul_check(data) -> None:
    for key, values in data.lists():
        for value in (key, *values):
            if isinstance(value, str) and "\x00" in value:
                raise _nul_refusal((key,), f"{where((key,))} {NUL_MESSAGE}")


class GuardedFormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _form_nul_check(data)
        return data


class GuardedMultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        _form_nul_check(parsed.data)
        return parsed
