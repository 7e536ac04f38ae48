"""Audit-log what allauth and Django's auth do; each receiver calls one service."""

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from django.contrib.auth import signals as auth_signals
from django.dispatch import receiver

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.orgs.signals import member_leaving

Action = AuditEvent.Action


@receiver(account_signals.user_signed_up)
def on_signed_up(request, user, **kwargs):
    audit_record(action=Action.SIGNUP, actor=user, request=request, target=user)


@receiver(account_signals.user_logged_in)
def on_logged_in(request, user, **kwargs):
    sociallogin = kwargs.get("sociallogin")
    details = {"method": "sso" if sociallogin else "password"}
    audit_record(action=Action.LOGIN, actor=user, request=request, details=details)
    if sociallogin is not None:
        from .services import org_sso_join

        org_sso_join(
            user=user, provider_id=sociallogin.account.provider, request=request
        )


@receiver(auth_signals.user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs):
    email = str(credentials.get("email") or credentials.get("username") or "")[:254]
    audit_record(
        action=Action.LOGIN_FAILED,
        request=request,
        actor_email=email,
        details={"email": email},
    )


@receiver(auth_signals.user_logged_out)
def on_logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(action=Action.LOGOUT, actor=user, request=request)


@receiver(account_signals.password_changed)
def on_password_changed(request, user, **kwargs):
    audit_record(action=Action.PASSWORD_CHANGED, actor=user, request=request)


@receiver(account_signals.password_reset)
def on_password_reset(request, user, **kwargs):
    audit_record(action=Action.PASSWORD_RESET, actor=user, request=request)


@receiver(account_signals.email_confirmed)
def on_email_confirmed(request, email_address, **kwargs):
    audit_record(
        action=Action.EMAIL_CONFIRMED,
        actor=email_address.user,
        request=request,
        details={"email": email_address.email},
    )


@receiver(mfa_signals.authenticator_added)
def on_mfa_added(request, user, authenticator, **kwargs):
    audit_record(
        action=Action.MFA_ADDED,
        actor=user,
        request=request,
        details={"type": authenticator.type},
    )


@receiver(mfa_signals.authenticator_removed)
def on_mfa_removed(request, user, authenticator, **kwargs):
    audit_record(
        action=Action.MFA_REMOVED,
        actor=user,
        request=request,
        details={"type": authenticator.type},
    )


@receiver(mfa_signals.authenticator_reset)
def on_mfa_reset(request, user, authenticator, **kwargs):
    audit_record(
        action=Action.MFA_RESET,
        actor=user,
        request=request,
        details={"type": authenticator.type},
    )


@receiver(member_leaving)
def on_member_leaving(membership, actor, request, **kwargs):
    """Nothing a person created outlives their membership: their tokens go."""
    from .services import api_token_revoke_all_by

    api_token_revoke_all_by(
        org=membership.org, user=membership.user, actor=actor, request=request
    )
