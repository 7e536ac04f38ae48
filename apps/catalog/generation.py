"""The catalog's generation: a token every write to repositories, series or
variants replaces, so answers built from them can be cached and stay right.

Readers put the generation in their cache keys; a write makes every key built
before it unused (the old entries expire on their own). The token lives in the
cache itself: if it is evicted, the next reader draws a new one, which only
costs a miss.
"""

from __future__ import annotations

import secrets

from django.core.cache import cache
from django.db import transaction

KEY = "catalog:generation"


def catalog_generation() -> str:
    token = cache.get(KEY)
    if token is None:
        cache.add(KEY, secrets.token_hex(8), timeout=None)
        token = cache.get(KEY)
    return token


def catalog_changed() -> None:
    """Called by every service that writes repositories, series or variants,
    and by those that change what answers say of their builds' assessment
    (matching findings, importing advisories).

    A new token is drawn at once and again after the transaction commits. The
    first makes the writer's own later reads (in its transaction) miss; the
    second drops whatever a concurrent reader stored in between from rows not
    yet committed. A reader that took the old token and read the new rows
    stores its answer under the old key, which nobody asks for again.
    """
    _renew()
    transaction.on_commit(_renew, robust=True)


def _renew() -> None:
    cache.set(KEY, secrets.token_hex(8), timeout=None)
