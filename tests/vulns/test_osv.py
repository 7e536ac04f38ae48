"""OSV import: real Ubuntu, GitHub/PyPA and Docker Hardened Images records."""

import io
import json
import shutil
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.vulns.formats.osv import ecosystem_package, osv_parse
from apps.vulns.models import AffectedPackage, Severity, Vulnerability
from apps.vulns.services import osv_import

from .feed_helpers import OSV, osv_record

RECORDS = 218  # 1 Ubuntu + 64 GHSA/PYSEC/CVE + 151 DHI + 2 Go
AFFECTED_PACKAGES = 275  # CVE-2023-50094's only entry is a GIT range: not kept


def counts():
    return Vulnerability.objects.count(), AffectedPackage.objects.count()


def zip_of(tmp_path, members: dict[str, bytes], name="osv.zip"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return path


@pytest.mark.parametrize(
    ("ecosystem", "name", "purl", "expected"),
    [
        ("Debian:11", "openssl", "", ("deb", "openssl", "debian-11")),
        ("Ubuntu:20.04:LTS", "openssl", "", ("deb", "openssl", "ubuntu-20.04")),
        ("Ubuntu:Pro:18.04:LTS", "openssl", "", ("deb", "openssl", "ubuntu-18.04")),
        ("Ubuntu:22.10", "openssl", "", ("deb", "openssl", "ubuntu-22.10")),
        ("Alpine:v3.16", "busybox", "", ("apk", "busybox", "alpine-3.16")),
        ("PyPI", "Jinja2", "", ("pypi", "jinja2", "")),
        ("PyPI", "zope.interface", "", ("pypi", "zope-interface", "")),
        ("npm", "@babel/traverse", "", ("npm", "@babel/traverse", "")),
        ("Go", "golang.org/x/net", "", ("golang", "golang.org/x/net", "")),
        (
            "Maven",
            "org.apache.logging.log4j:log4j-core",
            "",
            ("maven", "org.apache.logging.log4j:log4j-core", ""),
        ),
        ("crates.io", "openssl", "", ("cargo", "openssl", "")),
        ("Packagist", "GuzzleHttp/Guzzle", "", ("composer", "guzzlehttp/guzzle", "")),
        ("DHI", "python", "pkg:dhi/python", ("dhi", "python", "")),
    ],
)
def test_ecosystems_map_to_purl_types_and_distros(ecosystem, name, purl, expected):
    assert ecosystem_package(ecosystem, name, purl) == expected


# --------------------------------------------------------------------------
# Real records
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_directory_of_real_records():
    report = osv_import(path=OSV)
    assert (report.records, report.created, report.updated) == (RECORDS, RECORDS, 0)
    assert report.affected_packages == AFFECTED_PACKAGES
    assert counts() == (RECORDS, AFFECTED_PACKAGES)


@pytest.mark.django_db
def test_ubuntu_record_fields():
    osv_import(records=[osv_record("ubuntu/CVE-2023-0286.json")])
    vuln = Vulnerability.objects.get(vuln_id="CVE-2023-0286")
    assert vuln.disclosed_at == datetime(2023, 2, 7, tzinfo=UTC)
    assert vuln.modified_at == datetime(2024, 8, 23, 16, 30, 36, tzinfo=UTC)
    assert vuln.withdrawn_at is None
    assert vuln.details.startswith("There is a type confusion vulnerability")
    assert vuln.cvss_v3_vector == "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:H"
    assert vuln.cvss_v3_score == Decimal("7.4")
    assert vuln.cvss_v4_vector == ""
    assert (vuln.vendor_severity, vuln.severity) == (Severity.HIGH, Severity.HIGH)
    assert {"type": "REPORT", "url": "https://ubuntu.com/security/CVE-2023-0286"} in (
        vuln.references
    )
    focal = vuln.affected.get(ecosystem="Ubuntu:20.04:LTS", package_name="openssl")
    assert (focal.purl_type, focal.distro) == ("deb", "ubuntu-20.04")
    assert focal.ranges == [
        {
            "type": "ECOSYSTEM",
            "events": [{"introduced": "0"}, {"fixed": "1.1.1f-1ubuntu2.17"}],
        }
    ]
    assert "1.1.1f-1ubuntu2.16" in focal.versions
    trusty_pro = vuln.affected.get(ecosystem="Ubuntu:Pro:14.04:LTS")
    assert trusty_pro.distro == "ubuntu-14.04"


@pytest.mark.django_db
def test_github_record_fields():
    osv_import(records=[osv_record("ghsa-pysec/GHSA-j8r2-6x86-q33q.json")])
    vuln = Vulnerability.objects.get()
    assert vuln.vuln_id == "GHSA-j8r2-6x86-q33q"
    assert vuln.aliases == ["CVE-2023-32681", "PYSEC-2023-74"]
    assert vuln.summary == "Unintended leak of Proxy-Authorization header in requests"
    assert vuln.severity == Severity.MEDIUM
    (affected,) = vuln.affected.all()
    assert (affected.ecosystem, affected.purl_type, affected.package_name) == (
        "PyPI",
        "pypi",
        "requests",
    )
    assert affected.ranges[0]["events"] == [
        {"introduced": "2.3.0"},
        {"fixed": "2.31.0"},
    ]


@pytest.mark.django_db
def test_dhi_records_are_named_by_their_purl():
    osv_import(path=OSV / "dhi-python")
    assert Vulnerability.objects.count() == 151
    affected = AffectedPackage.objects.get(vulnerability__vuln_id="CVE-2007-4559")
    assert (affected.ecosystem, affected.purl_type, affected.package_name) == (
        "DHI",
        "dhi",
        "python",
    )
    assert affected.ranges[0]["type"] == "SEMVER"
    assert {"introduced": "3.9.0-alpha1"} in affected.ranges[0]["events"]
    assert Vulnerability.objects.get(vuln_id="CVE-2007-4559").aliases == ["PSF-2007-2"]


@pytest.mark.django_db
def test_zip_import_equals_directory_import(tmp_path):
    members = {
        f"{path.parent.name}/{path.name}": path.read_bytes()
        for path in OSV.rglob("*.json")
    }
    report = osv_import(path=zip_of(tmp_path, members))
    assert (report.records, report.affected_packages) == (RECORDS, AFFECTED_PACKAGES)
    assert counts() == (RECORDS, AFFECTED_PACKAGES)


@pytest.mark.django_db
def test_a_single_json_file_is_a_feed_of_one():
    report = osv_import(path=OSV / "ubuntu" / "CVE-2023-0286.json")
    assert (report.created, report.affected_packages) == (1, 11)


@pytest.mark.django_db
def test_records_may_be_given_as_bytes():
    content = (OSV / "ubuntu" / "CVE-2023-0286.json").read_bytes()
    osv_import(records=[content])
    assert Vulnerability.objects.get().vuln_id == "CVE-2023-0286"


# --------------------------------------------------------------------------
# Re-import
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_reimporting_unchanged_records_rewrites_no_advisory(
    tmp_path, django_assert_max_num_queries
):
    osv_import(path=OSV)
    before = list(
        AffectedPackage.objects.order_by("pk").values_list("pk", "vulnerability_id")
    )
    # The same records, re-serialised with other whitespace and key order.
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in (OSV / "ghsa-pysec").glob("*.json"):
        data = json.loads(path.read_text())
        (copy / path.name).write_text(json.dumps(data, sort_keys=True))
    shutil.copytree(OSV / "dhi-python", copy / "dhi")
    shutil.copytree(OSV / "go", copy / "go")
    shutil.copy(OSV / "ubuntu" / "CVE-2023-0286.json", copy)

    # One read per batch of records, no advisory written; the import itself is
    # recorded: one count of the records held per ecosystem, one insert.
    with django_assert_max_num_queries(6):
        report = osv_import(path=copy)
    assert (report.created, report.updated, report.unchanged) == (0, 0, RECORDS)
    assert report.affected_packages == 0
    after = list(
        AffectedPackage.objects.order_by("pk").values_list("pk", "vulnerability_id")
    )
    assert after == before


@pytest.mark.django_db
def test_changed_record_is_updated_in_place_and_keeps_its_kev_flag():
    record = osv_record("ghsa-pysec/GHSA-j8r2-6x86-q33q.json")
    osv_import(records=[record])
    vuln = Vulnerability.objects.get()
    old_affected = set(vuln.affected.values_list("pk", flat=True))
    Vulnerability.objects.filter(pk=vuln.pk).update(
        kev=True, kev_date_added=date(2024, 1, 2), kev_due_date=date(2024, 1, 23)
    )

    record["modified"] = "2025-03-01T00:00:00Z"
    record["summary"] = "Proxy-Authorization leak (amended)"
    record["affected"][0]["ranges"][0]["events"][1] = {"fixed": "2.31.1"}
    report = osv_import(records=[record])

    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    updated = Vulnerability.objects.get()
    assert updated.pk == vuln.pk
    assert updated.summary == "Proxy-Authorization leak (amended)"
    assert updated.modified_at == datetime(2025, 3, 1, tzinfo=UTC)
    assert updated.source_sha256 != vuln.source_sha256
    assert (updated.kev, updated.kev_due_date) == (True, date(2024, 1, 23))
    (affected,) = updated.affected.all()
    assert affected.pk not in old_affected
    assert affected.ranges[0]["events"][1] == {"fixed": "2.31.1"}


@pytest.mark.django_db
def test_same_record_twice_in_one_feed_is_imported_once():
    record = osv_record("ubuntu/CVE-2023-0286.json")
    report = osv_import(records=[record, json.loads(json.dumps(record))])
    assert report.created == 1
    assert counts() == (1, 11)


# --------------------------------------------------------------------------
# Bad input: refused whole, nothing written
# --------------------------------------------------------------------------


@pytest.fixture
def existing(db):
    """One record already imported: a refused import must leave it as it was."""
    osv_import(records=[osv_record("ubuntu/CVE-2023-0286.json")])
    return counts()


def refused(existing, match, **kwargs):
    with pytest.raises(ValidationError) as info:
        osv_import(**kwargs)
    message = "\n".join(info.value.messages)
    assert match in message, message
    assert counts() == existing
    return message


def good_members():
    return {
        path.name: path.read_bytes() for path in (OSV / "ghsa-pysec").glob("GHSA-*")
    }


def test_invalid_json_in_one_zip_member_names_the_member(existing, tmp_path):
    members = good_members()
    members["broken/GHSA-bad.json"] = b'{"id": "GHSA-bad", '
    members["broken/GHSA-worse.json"] = b'{"id": "GHSA-worse"}\n]'
    path = zip_of(tmp_path, members)
    message = refused(existing, "broken/GHSA-bad.json: invalid JSON", path=path)
    assert "line 1 column 20" in message
    # Every broken file is named, not only the first.
    assert "broken/GHSA-worse.json: invalid JSON at line 2 column 1" in message


def test_schema_violations_name_the_path_in_the_record(existing, tmp_path):
    good = osv_record("ghsa-pysec/GHSA-j8r2-6x86-q33q.json")
    no_id = dict(good)
    del no_id["id"]
    bad_event = json.loads(json.dumps(good))
    bad_event["affected"][0]["ranges"][0]["events"][1] = {"fixed": "1", "limit": "2"}
    bad_type = json.loads(json.dumps(good))
    bad_type["affected"][0]["ranges"][0]["type"] = "RANGE"
    bad_vector = json.loads(json.dumps(good))
    bad_vector["severity"] = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:X"}]
    directory = tmp_path / "feed"
    directory.mkdir()
    for name, record in [
        ("a-good.json", good),
        ("b-no-id.json", no_id),
        ("c-event.json", bad_event),
        ("d-type.json", bad_type),
        ("e-vector.json", bad_vector),
    ]:
        (directory / name).write_text(json.dumps(record))
    message = refused(existing, "b-no-id.json: id: is required", path=directory)
    # Every bad record is reported, not just the first.
    assert "c-event.json: affected[0].ranges[0].events[1]: must be an object" in (
        message
    )
    assert "d-type.json: affected[0].ranges[0].type: 'RANGE' is not one of" in message
    assert "e-vector.json: severity: invalid CVSS v3 vector" in message


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"modified": "yesterday"}, "records[0]: modified: 'yesterday' is not an RFC"),
        ({"modified": None}, "records[0]: modified: is required"),
        ({"schema_version": "2.0.0"}, "schema_version: '2.0.0' is not an OSV 1.x"),
        ({"aliases": "CVE-2023-32681"}, "aliases: must be an array, not a string"),
        ({"affected": [{"package": {"name": "x"}}]}, "package.ecosystem: is required"),
        ({"id": "x" * 101}, "id: is longer than 100 characters"),
    ],
)
def test_malformed_records_are_refused(existing, change, match):
    record = osv_record("ghsa-pysec/GHSA-j8r2-6x86-q33q.json")
    record.update(change)
    record = {key: value for key, value in record.items() if value is not None}
    refused(existing, match, records=[record])


def test_a_record_that_is_not_an_object_is_refused(existing):
    refused(existing, "records[0]: $: an OSV record is a JSON object", records=[[]])


def test_same_id_with_different_content_is_refused(existing):
    record = osv_record("ghsa-pysec/GHSA-j8r2-6x86-q33q.json")
    other = dict(record, summary="something else")
    refused(
        existing, "GHSA-j8r2-6x86-q33q is also in records[0]", records=[record, other]
    )


def test_missing_path_is_refused(existing, tmp_path):
    refused(existing, "no such file or directory", path=tmp_path / "nope")


def test_a_file_that_is_not_a_zip_is_refused(existing, tmp_path):
    path = tmp_path / "feed.tar"
    path.write_bytes(b"not a zip")
    refused(existing, "not a directory, a zip file or a .json file", path=path)


def test_empty_directory_is_refused(existing, tmp_path):
    refused(existing, "No OSV records found", path=tmp_path)


def test_oversized_file_in_a_directory_is_refused(existing, tmp_path, settings):
    settings.EVIDENCE_MAX_BYTES = 4096
    shutil.copy(OSV / "ubuntu" / "CVE-2023-0286.json", tmp_path)  # 16,891 bytes
    refused(existing, "CVE-2023-0286.json: 16891 bytes is over the 4096", path=tmp_path)


def test_zip_bomb_member_is_refused_before_it_is_unpacked(existing, tmp_path, settings):
    settings.EVIDENCE_MAX_BYTES = 64 * 1024
    # 50 MB of spaces squeeze into about 50 kB: refused by its declared size.
    bomb = b'{"id": "BOMB-1", "modified": "2025-01-01T00:00:00Z"' + b" " * 50_000_000
    path = zip_of(tmp_path, {**good_members(), "bomb.json": bomb + b"}"})
    assert path.stat().st_size < 1_000_000
    refused(existing, "bomb.json: 50000052 bytes unpacked is over the 65536", path=path)


def test_zip_member_lying_about_its_size_is_cut_at_the_limit(
    existing, tmp_path, settings
):
    settings.EVIDENCE_MAX_BYTES = 64 * 1024
    content = b'{"id": "LIAR-1", "details": "' + b"a" * 200_000 + b'"}'
    path = zip_of(tmp_path, {"liar.json": content})
    # Rewrite the member's declared sizes (central directory and local header)
    # to 100 bytes, as a crafted archive would.
    data = bytearray(path.read_bytes())
    real = len(content).to_bytes(4, "little")
    fake = (100).to_bytes(4, "little")
    assert data.count(real) == 2
    path.write_bytes(bytes(data).replace(real, fake))
    # zipfile stops at the declared size, and the checksum then fails.
    refused(existing, "liar.json: cannot be unpacked (Bad CRC-32", path=path)


def test_archive_unpacking_to_too_much_in_total_is_refused(
    existing, tmp_path, settings
):
    settings.EVIDENCE_MAX_BYTES = 1024
    members = {f"r{n}.json": b"{" + b" " * 1000 + b"}" for n in range(110)}
    refused(
        existing,
        "over the 102400-byte limit for an archive",
        path=zip_of(tmp_path, members),
    )


def test_oversized_record_bytes_are_refused(existing, settings):
    settings.EVIDENCE_MAX_BYTES = 1024
    content = (OSV / "ubuntu" / "CVE-2023-0286.json").read_bytes()
    refused(existing, "records[0]: over the 1024-byte limit", records=[content])


def test_records_and_path_together_are_refused(existing):
    refused(existing, "not both or neither", records=[], path=OSV)


# --------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_command_imports_a_zip(tmp_path):
    path = zip_of(tmp_path, good_members())
    out = io.StringIO()
    call_command("import_osv", str(path), stdout=out)
    assert "35 OSV records: 35 new" in out.getvalue()
    assert Vulnerability.objects.count() == 35


def test_command_names_the_bad_member(existing, tmp_path):
    members = good_members()
    members["GHSA-zzzz.json"] = b"[1, 2"
    path = zip_of(tmp_path, members)
    with pytest.raises(CommandError, match=r"osv\.zip!GHSA-zzzz\.json: invalid JSON"):
        call_command("import_osv", str(path))
    assert counts() == existing


def test_command_refuses_a_missing_path(existing, tmp_path):
    with pytest.raises(CommandError, match="no such file or directory"):
        call_command("import_osv", str(tmp_path / "missing"))


def test_git_only_affected_entries_are_not_kept():
    parsed = osv_parse(osv_record("ghsa-pysec/CVE-2023-50094.json"))
    assert parsed.affected == []
    assert parsed.cvss_v3_score == Decimal("8.8")


def test_a_zero_publication_date_is_read_as_not_stated():
    # The Go database's repository copies carry 0001-01-01 for both dates.
    parsed = osv_parse(osv_record("go/GO-2022-1059.json"))
    assert parsed.disclosed_at is None
