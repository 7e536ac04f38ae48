"""Organization pages with good and bad input: clear errors, nothing half-written."""

import csv
import io
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.orgs import services
from apps.orgs.models import AuditorGrant, Invitation, Membership, Organization, Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


def test_creating_an_org_redirects_to_its_dashboard(client, user):
    client.force_login(user)
    response = client.post("/orgs/", {"name": "Initech"})
    assert response.status_code == 302
    assert response["Location"] == "/o/initech/"
    assert client.get("/o/initech/").status_code == 200


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_bad_org_names_are_refused(client, user, name):
    client.force_login(user)
    response = client.post("/orgs/", {"name": name})
    assert response.status_code == 400
    assert response.context["form"].errors["name"]
    assert not Organization.objects.exists()


def test_oversized_body_is_refused_and_writes_nothing(client, owner, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client.force_login(owner.user)
    response = client.post(
        "/o/acme/members/",
        {"email": "big@example.com", "role": "member", "padding": "x" * 20_000},
    )
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_too_many_fields_are_refused(client, owner):
    client.force_login(owner.user)
    data = {f"f{i}": "x" for i in range(500)} | {
        "email": "a@example.com",
        "role": "member",
    }
    response = client.post("/o/acme/members/", data)
    assert response.status_code == 400
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not an email", "role": "member"}, "email"),
        ({"email": "a@example.com", "role": "emperor"}, "role"),
        ({"email": "", "role": "member"}, "email"),
        ({"email": "a" * 250 + "@example.com", "role": "member"}, "email"),
    ],
)
def test_bad_invitations_are_refused(client, owner, data, field):
    client.force_login(owner.user)
    response = client.post("/o/acme/members/", data)
    assert response.status_code == 400
    assert field in response.context["invite_form"].errors
    assert not Invitation.objects.exists()
    assert not mail.outbox


def test_inviting_sends_mail_and_lists_the_invitation(
    client, owner, django_capture_on_commit_callbacks
):
    client.force_login(owner.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/o/acme/members/", {"email": "new@example.com", "role": "admin"}
        )
    assert response.status_code == 302
    assert mail.outbox[0].to == ["new@example.com"]
    page = client.get("/o/acme/members/")
    assert b"new@example.com" in page.content


def test_accepting_through_the_page_and_reusing_the_link(client, owner):
    _, token = services.invitation_create(
        org=owner.org,
        email="join@example.com",
        role=Role.MEMBER,
        actor_membership=owner,
    )
    joiner = UserFactory(email="join@example.com")
    client.force_login(joiner)
    assert b"Accept and join" in client.get(f"/invitations/{token}/").content
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 302
    assert Membership.objects.filter(org=owner.org, user=joiner).exists()
    again = client.post(f"/invitations/{token}/")
    assert again.status_code == 400
    assert b"already been used" in again.content


def test_expired_invitation_page_explains(client, owner):
    _, token = services.invitation_create(
        org=owner.org,
        email="late@example.com",
        role=Role.MEMBER,
        actor_membership=owner,
        now=timezone.now() - timedelta(days=8),
    )
    client.force_login(UserFactory(email="late@example.com"))
    assert b"This invitation is expired" in client.get(f"/invitations/{token}/").content
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 400
    assert b"expired" in response.content
    assert Membership.objects.filter(user__email="late@example.com").count() == 0


def test_garbage_invitation_token(client, user):
    client.force_login(user)
    response = client.post("/invitations/%3Cscript%3E/")
    assert response.status_code == 400
    assert b"not valid" in response.content


def test_bogus_role_change_changes_nothing(client, owner, member):
    client.force_login(owner.user)
    response = client.post(
        f"/o/acme/members/{member.pk}/role/", {"role": "god"}, follow=True
    )
    assert b"Choose one of the listed roles" in response.content
    member.refresh_from_db()
    assert member.role == Role.MEMBER


def test_leaving_as_last_owner_is_explained(client, owner):
    client.force_login(owner.user)
    response = client.post("/o/acme/leave/", follow=True)
    assert b"last owner" in response.content
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_member_leaves(client, member):
    client.force_login(member.user)
    response = client.post("/o/acme/leave/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert AuditEvent.objects.filter(action=Action.MEMBER_LEFT).exists()


def test_transfer_with_foreign_membership_id_is_404(client, owner, outsider):
    client.force_login(owner.user)
    response = client.post("/o/acme/transfer/", {"membership_id": outsider.pk})
    assert response.status_code == 404
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_transfer_with_garbage_is_400(client, owner):
    client.force_login(owner.user)
    response = client.post("/o/acme/transfer/", {"membership_id": "abc"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {
                "email": "aud@example.com",
                "window_start": "2026-06-01",
                "window_end": "2026-01-01",
                "access_expires_at": "2099-01-01T00:00",
            },
            "window_end",
        ),
        (
            {
                "email": "aud@example.com",
                "window_start": "2026-01-01",
                "window_end": "2026-06-01",
                "access_expires_at": "2001-01-01T00:00",
            },
            "access_expires_at",
        ),
        (
            {
                "email": "aud@example.com",
                "window_start": "yesterday",
                "window_end": "2026-06-01",
                "access_expires_at": "2099-01-01T00:00",
            },
            "window_start",
        ),
        ({"email": "nope"}, "email"),
    ],
)
def test_bad_auditor_grants_are_refused(client, owner, data, field):
    client.force_login(owner.user)
    response = client.post("/o/acme/auditors/", data)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not AuditorGrant.objects.exists()


def test_auditor_sees_evidence_but_not_members(client, owner):
    auditor = UserFactory(email="aud@example.com")
    client.force_login(owner.user)
    response = client.post(
        "/o/acme/auditors/",
        {
            "email": "aud@example.com",
            "window_start": "2026-01-01",
            "window_end": "2026-06-30",
            "access_expires_at": "2099-01-01T00:00",
        },
    )
    assert response.status_code == 302
    client.force_login(auditor)
    assert client.get("/o/acme/").status_code == 302
    evidence = client.get("/o/acme/evidence/")
    assert evidence.status_code == 200
    assert b"2026-01-01 to 2026-06-30" in evidence.content
    assert client.get("/o/acme/members/").status_code == 403
    assert client.get("/o/acme/audit/").status_code == 403
    assert client.get("/auditor/").status_code == 200


def test_bad_token_forms_create_nothing(client, owner):
    client.force_login(owner.user)
    for data in (
        {"name": "", "scopes": ["org:read"]},
        {"name": "x", "scopes": ["root:all"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["org:read"], "expires_at": "2001-01-01T00:00"},
        {"name": "x" * 101, "scopes": ["org:read"]},
    ):
        response = client.post("/o/acme/tokens/", data)
        assert response.status_code == 400, data
    assert not ApiToken.objects.exists()


def test_new_token_is_shown_once(client, owner):
    client.force_login(owner.user)
    response = client.post("/o/acme/tokens/", {"name": "ci", "scopes": ["org:read"]})
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    secret = response.context["new_secret"]
    assert secret.encode() in response.content
    assert secret.encode() not in client.get("/o/acme/tokens/").content


def test_settings_turns_on_required_mfa_and_logs_it(client, owner):
    client.force_login(owner.user)
    response = client.post("/o/acme/settings/", {"name": "Acme", "require_mfa": "on"})
    assert response.status_code == 302
    owner.org.refresh_from_db()
    assert owner.org.require_mfa
    assert AuditEvent.objects.filter(action=Action.ORG_UPDATED).exists()


def _events(owner, n):
    for i in range(n):
        services.org_update(
            org=owner.org, actor=owner.user, name=f"Acme {i}", require_mfa=False
        )


def test_audit_log_filters_and_pages(client, owner):
    _events(owner, 60)
    client.force_login(owner.user)
    page = client.get("/o/acme/audit/", {"action": Action.ORG_UPDATED})
    assert page.status_code == 200
    assert len(page.context["events"]) == 50
    older = client.get(
        "/o/acme/audit/",
        {"action": Action.ORG_UPDATED, "before": page.context["next_before"]},
    )
    assert len(older.context["events"]) == 10
    assert older.context["next_before"] is None


def test_audit_log_htmx_request_gets_the_table_only(client, owner):
    _events(owner, 2)
    client.force_login(owner.user)
    response = client.get("/o/acme/audit/", HTTP_HX_REQUEST="true")
    assert b"<html" not in response.content
    assert b"<table" in response.content


def test_audit_log_with_bad_filters_still_renders(client, owner):
    client.force_login(owner.user)
    response = client.get(
        "/o/acme/audit/",
        {"date_from": "not-a-date", "before": "-5", "action": "nonsense"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors


def test_audit_csv_export_has_every_matching_event(client, owner, other_org):
    _events(owner, 3)
    services.org_update(
        org=other_org, actor=owner.user, name="Other", require_mfa=False
    )
    client.force_login(owner.user)
    response = client.get("/o/acme/audit/", {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(
        csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    )
    assert {r["org"] for r in rows} == {str(owner.org.pk)}
    assert [r["action"] for r in rows].count(Action.ORG_UPDATED) == 3
    assert all(len(r["hash"]) == 64 for r in rows)


def test_staff_audit_log_is_for_staff_only(client, owner):
    client.force_login(owner.user)
    assert client.get("/staff/audit/").status_code == 403
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get("/staff/audit/").status_code == 200
    assert client.get("/staff/audit/", {"org_slug": "acme"}).status_code == 200


def test_home_goes_to_the_only_org(client, owner):
    client.force_login(owner.user)
    response = client.get("/")
    assert response["Location"] == "/o/acme/"


def test_home_without_orgs_goes_to_the_list(client, user):
    client.force_login(user)
    assert client.get("/")["Location"] == "/orgs/"


def test_home_goes_to_the_last_used_org_among_many(client, user):
    from tests.factories import MembershipFactory, OrganizationFactory

    for name in ("Alpha", "Beta", "Gamma"):
        MembershipFactory(
            org=OrganizationFactory(name=name, slug=name.lower()), user=user
        )
    client.force_login(user)
    assert client.get("/")["Location"] == "/orgs/"
    client.get("/o/gamma/")
    assert client.get("/")["Location"] == "/o/gamma/"


def test_audit_log_shows_details_as_json_values(client, owner):
    from apps.accounts.services import api_token_create

    api_token_create(
        org=owner.org, name="ci", scopes=["org:read"], expires_at=None, actor=owner.user
    )
    client.force_login(owner.user)
    content = client.get("/o/acme/audit/").content.decode()
    assert "expires_at: null" in content
    assert "scopes: [&quot;org:read&quot;]" in content
    assert "name: ci" in content
