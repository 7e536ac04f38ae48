"""Staff edits to the module registry: through the service, each changed
field recorded, bad edits refused whole; the admin uses the same services."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.fips.models import CryptoModule, CryptoModuleChange
from apps.fips.services import crypto_module_create, crypto_module_update

from ..factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def module(staff):
    return crypto_module_create(
        actor=staff,
        name="OpenSSL FIPS Provider",
        vendor="The OpenSSL Project",
        certificate_number=4282,
        standard=CryptoModule.Standard.FIPS_140_2,
        status=CryptoModule.Status.ACTIVE,
        validation_date=date(2022, 8, 23),
        sunset_date=date(2026, 9, 21),
    )


def admin_form(module, **changes):
    data = {
        "name": module.name,
        "vendor": module.vendor,
        "module_version": module.module_version,
        "certificate_number": module.certificate_number,
        "standard": module.standard,
        "status": module.status,
        "validation_date": module.validation_date.isoformat(),
        "sunset_date": module.sunset_date.isoformat() if module.sunset_date else "",
        "security_policy_url": module.security_policy_url,
        "operational_environment": module.operational_environment,
        "changes-TOTAL_FORMS": "0",
        "changes-INITIAL_FORMS": "0",
        "changes-MIN_NUM_FORMS": "0",
        "changes-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def test_staff_created_module_is_marked_as_staff_and_has_no_changes(module):
    assert module.source == CryptoModule.Source.STAFF
    assert not CryptoModuleChange.objects.exists()


def test_update_records_each_changed_field_with_the_actor(module, staff):
    updated = crypto_module_update(
        module=module,
        actor=staff,
        status=CryptoModule.Status.REVOKED,
        module_version="3.0.8",
        vendor=module.vendor,
    )

    assert updated.status == CryptoModule.Status.REVOKED
    rows = {
        c.field: (c.old_value, c.new_value, c.actor, c.source)
        for c in CryptoModuleChange.objects.all()
    }
    assert rows == {
        "status": ("active", "revoked", staff, CryptoModuleChange.Source.STAFF),
        "module_version": ("", "3.0.8", staff, CryptoModuleChange.Source.STAFF),
    }
    from apps.audit.models import AuditEvent

    event = AuditEvent.objects.filter(
        action=AuditEvent.Action.FIPS_MODULE_CHANGED
    ).latest("id")
    assert event.actor == staff
    assert sorted(event.details["changed_fields"]) == ["module_version", "status"]


def test_update_reads_old_values_from_the_database_not_the_instance(module, staff):
    module.status = CryptoModule.Status.HISTORICAL  # as an admin form leaves it

    crypto_module_update(module=module, actor=staff, status="historical")

    change = CryptoModuleChange.objects.get()
    assert (change.old_value, change.new_value) == ("active", "historical")


def test_update_that_changes_nothing_writes_nothing(module, staff):
    crypto_module_update(module=module, actor=staff, status=module.status)

    assert not CryptoModuleChange.objects.exists()
    from apps.audit.models import AuditEvent

    # Only the creation (the fixture's) is on record, no change.
    events = AuditEvent.objects.filter(action=AuditEvent.Action.FIPS_MODULE_CHANGED)
    assert [e.details.get("created") for e in events] == [True]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sunset_date": date(2020, 1, 1)}, "sunset date is after the validation"),
        ({"status": "withdrawn"}, "status"),
        ({"standard": "140-1"}, "standard"),
        ({"certificate_number": 0}, "certificate number is 1 or more"),
        ({"source": "imported"}, "Not editable: source."),
        ({"updated_at": None}, "Not editable: updated_at."),
    ],
)
def test_bad_update_is_refused_and_nothing_is_written(module, staff, changes, message):
    with pytest.raises(ValidationError) as excinfo:
        crypto_module_update(module=module, actor=staff, module_version="9", **changes)

    assert message in "\n".join(excinfo.value.messages)
    module.refresh_from_db()
    assert module.module_version == ""
    assert not CryptoModuleChange.objects.exists()


def test_certificate_number_already_taken_is_refused(module, staff):
    other = crypto_module_create(
        actor=staff,
        name="Other",
        vendor="Vendor",
        certificate_number=4856,
        standard=CryptoModule.Standard.FIPS_140_3,
        status=CryptoModule.Status.ACTIVE,
        validation_date=date(2024, 1, 1),
    )

    with pytest.raises(ValidationError, match="already exists"):
        crypto_module_update(module=other, actor=staff, certificate_number=4282)
    assert not CryptoModuleChange.objects.exists()


def test_admin_edit_goes_through_the_service_and_is_recorded(client, staff, module):
    client.force_login(staff)
    url = reverse("admin:fips_cryptomodule_change", args=[module.pk])

    response = client.post(url, admin_form(module, status="historical"))

    assert response.status_code == 302, response.content.decode()[:2000]
    module.refresh_from_db()
    assert module.status == CryptoModule.Status.HISTORICAL
    change = CryptoModuleChange.objects.get()
    assert (change.field, change.old_value, change.new_value, change.actor) == (
        "status",
        "active",
        "historical",
        staff,
    )


def test_admin_edit_breaking_a_constraint_is_shown_and_not_saved(client, staff, module):
    client.force_login(staff)
    url = reverse("admin:fips_cryptomodule_change", args=[module.pk])

    response = client.post(url, admin_form(module, sunset_date="2020-01-01"))

    assert response.status_code == 200
    assert "The sunset date is after the validation date." in response.content.decode()
    module.refresh_from_db()
    assert module.sunset_date == date(2026, 9, 21)
    assert not CryptoModuleChange.objects.exists()


def test_admin_add_creates_a_staff_module(client, staff, module):
    client.force_login(staff)
    url = reverse("admin:fips_cryptomodule_add")
    data = admin_form(module, certificate_number="4856", name="OpenSSL 3.1")

    response = client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    added = CryptoModule.objects.get(certificate_number=4856)
    assert (added.name, added.source) == ("OpenSSL 3.1", CryptoModule.Source.STAFF)


def test_admin_never_deletes_modules_or_their_history(client, staff, module):
    crypto_module_update(module=module, actor=staff, status="revoked")
    client.force_login(staff)
    change = CryptoModuleChange.objects.get()

    delete = client.get(reverse("admin:fips_cryptomodule_delete", args=[module.pk]))
    history = client.get(
        reverse("admin:fips_cryptomodulechange_change", args=[change.pk])
    )
    listing = client.get(reverse("admin:fips_cryptomodule_changelist"))

    assert delete.status_code == 403
    assert history.status_code == 200
    assert b'name="_save"' not in history.content
    assert listing.status_code == 200
