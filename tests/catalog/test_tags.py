"""Tags move and are withdrawn, and their history keeps every step with its reason."""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.catalog import services as catalog
from apps.catalog.models import TagEvent

pytestmark = pytest.mark.django_db


def _build(variant, n):
    return catalog.digest_register(
        variant=variant,
        digest=f"sha256:{n:064x}",
        built_at=datetime(2025, 1, n, tzinfo=UTC),
        tags=["3.12", "latest"],
    )


@pytest.fixture
def variant():
    repository = catalog.repository_upsert(name="python", category="language")
    series = catalog.series_upsert(repository=repository, name="3.12")
    return catalog.variant_get_or_create(series=series)


def test_a_moved_tag_keeps_where_it_pointed(variant):
    first = _build(variant, 1)
    second = _build(variant, 2)
    history = TagEvent.objects.filter(tag="3.12").order_by("assigned_at")
    assert [e.digest for e in history] == [first, second]
    assert history[0].removal_reason == f"moved to {second.digest}"
    assert history[1].removed_at is None


def test_withdrawing_a_tag_needs_a_reason_and_keeps_the_row(variant, capsys):
    _build(variant, 1)
    with pytest.raises(CommandError, match="Error: the following arguments"):
        call_command("tag_remove", "python", "latest")
    with pytest.raises(CommandError, match="Say why"):
        call_command("tag_remove", "python", "latest", reason="   ")
    with pytest.raises(CommandError, match="No repository"):
        call_command("tag_remove", "nope", "latest", reason="x")
    call_command("tag_remove", "python", "latest", reason="CVE-2025-0001 rebuild")
    assert "no longer points" in capsys.readouterr().out
    event = TagEvent.objects.get(tag="latest")
    assert event.removed_at is not None
    assert event.removal_reason == "CVE-2025-0001 rebuild"
    with pytest.raises(CommandError, match="points at nothing"):
        call_command("tag_remove", "python", "latest", reason="again")


def test_reserved_repository_names_are_refused(db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="reserved"):
        catalog.repository_upsert(name="lifecycle", category="tool")
