"""Every digest page says how to pull the build, and what pulling it needs;
the path it names is the one the token service resolves to the same image."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.registry.mapping import path_resolve, variant_pull_path
from tests.catalog import builders as catalog

pytestmark = pytest.mark.django_db

HOST = "registry.example.com"


@pytest.fixture(autouse=True)
def _registry_host(settings):
    settings.REGISTRY_PUBLIC_HOST = HOST


@pytest.mark.parametrize(
    ("flags", "path", "needs"),
    [
        ({}, "python", ""),
        ({"fips": True}, "python-fips", "FIPS"),
        ({"stig": True}, "python-stig", "STIG"),
        ({"fips": True, "stig": True}, "python-fips-stig", "FIPS"),
    ],
)
def test_a_digest_page_shows_its_pull_commands(flags, path, needs):
    series = catalog.series(catalog.repository("python"), "3.12")
    image = catalog.build(series, tags=["3.12"], **flags)
    body = Client().get(image.get_absolute_url()).content.decode()
    assert f"docker pull {HOST}/{path}@{image.digest}" in body
    assert f"docker pull {HOST}/{path}:3.12" in body
    if needs:
        assert f"needs the {needs}" in body
    else:
        assert "Free to pull" in body
    # The path is the one the token service resolves back to this repository.
    target = path_resolve(path)
    assert target is not None
    assert target.repository == image.variant.series.repository


def test_an_els_only_series_is_pulled_from_the_els_path():
    series = catalog.series(
        catalog.repository("python"), "3.8", eol=-30, support=-10, els=365
    )
    image = catalog.build(series, tags=["3.8"])
    where = variant_pull_path(variant=image.variant, els=True)
    assert where.path == "python-els"
    body = Client().get(image.get_absolute_url()).content.decode()
    assert f"docker pull {HOST}/python-els@{image.digest}" in body
    assert path_resolve("python-els") is not None


def test_without_a_registry_host_no_pull_section(settings):
    settings.REGISTRY_PUBLIC_HOST = ""
    image = catalog.build(catalog.series(catalog.repository("python"), "3.12"))
    assert "docker pull" not in Client().get(image.get_absolute_url()).content.decode()


def test_the_repository_page_gives_each_current_tag_its_pull_command():
    repo = catalog.repository("python")
    series = catalog.series(repo, "3.12")
    catalog.build(series, tags=["3.12"])
    catalog.build(series, tags=["3.12-fips"], fips=True)
    body = Client().get(repo.get_absolute_url()).content.decode()
    assert f"docker pull {HOST}/python:3.12<" in body
    assert f"docker pull {HOST}/python-fips:3.12-fips<" in body
    assert "needs FIPS" in body
