"""CMVP record import: the real certificate #4282, idempotence, recorded
changes, every kind of bad input, and the command."""

import io
import json
from datetime import date
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.fips.models import CryptoModule, CryptoModuleChange
from apps.fips.services import crypto_modules_import

RECORD = Path(__file__).resolve().parents[2] / "apps/fips/testdata/cmvp-cert-4282.json"

pytestmark = pytest.mark.django_db


def record(**certificate_changes):
    document = json.loads(RECORD.read_bytes())
    for key, value in certificate_changes.items():
        if value is ...:
            del document["certificate"][key]
        else:
            document["certificate"][key] = value
    return json.dumps(document).encode()


def nothing_written():
    return (
        not CryptoModule.objects.exists()
        and not CryptoModuleChange.objects.exists()
        and not AuditEvent.objects.filter(
            action=AuditEvent.Action.EVIDENCE_IMPORTED
        ).exists()
    )


def test_real_record_imports_the_fields_the_file_states():
    document = json.loads(RECORD.read_bytes())["certificate"]

    report = crypto_modules_import(content=RECORD.read_bytes())

    assert report.outcome == "created"
    module = CryptoModule.objects.get()
    assert module.certificate_number == int(document["certificate_number"]) == 4282
    assert module.name == document["module_name"] == "OpenSSL FIPS Provider"
    assert module.vendor == document["vendor_name"] == "The OpenSSL Project"
    assert document["standard"] == "FIPS 140-2"
    assert module.standard == CryptoModule.Standard.FIPS_140_2
    assert document["status"] == "Active"
    assert module.status == CryptoModule.Status.ACTIVE
    # The initial validation, not the later updates of the certificate.
    assert document["validation_dates"][0] == "8/23/2022"
    assert module.validation_date == date(2022, 8, 23)
    assert document["sunset_date"] == "9/21/2026"
    assert module.sunset_date == date(2026, 9, 21)
    assert module.security_policy_url == document["security_policy_url"]
    assert module.security_policy_url.endswith("/140sp4282.pdf")
    assert module.source == CryptoModule.Source.IMPORTED
    assert module.module_version == ""
    assert module.operational_environment == ""
    assert not CryptoModuleChange.objects.exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.EVIDENCE_IMPORTED)
    assert event.target_id == str(module.pk)
    assert event.details["certificate_number"] == 4282
    assert event.details["outcome"] == "created"


def test_reimport_of_the_same_record_changes_nothing():
    crypto_modules_import(content=RECORD.read_bytes())
    first = CryptoModule.objects.get()

    report = crypto_modules_import(content=RECORD.read_bytes())

    assert report.outcome == "unchanged"
    assert report.changed_fields == []
    again = CryptoModule.objects.get()
    assert again.pk == first.pk
    assert again.updated_at == first.updated_at
    assert not CryptoModuleChange.objects.exists()


def test_status_change_is_recorded_as_a_change_row_and_updated_in_place():
    crypto_modules_import(content=RECORD.read_bytes())
    module = CryptoModule.objects.get()

    report = crypto_modules_import(content=record(status="Historical"))

    assert report.outcome == "updated"
    assert report.changed_fields == ["status"]
    module.refresh_from_db()
    assert module.status == CryptoModule.Status.HISTORICAL
    assert CryptoModule.objects.count() == 1
    change = CryptoModuleChange.objects.get()
    assert (change.module, change.field, change.old_value, change.new_value) == (
        module,
        "status",
        "active",
        "historical",
    )
    assert change.source == CryptoModuleChange.Source.IMPORT
    assert change.changed_at == module.updated_at


def test_sunset_change_is_recorded_with_iso_dates():
    crypto_modules_import(content=RECORD.read_bytes())

    crypto_modules_import(content=record(sunset_date="9/21/2027", status="Revoked"))

    rows = {
        c.field: (c.old_value, c.new_value) for c in CryptoModuleChange.objects.all()
    }
    assert rows == {
        "status": ("active", "revoked"),
        "sunset_date": ("2026-09-21", "2027-09-21"),
    }


def test_import_keeps_what_the_record_does_not_state():
    crypto_modules_import(content=RECORD.read_bytes())
    CryptoModule.objects.update(module_version="3.0.8", operational_environment="x")

    report = crypto_modules_import(content=RECORD.read_bytes())

    assert report.outcome == "unchanged"
    module = CryptoModule.objects.get()
    assert (module.module_version, module.operational_environment) == ("3.0.8", "x")


def test_record_without_a_sunset_date_imports_with_none():
    crypto_modules_import(content=record(sunset_date=None))

    assert CryptoModule.objects.get().sunset_date is None


def test_validation_date_text_is_read_when_the_list_is_absent():
    crypto_modules_import(content=record(validation_dates=...))

    assert CryptoModule.objects.get().validation_date == date(2022, 8, 23)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON: line 1"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", 'expected a JSON object with a "certificate" object'),
        (b'{"metadata": {}}', 'expected a JSON object with a "certificate" object'),
        (b'{"certificate": "4282"}', '"certificate" object'),
        (record(certificate_number=...), "certificate_number: missing"),
        (record(certificate_number=""), "certificate_number: missing"),
        (record(certificate_number="0"), "not a positive whole number"),
        (record(certificate_number="-5"), "not a positive whole number"),
        (record(certificate_number="42a"), "not a positive whole number"),
        (record(certificate_number=True), "certificate_number: missing"),
        (record(module_name=...), "module_name: missing"),
        (record(vendor_name=..., vendor=None), "vendor_name: missing"),
        (record(standard="FIPS 140-1"), "is not FIPS 140-2 or FIPS 140-3"),
        (record(status="Revoked (pending)"), "is not Active, Historical or Revoked"),
        (record(status=...), "status: missing"),
        (record(sunset_date="21.9.2026"), "sunset_date: '21.9.2026' is not a date"),
        (record(sunset_date=20260921), "sunset_date: not text"),
        (record(validation_dates=["8/32/2022"]), "validation_dates: '8/32/2022'"),
        (record(validation_dates=[]), "expected a non-empty list of dates"),
        (record(validation_dates=..., validation_date=...), "validation_date: missing"),
        (
            record(validation_dates=..., validation_date="soon"),
            "validation_date: 'soon' is not a date",
        ),
        (record(sunset_date="8/1/2022"), "sunset date is after the validation date"),
        (record(security_policy_url="not a url"), "security_policy_url: Enter a valid"),
        (record(security_policy_url=7), "security_policy_url: not text"),
        (record(module_name="x" * 300), "name: Ensure this value has at most 255"),
    ],
)
def test_bad_record_is_refused_and_nothing_is_written(content, message):
    with pytest.raises(ValidationError) as excinfo:
        crypto_modules_import(content=content)

    assert message in "\n".join(excinfo.value.messages)
    assert nothing_written()


def test_bad_record_for_a_known_module_leaves_it_as_it_was():
    crypto_modules_import(content=RECORD.read_bytes())
    before = CryptoModule.objects.get()
    events = AuditEvent.objects.count()

    with pytest.raises(ValidationError) as excinfo:
        crypto_modules_import(
            content=record(status="Historical", sunset_date="1/1/2020")
        )

    assert excinfo.value.messages == [
        "CMVP certificate #4282: The sunset date is after the validation date."
    ]

    after = CryptoModule.objects.get()
    assert (after.status, after.sunset_date, after.updated_at) == (
        before.status,
        before.sunset_date,
        before.updated_at,
    )
    assert not CryptoModuleChange.objects.exists()
    assert AuditEvent.objects.count() == events


def test_every_problem_in_a_record_is_named():
    with pytest.raises(ValidationError) as excinfo:
        crypto_modules_import(
            content=record(status="Gone", standard="FIPS 9", sunset_date="never")
        )

    text = "\n".join(excinfo.value.messages)
    assert "status" in text
    assert "standard" in text
    assert "sunset_date" in text


def test_oversized_record_is_refused(settings):
    settings.EVIDENCE_MAX_BYTES = 100

    with pytest.raises(ValidationError, match="over the 100-byte limit"):
        crypto_modules_import(content=RECORD.read_bytes())
    assert nothing_written()


def test_command_reports_created_then_unchanged_then_updated(tmp_path):
    out = io.StringIO()
    call_command("fips_modules_import", str(RECORD), stdout=out)
    call_command("fips_modules_import", str(RECORD), stdout=out)
    changed = tmp_path / "4282.json"
    changed.write_bytes(record(status="Historical"))
    call_command("fips_modules_import", str(changed), stdout=out)

    assert out.getvalue().splitlines() == [
        "CMVP certificate #4282: created.",
        "CMVP certificate #4282: unchanged.",
        "CMVP certificate #4282: updated (status).",
    ]
    assert CryptoModuleChange.objects.get().new_value == "historical"
    events = AuditEvent.objects.filter(action=AuditEvent.Action.EVIDENCE_IMPORTED)
    assert [e.details["outcome"] for e in events.order_by("id")] == [
        "created",
        "unchanged",
        "updated",
    ]
    assert events.order_by("-id").first().details["source"] == str(changed)


def test_command_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("fips_modules_import", str(tmp_path / "missing.json"))


def test_command_refuses_an_oversized_file(settings):
    settings.EVIDENCE_MAX_BYTES = 100

    with pytest.raises(CommandError, match="over the 100-byte limit"):
        call_command("fips_modules_import", str(RECORD))
    assert nothing_written()


def test_command_turns_a_bad_record_into_a_command_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(record(status="Unknown"))

    with pytest.raises(CommandError) as excinfo:
        call_command("fips_modules_import", str(bad))

    assert str(excinfo.value).startswith(f"{bad}: ")
    assert "is not Active, Historical or Revoked" in str(excinfo.value)
    assert nothing_written()
