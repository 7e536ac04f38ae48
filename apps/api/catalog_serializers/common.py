"""What the catalog serializers share: reads made once per answer, absolute URLs."""

from __future__ import annotations

from rest_framework import serializers


def answer_rows(serializer, obj) -> list:
    """The rows of this answer: the page for a list, else the one object."""
    root = serializer.root
    if isinstance(root, serializers.ListSerializer) and root.instance is not None:
        return list(root.instance)
    return [obj]


def assessment_of(serializer, obj, key: str, read):
    """One read for every row of the answer, kept in its context."""
    found = serializer.context.setdefault(key, {})
    if obj.pk not in found:
        found.update(read([row.pk for row in answer_rows(serializer, obj)]))
    return found[obj.pk]


def absolute_url(serializer, path: str) -> str:
    request = serializer.context.get("request")
    return request.build_absolute_uri(path) if request is not None else path
