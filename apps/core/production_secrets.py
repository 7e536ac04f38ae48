"""Production refuses placeholder secrets: read by portal/settings.py before
Django is set up, so it imports nothing but the standard library.

A value is a placeholder when it starts with ``change-me`` (how
deploy/.env.example and the deploy docs mark what the operator must set). The
secrets are the variables named like one (``*_PASSWORD``, ``*_SECRET``,
``*_TOKEN``, ``*_KEY``, ``*_PASSPHRASE``, ``*_SECRET_KEY``) and the password
inside any ``*_URL`` (``DATABASE_URL``, ``CELERY_BROKER_URL``, ``CACHE_URL``,
``EMAIL_URL``). ``SECRET_KEY`` must also be at least 50 characters long.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

PLACEHOLDER_PREFIX = "change-me"
SECRET_KEY_MIN_LENGTH = 50
_SECRET_SUFFIXES = ("_PASSWORD", "_SECRET", "_TOKEN", "_KEY", "_PASSPHRASE")
# Names that end like a secret but hold none.
_NOT_SECRET = frozenset({"AWS_ACCESS_KEY_ID"})


def _placeholder(value: str) -> bool:
    return value.strip().lower().startswith(PLACEHOLDER_PREFIX)


def _url_password(value: str) -> str:
    try:
        password = urlsplit(value).password
    except ValueError:
        return ""
    return unquote(password or "")


def production_secret_problems(environ: Mapping[str, str]) -> list[str]:
    """One line per problem, naming the variable (never its value)."""
    problems = []
    for name in sorted(environ):
        value = environ[name]
        if name in _NOT_SECRET or not value:
            continue
        if name.endswith(_SECRET_SUFFIXES) or name == "SECRET_KEY":
            if _placeholder(value):
                problems.append(
                    f"{name} is still a placeholder (starts {PLACEHOLDER_PREFIX!r})"
                )
        elif name.endswith("_URL") and _placeholder(_url_password(value)):
            problems.append(
                f"{name} holds a placeholder password (starts {PLACEHOLDER_PREFIX!r})"
            )
    secret_key = environ.get("SECRET_KEY", "")
    if secret_key and len(secret_key) < SECRET_KEY_MIN_LENGTH:
        problems.append(
            f"SECRET_KEY is {len(secret_key)} characters long; it needs at least "
            f"{SECRET_KEY_MIN_LENGTH} (e.g. `openssl rand -hex 32`)"
        )
    return problems
