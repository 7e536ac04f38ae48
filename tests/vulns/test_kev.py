"""CISA KEV import: the real catalog, flags by id or alias, unflagging, bad input."""

import io
import json
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apps.vulns.models import Vulnerability
from apps.vulns.services import kev_import, osv_import

from .feed_helpers import KEV, LOG4SHELL, osv_record

FULL = KEV / "known_exploited_vulnerabilities.json"
SLICE = KEV / "kev_slice_container_userland.json"


def kev_state(vuln_id):
    vuln = Vulnerability.objects.get(vuln_id=vuln_id)
    return vuln.kev, vuln.kev_date_added, vuln.kev_due_date, vuln.kev_ransomware


@pytest.fixture
def feeds(db):
    """Real advisories, plus CVE rows for a few catalog entries."""
    osv_import(
        records=[
            LOG4SHELL,
            osv_record("ubuntu/CVE-2023-0286.json"),
            osv_record("ghsa-pysec/GHSA-j8r2-6x86-q33q.json"),
        ]
    )
    Vulnerability.objects.bulk_create(
        [
            Vulnerability(vuln_id="CVE-2014-0160"),  # Heartbleed: in the slice too
            Vulnerability(vuln_id="CVE-2022-22965"),  # Spring4Shell: not in the slice
        ]
    )


def test_full_catalog_flags_by_id_and_by_alias(feeds):
    report = kev_import(content=FULL.read_bytes())
    assert report.catalog_version == "2025.08.25"
    assert report.entries == 1404
    assert (report.flagged, report.newly_flagged, report.unflagged) == (3, 3, 0)
    assert report.unmatched == 1401
    # Flagged through its alias, with the catalog's dates and ransomware use.
    assert kev_state("GHSA-jfh8-c2jp-5v3q") == (
        True,
        date(2021, 12, 10),
        date(2021, 12, 24),
        True,
    )
    assert kev_state("CVE-2014-0160") == (
        True,
        date(2022, 5, 4),
        date(2022, 5, 25),
        False,  # "Unknown"
    )
    assert kev_state("CVE-2023-0286")[0] is False
    assert kev_state("GHSA-j8r2-6x86-q33q")[0] is False


def test_entries_no_longer_listed_are_unflagged(feeds):
    kev_import(content=FULL.read_bytes())
    report = kev_import(content=SLICE.read_bytes())
    assert (report.flagged, report.newly_flagged, report.unflagged) == (2, 0, 1)
    assert kev_state("CVE-2022-22965") == (False, None, None, False)
    assert kev_state("CVE-2014-0160")[0] is True
    assert kev_state("GHSA-jfh8-c2jp-5v3q")[0] is True


def test_reimport_changes_nothing(feeds):
    kev_import(content=FULL.read_bytes())
    report = kev_import(content=FULL.read_bytes())
    assert (report.flagged, report.newly_flagged, report.updated) == (3, 0, 0)


def test_changed_due_date_is_taken(feeds):
    kev_import(content=FULL.read_bytes())
    catalog = json.loads(SLICE.read_bytes())
    for entry in catalog["vulnerabilities"]:
        if entry["cveID"] == "CVE-2014-0160":
            entry["dueDate"] = "2022-06-30"
    report = kev_import(content=json.dumps(catalog).encode())
    assert report.updated == 2  # the new due date, and Spring4Shell unflagged
    assert kev_state("CVE-2014-0160")[2] == date(2022, 6, 30)


def test_whole_catalog_in_a_few_queries(db, django_assert_max_num_queries):
    catalog = json.loads(FULL.read_bytes())
    # Every catalog CVE known here, half by id and half through an alias.
    Vulnerability.objects.bulk_create(
        [
            Vulnerability(vuln_id=entry["cveID"])
            if index % 2
            else Vulnerability(vuln_id=f"GHSA-{index:04d}", aliases=[entry["cveID"]])
            for index, entry in enumerate(catalog["vulnerabilities"])
        ]
        + [Vulnerability(vuln_id=f"CVE-2099-{n:05d}") for n in range(2000)]
    )
    # One read of the table, then batched writes: two on PostgreSQL, ten under
    # SQLite's 999-parameter statements; plus the savepoint and its release,
    # and the row recording the import.
    writes = 2 if connection.vendor == "postgresql" else 10
    with django_assert_max_num_queries(4 + writes):
        report = kev_import(content=FULL.read_bytes())
    assert (report.flagged, report.unmatched) == (1404, 0)
    assert Vulnerability.objects.filter(kev=True).count() == 1404
    assert Vulnerability.objects.filter(kev_ransomware=True).count() == 293


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def kev_flags():
    return sorted(Vulnerability.objects.values_list("vuln_id", "kev", "kev_due_date"))


@pytest.fixture
def flagged(feeds):
    kev_import(content=FULL.read_bytes())
    return kev_flags()


def refused(flagged, content, match):
    with pytest.raises(ValidationError) as info:
        kev_import(content=content)
    message = "\n".join(info.value.messages)
    assert match in message, message
    assert kev_flags() == flagged


def slice_with(change):
    catalog = json.loads(SLICE.read_bytes())
    change(catalog)
    return json.dumps(catalog).encode()


def test_invalid_json_is_refused(flagged):
    refused(flagged, b'{"catalogVersion": ', "not valid JSON: line 1 column 20")


def test_not_utf8_is_refused(flagged):
    refused(flagged, b"\x80{}", "not UTF-8")


def test_bad_cve_id_names_its_path(flagged):
    def change(catalog):
        catalog["vulnerabilities"][3]["cveID"] = "CVE-21-1"

    refused(
        flagged,
        slice_with(change),
        "KEV catalog vulnerabilities[3].cveID: 'CVE-21-1' does not match",
    )


def test_missing_due_date_names_its_entry(flagged):
    def change(catalog):
        del catalog["vulnerabilities"][7]["dueDate"]

    refused(
        flagged,
        slice_with(change),
        "KEV catalog vulnerabilities[7]: 'dueDate' is a required property",
    )


def test_impossible_date_is_refused(flagged):
    def change(catalog):
        catalog["vulnerabilities"][0]["dateAdded"] = "2025-02-30"

    refused(
        flagged,
        slice_with(change),
        "KEV catalog vulnerabilities[0].dateAdded: '2025-02-30' is not a 'date'",
    )


def test_missing_catalog_fields_are_refused(flagged):
    refused(
        flagged,
        json.dumps({"vulnerabilities": []}).encode(),
        "KEV catalog $: 'catalogVersion' is a required property",
    )


def test_a_cut_short_catalog_is_refused(flagged):
    def change(catalog):
        catalog["vulnerabilities"].pop()

    refused(flagged, slice_with(change), "count: says 36 but lists 35")


def test_oversized_catalog_is_refused(flagged, settings):
    settings.EVIDENCE_MAX_BYTES = 10_000
    refused(flagged, SLICE.read_bytes(), "over the 10000-byte limit")


def test_command_imports_the_catalog(feeds):
    out = io.StringIO()
    call_command("import_kev", str(FULL), stdout=out)
    assert "KEV catalog 2025.08.25: 1404 entries; 3 vulnerabilities flagged" in (
        out.getvalue()
    )


def test_command_names_the_schema_path(flagged, tmp_path):
    def change(catalog):
        catalog["vulnerabilities"][1]["knownRansomwareCampaignUse"] = 1

    path = tmp_path / "kev.json"
    path.write_bytes(slice_with(change))
    with pytest.raises(
        CommandError,
        match=r"vulnerabilities\[1\]\.knownRansomwareCampaignUse: 1 is not of type",
    ):
        call_command("import_kev", str(path))
    assert kev_flags() == flagged


def test_command_refuses_missing_and_oversized_files(flagged, tmp_path, settings):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_kev", str(tmp_path / "missing.json"))
    settings.EVIDENCE_MAX_BYTES = 100
    with pytest.raises(CommandError, match="over the 100-byte limit"):
        call_command("import_kev", str(SLICE))
    assert kev_flags() == flagged
