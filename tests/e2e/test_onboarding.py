"""A new customer's first hour, through the browser only.

Sign up and verify, set up TOTP, create an organization, invite a colleague who
signs up and joins, require two-factor authentication, and see the colleague
sent to set it up. Every step is asserted on what the person sees.
"""

import re

import pytest
from django.core import mail

from .conftest import link_in, snap, totp_now, wait_for_mail

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OWNER_EMAIL = "ciso@northwind.example"
MEMBER_EMAIL = "platform.lead@northwind.example"
PASSWORD = "Lattice-hardened-Vq8-2025"
ORG_NAME = "Northwind Traders"


def _message(page) -> str:
    return page.locator(".messages").inner_text()


def sign_up_and_verify(tab, email: str, *, shots: bool = False) -> None:
    """Sign up through the form and confirm the address from the email."""
    page = tab.page
    page.locator("main").get_by_role("link", name="sign up").click()
    page.wait_for_url(re.compile(r"/accounts/signup/"))
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    tab.submit("Sign Up")
    assert tab.path() == "/accounts/confirm-email/"
    assert "Verify Your Email Address" in page.locator("main h1").inner_text()
    assert email in page.locator("main").inner_text()
    if shots:
        snap(page, "signup_verification_sent")

    message = wait_for_mail(mail.outbox, email, "confirm")
    tab.goto(link_in(message, r"/accounts/confirm-email/[^/\s]+/"))
    assert "Confirm Email Address" in page.locator("main h1").inner_text()
    assert email in page.locator("main").inner_text()
    if shots:
        snap(page, "email_confirm")
    tab.submit("Confirm")
    assert "/accounts/confirm-email/" not in tab.path()
    assert f"You have confirmed {email}." in _message(page)


def test_owner_onboards_invites_a_member_and_requires_mfa(new_tab, live_server):
    owner = new_tab()
    page = owner.page

    # 1. Sign up and verify the email address.
    owner.goto("/accounts/login/")
    sign_up_and_verify(owner, OWNER_EMAIL, shots=True)

    # 2. Confirming in the browser that signed up logs the person in, and a
    # person without an organization lands on the list to create one.
    assert owner.path() == "/orgs/"
    assert page.locator("header.topbar").get_by_text(OWNER_EMAIL).is_visible()
    assert "not a member of any organization yet" in page.locator("main").inner_text()

    # 3. Set up TOTP: read the secret off the page, answer with the current code.
    # Logging in by confirming an email is not a password check: allauth asks
    # for the password again before a security change.
    owner.goto("/accounts/2fa/totp/activate/")
    assert owner.path().startswith("/accounts/reauthenticate/")
    assert "Confirm Access" in page.locator("main h1").inner_text()
    page.fill("input[name=password]", PASSWORD)
    owner.submit("Confirm")
    assert owner.path() == "/accounts/2fa/totp/activate/"
    secret = page.input_value("#authenticator_secret")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    assert page.locator("main img[alt]").is_visible()  # the QR code
    page.fill("input[name=code]", totp_now(secret))
    owner.submit("Activate")
    # allauth generates recovery codes with the first authenticator and shows
    # them straight away.
    assert owner.path() == "/accounts/2fa/recovery-codes/"
    assert "Authenticator app activated." in _message(page)
    codes = page.input_value("#recovery_codes").split()
    assert len(codes) == 10
    assert all(re.fullmatch(r"\d{8}", c) for c in codes)
    snap(page, "recovery_codes")
    owner.goto("/accounts/2fa/")
    assert "Authentication using an authenticator app is active." in (
        page.locator("main").inner_text()
    )

    # 4. Create an organization.
    owner.goto("/orgs/")
    page.fill("input[name=name]", ORG_NAME)
    owner.submit("Create")
    assert owner.path() == "/o/northwind-traders/"
    assert page.locator("main h1").inner_text() == ORG_NAME
    assert f"Created {ORG_NAME}." in _message(page)
    assert page.locator("nav.sidebar .org-role").inner_text() == "Owner"
    slug = "northwind-traders"

    # 5. Invite a member from the Members page; the link arrives by email.
    page.locator("nav.sidebar").get_by_role("link", name="Members").click()
    page.wait_for_url(re.compile(rf"/o/{slug}/members/$"))
    page.fill("#id_email", MEMBER_EMAIL)
    page.select_option("#id_role", "member")
    owner.submit("Send invitation")
    assert owner.path() == f"/o/{slug}/members/"
    assert f"Invitation sent to {MEMBER_EMAIL}." in _message(page)
    pending = page.locator("#invitations tbody tr")
    assert pending.count() == 1
    assert MEMBER_EMAIL in pending.inner_text()
    assert "Member" in pending.inner_text()
    invitation = wait_for_mail(mail.outbox, MEMBER_EMAIL, "invited")
    assert ORG_NAME in invitation.subject
    invitation_path = link_in(invitation, r"/invitations/[^/\s]+/")

    # 6. The invited person, in their own browser, opens the link: they must
    # sign in first, so they sign up from there, verify, and are taken back.
    colleague = new_tab()
    cpage = colleague.page
    colleague.goto(invitation_path)
    assert colleague.path().startswith("/accounts/login/?next=/invitations/")
    sign_up_and_verify(colleague, MEMBER_EMAIL)
    assert colleague.path() == invitation_path
    assert cpage.locator("main h1").inner_text() == "Invitation"
    text = cpage.locator("main").inner_text()
    assert f"{OWNER_EMAIL} invited {MEMBER_EMAIL} to join {ORG_NAME} as member" in (
        " ".join(text.split())
    )
    colleague.submit("Accept and join")
    assert colleague.path() == f"/o/{slug}/"
    assert cpage.locator("main h1").inner_text() == ORG_NAME
    assert f"Welcome to {ORG_NAME}." in _message(cpage)
    assert cpage.locator("nav.sidebar .org-role").inner_text() == "Member"
    # A member sees no administration links.
    assert (
        cpage.locator("nav.sidebar").get_by_role("link", name="Settings").count() == 0
    )

    owner.goto(f"/o/{slug}/members/")
    members = page.locator("#members tbody").inner_text()
    assert OWNER_EMAIL in members
    assert MEMBER_EMAIL in members
    assert "No pending invitations." in page.locator("#invitations").inner_text()

    # 7. The owner requires two-factor authentication for the organization.
    page.locator("nav.sidebar").get_by_role("link", name="Settings").click()
    page.wait_for_url(re.compile(rf"/o/{slug}/settings/$"))
    assert not page.is_checked("#id_require_mfa")
    page.check("#id_require_mfa")
    owner.submit("Save")
    assert owner.path() == f"/o/{slug}/settings/"
    assert "Settings saved." in _message(page)
    assert page.is_checked("#id_require_mfa")
    # The owner has TOTP, so the organization stays open to them.
    owner.goto(f"/o/{slug}/")
    assert "Required for every member" in page.locator("main").inner_text()

    # 8. The member, without TOTP, is sent to set it up. They signed in by
    # confirming their email, so allauth first asks for their password again;
    # the organization's reason is shown on the way.
    cpage.reload()
    cpage.wait_for_url(re.compile(r"/accounts/reauthenticate/\?next=.*totp"))
    required = f"{ORG_NAME} requires two-factor authentication. Set it up to continue."
    assert required in _message(cpage)
    cpage.fill("input[name=password]", PASSWORD)
    colleague.submit("Confirm")
    assert colleague.path() == "/accounts/2fa/totp/activate/"
    assert "Activate Authenticator App" in cpage.locator("main h1").inner_text()
    assert cpage.locator("#authenticator_secret").is_visible()
    # Every page of the organization sends them back here until they comply.
    colleague.goto(f"/o/{slug}/members/")
    assert colleague.path() == "/accounts/2fa/totp/activate/"
    assert required in _message(cpage)
    snap(cpage, "mfa_required_by_org")

    # The organization's audit log tells the story.
    owner.goto(f"/o/{slug}/audit/")
    rows = page.locator("#audit-table tbody tr")
    log = [" ".join(rows.nth(i).inner_text().split()) for i in range(rows.count())]
    joined = "\n".join(log)

    def row(action: str, *words: str) -> None:
        hits = [r for r in log if action in r and all(w in r for w in words)]
        assert hits, f"no {action!r} row with {words} in:\n{joined}"

    row("Organization created", OWNER_EMAIL)
    row("Member joined", OWNER_EMAIL, "role: owner")
    row("Invitation sent", OWNER_EMAIL, f"email: {MEMBER_EMAIL}", "role: member")
    row("Invitation accepted", MEMBER_EMAIL, "role: member")
    row("Organization settings changed", OWNER_EMAIL, "require_mfa", "[false, true]")
    # Newest first: the settings change is the last thing that happened.
    assert "Organization settings changed" in log[0], joined

    owner.assert_no_errors("the owner's pages")
    colleague.assert_no_errors("the member's pages")
