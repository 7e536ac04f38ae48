"""The OpenAPI schema says how the API refuses, not only how it answers.

drf-spectacular documents the success answers each view declares; the
refusals every view can give come from REST framework itself (a bad field or
parameter 400, no or a bad token 401, a missing scope or a suspended token
403, another tenant's object or an invalid cursor 404, a throttle 429). This
post-processing hook adds them to every operation, with the one error shape
REST framework writes: ``{"detail": "..."}`` or, for a 400, the message lists
by field (``{"field": ["..."]}``, ``non_field_errors``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

ERROR_SCHEMA = "Error"
ERRORS = {
    "400": "The request is not valid: the messages say why, by field or in detail.",
    "401": "No token, or an invalid, expired or revoked one.",
    "403": "The token lacks the scope, or is suspended (its creator's standing).",
    "404": "Not found: no such object for this organization, or an invalid cursor.",
    "429": "Too many requests: retry after the time in Retry-After.",
}
PUBLIC_ERRORS = ("400", "404", "429")


def add_error_responses(result: dict, generator: Any, request: Any, public: bool):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_SCHEMA] = {
        "description": "REST framework's error shape: a detail, or messages by field.",
        "oneOf": [
            {
                "type": "object",
                "properties": {"detail": {"type": "string"}},
                "additionalProperties": {
                    "oneOf": [
                        {"type": "array", "items": {"type": "string"}},
                        {"type": "string"},
                        {"type": "object"},
                    ]
                },
            },
            # A refusal of the whole request: its messages, without a field.
            {"type": "array", "items": {"type": "string"}},
        ],
    }
    reference = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for parameter in operation.get("parameters", []):
                _no_control_characters(parameter.get("schema", {}))
            secured = any(operation.get("security", [{}]))
            codes = ERRORS if secured else PUBLIC_ERRORS
            for code in codes:
                operation["responses"].setdefault(
                    code,
                    {
                        "description": ERRORS[code],
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result


# What the input guard (apps/core/middleware.py) refuses in a path or query
# parameter: C0 controls, DEL and C1 controls.
NO_CONTROL_CHARACTERS = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"


def _no_control_characters(schema: dict) -> None:
    if schema.get("type") == "string" and not (
        {"pattern", "enum", "format"} & set(schema)
    ):
        schema["pattern"] = NO_CONTROL_CHARACTERS


class SingleObjectSchema(AutoSchema):
    """For a viewset whose ``list`` answers one object (an inventory with its
    rows inside), not a list of objects: drf-spectacular would otherwise wrap
    the documented answer in an array."""

    def _is_list_view(self, serializer=None) -> bool:
        return False
