import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from apps.audit.models import GENESIS_HASH, AuditEvent
from apps.audit.services import audit_chain_verify, audit_record

Action = AuditEvent.Action

# The trigger and the advisory lock exist on PostgreSQL only.
on_postgres = pytest.mark.usefixtures("require_postgres")


def _record(n, org=None, actor=None):
    return [
        audit_record(
            action=Action.LOGIN, org=org, actor=actor, details={"n": i, "note": "ü"}
        )
        for i in range(n)
    ]


@pytest.mark.django_db
def test_each_event_carries_the_previous_hash(user):
    first, second, third = _record(3, actor=user)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert len({first.hash, second.hash, third.hash}) == 3
    assert audit_chain_verify().ok
    assert audit_chain_verify().checked == 3


@pytest.mark.django_db
def test_hash_survives_the_database_round_trip(org, user, rf):
    request = rf.get("/", HTTP_USER_AGENT="pytest/1.0", REMOTE_ADDR="2001:db8:0:0::1")
    audit_record(
        action=Action.TOKEN_CREATED,
        actor=user,
        org=org,
        target=org,
        request=request,
        details={
            "scopes": ["org:read"],
            "expires_at": None,
            "nested": {"b": 1, "a": 2},
        },
    )
    event = AuditEvent.objects.get()
    assert event.ip == "2001:db8::1"
    assert event.user_agent == "pytest/1.0"
    assert audit_chain_verify().ok


def _tamper(sql, params):
    """Change the log behind the application's back, as a superuser could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


@pytest.mark.django_db
def test_verify_reports_the_first_altered_event(user):
    events = _record(5, actor=user)
    with transaction.atomic():
        _tamper(
            "UPDATE audit_auditevent SET actor_email = %s WHERE id = %s",
            ["mallory@example.com", events[2].pk],
        )
    report = audit_chain_verify()
    assert report.broken_id == events[2].pk
    assert report.checked == 2
    assert "altered" in report.reason
    with pytest.raises(CommandError, match=f"broken at event {events[2].pk}"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_verify_reports_a_deleted_event_as_a_broken_link(user):
    events = _record(4, actor=user)
    with transaction.atomic():
        _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    report = audit_chain_verify()
    assert report.broken_id == events[2].pk
    assert "prev_hash" in report.reason


@pytest.mark.django_db
def test_verify_detects_a_rehashed_row_that_breaks_the_next_link(user):
    events = _record(3, actor=user)
    # A forger who recomputes the altered row's own hash still breaks the link
    # the next row holds.
    from apps.audit.services import HASHED_FIELDS, audit_event_hash

    row = AuditEvent.objects.filter(pk=events[1].pk).values(*HASHED_FIELDS).get()
    row["actor_email"] = "forger@example.com"
    forged = audit_event_hash(**row)
    with transaction.atomic():
        _tamper(
            "UPDATE audit_auditevent SET actor_email = %s, hash = %s WHERE id = %s",
            ["forger@example.com", forged, events[1].pk],
        )
    report = audit_chain_verify()
    assert report.broken_id == events[2].pk


@pytest.mark.django_db
def test_audit_verify_command_says_intact(user, capsys):
    _record(2, actor=user)
    call_command("audit_verify")
    assert "intact: 2 events" in capsys.readouterr().out


@on_postgres
@pytest.mark.django_db
def test_database_refuses_update_and_delete(user):
    (event,) = _record(1, actor=user)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_email="x@example.com")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).actor_email == user.email


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_one_chain():
    errors = []

    def worker():
        try:
            for _ in range(15):
                audit_record(action=Action.LOGIN_FAILED, actor_email="x@example.com")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = audit_chain_verify()
    assert report.ok, report
    assert report.checked == 60
