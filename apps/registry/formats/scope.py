"""Distribution's token scopes: ``repository:<name>:pull,push``.

Pure parsing, no ORM. A scope is ``<type>[(<class>)]:<name>:<actions>``; the
name is a repository path in distribution's grammar (lowercase components
joined by ``/``, at most 255 characters) and may itself hold a ``:`` only for a
registry host with a port, so the actions are split from the right. Clients
send several ``scope`` parameters, and some join scopes with spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SCOPES = 10
MAX_SCOPE_LENGTH = 400
MAX_NAME_LENGTH = 255

_TYPE = re.compile(r"^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$")
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_ACTION = re.compile(r"^(?:[a-z]+|\*)$")


class ScopeError(ValueError):
    """A scope the service cannot read: the whole request is refused."""


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def scope_parse(raw: str) -> Scope:
    if len(raw) > MAX_SCOPE_LENGTH:
        raise ScopeError(f"A scope is at most {MAX_SCOPE_LENGTH} characters.")
    head, sep, actions = raw.rpartition(":")
    kind, sep2, name = head.partition(":")
    if not sep or not sep2:
        raise ScopeError(f"Not a scope (type:name:actions): {raw[:80]!r}.")
    match = _TYPE.match(kind)
    if match is None:
        raise ScopeError(f"Not a resource type: {kind[:40]!r}.")
    if len(name) > MAX_NAME_LENGTH or not NAME.match(name):
        raise ScopeError(f"Not a repository name: {name[:80]!r}.")
    parts = tuple(dict.fromkeys(a for a in actions.split(",") if a))
    if not parts or not all(_ACTION.match(a) for a in parts):
        raise ScopeError(f"Not a list of actions: {actions[:40]!r}.")
    return Scope(type=match.group(1), name=name, actions=parts)


def scopes_parse(values: list[str]) -> list[Scope]:
    """Every scope of the ``scope`` parameters, in order, once each."""
    raws = [raw for value in values for raw in value.split()]
    if len(raws) > MAX_SCOPES:
        raise ScopeError(f"At most {MAX_SCOPES} scopes in one request.")
    return list(dict.fromkeys(scope_parse(raw) for raw in raws))
