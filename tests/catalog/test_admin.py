"""Staff manage the catalog in the Django admin; imported evidence stays as imported."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.catalog.models import Attestation, ImageDigest, Repository, Series, TagEvent
from apps.vulns.models import Component, Finding, Vulnerability
from tests.factories import UserFactory

from . import builders as b

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def staff():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def catalog():
    repo = b.repository("python")
    s = b.series(repo, "3.12", support=400, els=900)
    image = b.build(s, tags=["3.12"])
    b.build(s, tags=["3.12"])  # moves the tag: history on the first build
    attestation = b.sbom(image)
    comp = b.component("zlib")
    b.contains(image, comp, attestation)
    vuln = b.vulnerability("CVE-2024-0001", aliases=["GHSA-aaaa-bbbb-cccc"])
    finding = b.finding(image, vuln, comp)
    return {
        "repository": repo,
        "series": s,
        "image": image,
        "attestation": attestation,
        "component": comp,
        "vulnerability": vuln,
        "finding": finding,
    }


MODELS = [
    ("repository", Repository),
    ("series", Series),
    ("image", ImageDigest),
    ("attestation", Attestation),
    ("component", Component),
    ("vulnerability", Vulnerability),
    ("finding", Finding),
]


def _url(model, action, *args):
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{action}", args=args)


@pytest.mark.parametrize(("key", "model"), MODELS)
def test_staff_open_every_list_and_object(staff, catalog, key, model):
    obj = catalog[key]
    listing = staff.get(_url(model, "changelist"))
    assert listing.status_code == 200
    assert str(obj.pk) in listing.content.decode()
    assert staff.get(_url(model, "change", obj.pk)).status_code == 200


def test_repository_page_edits_series_inline(staff, catalog):
    page = staff.get(_url(Repository, "change", catalog["repository"].pk))
    assert b"series-TOTAL_FORMS" in page.content
    series_page = staff.get(_url(Series, "change", catalog["series"].pk))
    assert b"variants-TOTAL_FORMS" in series_page.content


def _repository_form(**overrides) -> dict:
    data = {
        "name": "ruby",
        "display_name": "Ruby",
        "description": "",
        "category": "language",
        "tags": "[]",
        "created_at_0": "2026-01-01",
        "created_at_1": "00:00:00",
        "series-TOTAL_FORMS": "1",
        "series-INITIAL_FORMS": "0",
        "series-MIN_NUM_FORMS": "0",
        "series-MAX_NUM_FORMS": "1000",
        "series-0-name": "3.3",
        "series-0-upstream_ga": "2023-12-25",
        "series-0-upstream_eol": "2027-03-31",
        "series-0-support_end": "2027-03-31",
        "series-0-els_end": "2028-03-31",
    }
    return {**data, **overrides}


def test_staff_add_a_repository_with_its_series(staff):
    response = staff.post(_url(Repository, "add"), _repository_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    ruby = Repository.objects.get(name="ruby")
    assert ruby.series.get().els_end.isoformat() == "2028-03-31"


def test_els_before_support_end_is_refused_and_nothing_is_written(staff):
    response = staff.post(
        _url(Repository, "add"), _repository_form(**{"series-0-els_end": "2026-01-01"})
    )
    assert response.status_code == 200
    assert "ELS ends on or after publisher support ends." in response.content.decode()
    assert not Repository.objects.filter(name="ruby").exists()
    assert not Series.objects.exists()


def test_digest_search_takes_the_digest_as_written(staff, catalog):
    image = catalog["image"]
    url = _url(ImageDigest, "changelist")
    for term in (image.digest, image.digest[:20].upper(), image.digest[7:19]):
        page = staff.get(url, {"q": term}).content.decode()
        assert _url(ImageDigest, "change", image.pk) in page, term
    assert (
        "0 image digests" in staff.get(url, {"q": "sha256:ffff0000"}).content.decode()
    )


def test_vulnerability_search_finds_aliases(staff, catalog):
    page = staff.get(_url(Vulnerability, "changelist"), {"q": "GHSA-aaaa"})
    assert "CVE-2024-0001" in page.content.decode()


def test_digest_shows_its_tag_history_read_only(staff, catalog):
    image = catalog["image"]
    page = staff.get(_url(ImageDigest, "change", image.pk)).content.decode()
    assert f"moved to {ImageDigest.objects.exclude(pk=image.pk).get().digest}" in page
    assert "tag_events-TOTAL_FORMS" in page
    assert 'name="tag_events-0-tag"' not in page  # shown, not editable
    assert 'name="digest"' not in page  # a build keeps its identity


def test_imported_rows_cannot_be_added_edited_or_deleted(staff, catalog):
    for key, model in (
        ("attestation", Attestation),
        ("finding", Finding),
    ):
        obj = catalog[key]
        assert staff.get(_url(model, "add")).status_code == 403
        assert staff.post(_url(model, "change", obj.pk), {}).status_code == 403
        assert (
            staff.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code
            == 403
        )
    assert staff.get(_url(ImageDigest, "add")).status_code == 403
    assert Attestation.objects.filter(pk=catalog["attestation"].pk).exists()
    assert Finding.objects.filter(pk=catalog["finding"].pk).exists()
    assert TagEvent.objects.count() == 2


def test_non_staff_are_sent_to_the_admin_login(catalog):
    client = Client()
    client.force_login(UserFactory())
    response = client.get(_url(Finding, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# Session, user and allauth's session tracking (7), the count twice (filtered
# and total), one page of findings joined to what each row shows, and the
# date hierarchy's range and days, and the staff's second factor (1): measured,
# the same at 3 rows and at 30.
ADMIN_FINDINGS = 13


def test_finding_list_queries_do_not_grow(staff, django_assert_max_num_queries):
    image = b.build(b.series(b.repository("python")))
    made = []

    def grow(total):
        while len(made) < total:
            i = len(made)
            comp = b.component(f"pkg-{i}")
            made.append(b.finding(image, b.vulnerability(f"CVE-2025-{i:04d}"), comp))

    url = _url(Finding, "changelist")
    staff.get(url)  # warm up: the session's first-visit bookkeeping
    counts = []
    for total in (3, 30):
        grow(total)
        with (
            django_assert_max_num_queries(ADMIN_FINDINGS),
            CaptureQueriesContext(connection) as ctx,
        ):
            assert staff.get(url).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
