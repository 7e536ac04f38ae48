import json

from django import template

register = template.Library()


@register.filter
def detail_items(details: dict) -> list[tuple[str, str]]:
    """An event's details as (key, JSON value) pairs, strings shown bare."""
    return [
        (key, value if isinstance(value, str) else json.dumps(value, sort_keys=True))
        for key, value in sorted((details or {}).items())
    ]
