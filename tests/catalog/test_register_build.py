"""The publisher's door for a new build: manage.py register_build."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.catalog.models import ImageDigest, Repository, Series, TagEvent

pytestmark = pytest.mark.django_db
DIGEST = "sha256:" + "ab" * 32


def _register(*args):
    out = StringIO()
    call_command("register_build", *args, stdout=out)
    return out.getvalue()


def test_a_build_is_registered_with_its_variant_tags_and_time():
    out = _register(
        "python", "3.12", DIGEST, "--fips", "--tag", "3.12-fips",
        "--built-at", "2026-03-02T10:00:00Z", "--arch", "arm64", "--arch", "amd64",
    )  # fmt: skip
    image = ImageDigest.objects.get(digest=DIGEST)
    assert str(image.variant) in out
    assert (image.variant.fips, image.variant.series.name) == (True, "3.12")
    assert image.architectures == ["amd64", "arm64"]
    assert image.built_at.isoformat() == "2026-03-02T10:00:00+00:00"
    assert TagEvent.objects.filter(tag="3.12-fips").exists()
    # Again: the same build, nothing new.
    _register("python", "3.12", DIGEST, "--fips")
    assert ImageDigest.objects.count() == 1
    assert Repository.objects.count() == Series.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("python", "3.12", "sha256:nothex"), "Not a sha256 digest"),
        (("python", "3.12", DIGEST, "--built-at", "yesterday"), "ISO 8601"),
        (("python", "3.12", DIGEST, "--built-at", "2026-03-02T10:00"), "time zone"),
        (("digest", "1", DIGEST), "reserved"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(args, message):
    with pytest.raises(CommandError, match=message):
        _register(*args)
    assert not ImageDigest.objects.exists()
    assert not Repository.objects.exists()


def test_a_digest_registered_for_another_variant_is_refused():
    _register("python", "3.12", DIGEST)
    with pytest.raises(CommandError, match="already registered"):
        _register("python", "3.13", DIGEST)
    assert not Series.objects.filter(name="3.13").exists()
