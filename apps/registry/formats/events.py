"""Distribution's notification envelope: ``{"events": [...]}``.

Pure parsing, no ORM. The registry posts an envelope of one or more events
(``application/vnd.docker.distribution.events.v1+json``) for each pull and
push of a manifest or blob. Each event carries an ``id`` (unique per event,
kept across the registry's retries), an ``action``, a ``timestamp``, the
``target`` (``mediaType``, ``digest``, ``repository``, ``tag`` when the
request named one), the ``actor`` (the ``sub`` of the token that authorized
the request, empty for anonymous requests) and the ``request`` (``addr``,
``useragent``).

An envelope is read whole or refused whole: one event that cannot be read
refuses the request (the registry retries it; nothing half-stored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from .scope import MAX_NAME_LENGTH, NAME

MAX_EVENTS = 200
MAX_ID_LENGTH = 100
MAX_TAG_LENGTH = 128
MAX_TEXT_LENGTH = 255

ACTIONS = frozenset({"pull", "push", "mount", "delete"})
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# Manifests and indexes: what a person pulls. Blob events (layers and
# configs) are read and counted but not kept.
MANIFEST_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)


class EventsError(ValueError):
    """An envelope that cannot be read; the message says which event and why."""


@dataclass(frozen=True)
class RegistryEventData:
    event_id: str
    action: str
    occurred_at: datetime
    repository: str
    digest: str
    media_type: str
    tag: str
    actor: str
    addr: str
    user_agent: str

    @property
    def is_manifest(self) -> bool:
        return self.media_type in MANIFEST_MEDIA_TYPES


def _text(value, where: str, *, limit: int = MAX_TEXT_LENGTH) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EventsError(f"{where} is not a string.")
    if len(value) > limit:
        raise EventsError(f"{where} is longer than {limit} characters.")
    return value


def _timestamp(value, where: str) -> datetime:
    text = _text(value, where, limit=64)
    if not text:
        raise EventsError(f"{where} is missing.")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise EventsError(f"{where} is not an RFC 3339 time: {text!r}.") from None
    if moment.tzinfo is None:
        raise EventsError(f"{where} has no time zone.")
    return moment.astimezone(UTC)


def _event(raw, index: int) -> RegistryEventData:
    at = f"events[{index}]"
    if not isinstance(raw, dict):
        raise EventsError(f"{at} is not an object.")
    event_id = _text(raw.get("id"), f"{at}.id", limit=MAX_ID_LENGTH)
    if not event_id:
        raise EventsError(f"{at}.id is missing.")
    action = _text(raw.get("action"), f"{at}.action", limit=20)
    if action not in ACTIONS:
        raise EventsError(f"{at}.action {action!r} is not one of {sorted(ACTIONS)}.")
    target = raw.get("target")
    if not isinstance(target, dict):
        raise EventsError(f"{at}.target is not an object.")
    repository = _text(
        target.get("repository"), f"{at}.target.repository", limit=MAX_NAME_LENGTH
    )
    if not NAME.match(repository):
        raise EventsError(f"{at}.target.repository is not a repository path.")
    digest = _text(target.get("digest"), f"{at}.target.digest", limit=71)
    if not DIGEST.match(digest):
        raise EventsError(f"{at}.target.digest is not sha256: and 64 hex digits.")
    tag = _text(target.get("tag"), f"{at}.target.tag", limit=MAX_TAG_LENGTH)
    if tag and not TAG.match(tag):
        raise EventsError(f"{at}.target.tag is not a tag.")
    actor = raw.get("actor") or {}
    request = raw.get("request") or {}
    if not isinstance(actor, dict) or not isinstance(request, dict):
        raise EventsError(f"{at}.actor and {at}.request are objects.")
    return RegistryEventData(
        event_id=event_id,
        action=action,
        occurred_at=_timestamp(raw.get("timestamp"), f"{at}.timestamp"),
        repository=repository,
        digest=digest,
        media_type=_text(target.get("mediaType"), f"{at}.target.mediaType"),
        tag=tag,
        actor=_text(actor.get("name"), f"{at}.actor.name", limit=254),
        addr=_text(request.get("addr"), f"{at}.request.addr"),
        user_agent=_text(request.get("useragent"), f"{at}.request.useragent"),
    )


def events_parse(document) -> list[RegistryEventData]:
    """The events of a decoded envelope; EventsError names the first that
    cannot be read."""
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise EventsError('The body is not an envelope: {"events": [...]}.')
    events = document["events"]
    if len(events) > MAX_EVENTS:
        raise EventsError(f"More than {MAX_EVENTS} events in one envelope.")
    return [_event(raw, index) for index, raw in enumerate(events)]
