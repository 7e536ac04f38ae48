"""Findings are named and found the way customers name them: the CVE id
first, with its GHSA, PYSEC and distribution aliases, any of which finds it."""

from __future__ import annotations

import pytest

from tests.catalog import builders as catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def image():
    image = catalog.build(catalog.series(catalog.repository("python"), "3.12"))
    ghsa = catalog.vulnerability(
        "GHSA-2m57-hf25-phgg", aliases=["CVE-2023-24580", "PYSEC-2023-13"]
    )
    catalog.finding(image, ghsa, catalog.component("django", "4.0.1", "pypi"))
    other = catalog.vulnerability("CVE-2024-0001")
    catalog.finding(image, other, catalog.component("zlib", "1.3-r0"))
    return image


def _rows(page: str) -> str:
    table = page[page.index('id="findings"') :]
    return table[: table.index("</table>")]


@pytest.mark.parametrize(
    "known_as", ["CVE-2023-24580", "ghsa-2m57-hf25-phgg", "PYSEC-2023-13"]
)
def test_the_digest_page_finds_a_finding_by_any_of_its_ids(client, image, known_as):
    page = client.get(image.get_absolute_url(), {"vulnerability": known_as})
    rows = _rows(page.content.decode())
    assert rows.count("<tr") == 1 + 1
    # The CVE leads, the other ids follow it.
    assert ">CVE-2023-24580</span>" in rows
    assert "GHSA-2m57-hf25-phgg, PYSEC-2023-13" in rows
    assert "CVE-2024-0001" not in rows


def test_an_id_nobody_has_finds_nothing_and_a_part_of_an_id_is_not_a_match(
    client, image
):
    for wanted in ("CVE-1999-0001", "CVE-2023"):
        page = client.get(image.get_absolute_url(), {"vulnerability": wanted})
        assert _rows(page.content.decode()).count("<tr") == 1 + 1  # the empty row


def test_the_findings_api_filters_by_an_alias(client, image):
    found = client.get("/api/v1/findings/", {"vulnerability": "PYSEC-2023-13"})
    assert found.status_code == 200
    ids = [row["vulnerability"] for row in found.json()["results"]]
    assert len(ids) == 1
