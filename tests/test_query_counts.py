"""Query counts of the list pages and API lists, pinned.

Each test renders its page with a few rows, then with many, and demands the
same number of queries both times (an N+1 query shows up as a difference) and
no more than the pinned figure. The figures were measured on SQLite and
PostgreSQL (the same on both); a page that needs more queries has to change its
figure here, visibly, in review.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create, api_token_revoke
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.orgs.models import Role
from apps.orgs.services import invitation_create
from tests.factories import (
    AuditorGrantFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
Scope = ApiToken.Scope
FEW, MANY = 10, 60


def _get(client: Client, url: str, **headers) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **headers)
    assert response.status_code == 200, (url, response.status_code)
    return len(ctx.captured_queries), response


def _pinned(
    client, url, add_rows, pinned, assert_max, rows_shown, headers=None
) -> list[int]:
    """Render ``url`` with FEW rows, then MANY; both within ``pinned`` queries
    and equal."""
    headers = headers or {}
    add_rows(FEW)
    client.get(url, **headers)  # warm up: session writes, first-visit bookkeeping
    counts = []
    for total in (FEW, MANY):
        if total == MANY:
            add_rows(MANY - FEW)
        with assert_max(pinned):
            count, response = _get(client, url, **headers)
        assert rows_shown(response) >= min(total, 50), "the rows are not on the page"
        counts.append(count)
    assert counts[0] == counts[1], f"queries grow with rows: {counts}"
    return counts


def _html_rows(table_id: str | None = None):
    def count(response) -> int:
        body = response.content.decode()
        if table_id is not None:
            start = body.index(f'id="{table_id}"')
            body = body[start : body.index("</table>", start)]
        else:
            body = body[body.index("<tbody>") : body.index("</tbody>")]
        return body.count("<tr")

    return count


def _api_rows(response) -> int:
    return len(response.json()["results"])


@pytest.fixture
def browser(owner):
    client = Client()
    client.force_login(owner.user)
    return client


# --------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------

# Measured, identical on SQLite and PostgreSQL. A signed-in page starts with 7:
# session, user, and allauth's user-session tracking (savepoint, select, the
# user again, update, release). Organization pages add the organization and
# the membership (9); the base template's organization switcher is one more.
MEMBERS_PAGE = 12  # + memberships with users, pending invitations with inviters
TOKENS_PAGE = 11  # + tokens with their creators
AUDITORS_PAGE = 11  # + grants with their creators
ORG_AUDIT_PAGE = 11  # + one page of events
STAFF_AUDIT_PAGE = 10  # 7 + events with their orgs + switcher + second factor

# A token request: the token with its organization, its creator (the request's
# user), the rows with what they show. last_used_at is written at most once a
# minute, in the warm-up request here.
API_MEMBERS = 3
API_TOKENS = 3
API_AUDIT_EVENTS = 3
API_GRANTS = 3


def test_members_page(browser, org, owner, django_assert_max_num_queries):
    admins = [MembershipFactory(org=org, role=Role.ADMIN) for _ in range(3)]

    def add(n):
        for i in range(n):
            m = MembershipFactory(org=org, role=[Role.MEMBER, Role.BILLING][i % 2])
            # Pending invitations too, from different people: the second table.
            invitation_create(
                org=org,
                email=f"invitee-{m.pk}@example.net",
                role=Role.MEMBER,
                actor_membership=admins[i % 3],
            )

    url = reverse("orgs:members", args=[org.slug])
    _pinned(
        browser,
        url,
        add,
        MEMBERS_PAGE,
        django_assert_max_num_queries,
        _html_rows("members"),
    )
    response = browser.get(url)
    assert _html_rows("invitations")(response) == MANY + 1  # + the header row


def test_api_tokens_page(browser, org, owner, django_assert_max_num_queries):
    creators = [owner.user] + [
        MembershipFactory(org=org, role=Role.ADMIN).user for _ in range(3)
    ]

    def add(n):
        for i in range(n):
            token, _ = api_token_create(
                org=org,
                name=f"token {i}",
                scopes=[Scope.MEMBERS_READ, Scope.AUDIT_READ],
                expires_at=timezone.now() + timedelta(days=i + 1) if i % 3 else None,
                actor=creators[i % 4],
            )
            if i % 4 == 0:
                api_token_revoke(token=token, actor=creators[(i + 1) % 4])

    _pinned(
        browser,
        reverse("accounts:tokens", args=[org.slug]),
        add,
        TOKENS_PAGE,
        django_assert_max_num_queries,
        _html_rows(),
    )


def test_auditors_page(browser, org, owner, django_assert_max_num_queries):
    creators = [owner.user, MembershipFactory(org=org, role=Role.ADMIN).user]

    def add(n):
        for i in range(n):
            AuditorGrantFactory(org=org, created_by=creators[i % 2])

    _pinned(
        browser,
        reverse("orgs:auditors", args=[org.slug]),
        add,
        AUDITORS_PAGE,
        django_assert_max_num_queries,
        _html_rows("grants"),
    )


def _events(org, actors, n):
    for i in range(n):
        audit_record(
            action=AuditEvent.Action.ORG_UPDATED,
            actor=actors[i % len(actors)],
            org=org,
            details={"changes": {"name": ["a", f"b{i}"]}},
        )


def test_org_audit_log_page(browser, org, owner, django_assert_max_num_queries):
    actors = [owner.user, UserFactory(), UserFactory()]
    url = reverse("audit:org_log", args=[org.slug])
    _pinned(
        browser,
        url,
        lambda n: _events(org, actors, n * 2),  # 20, then 120 events
        ORG_AUDIT_PAGE,
        django_assert_max_num_queries,
        _html_rows(),
    )
    # The next page and the htmx partial cost the same.
    before = AuditEvent.objects.for_org(org).order_by("-id")[50].id
    with django_assert_max_num_queries(ORG_AUDIT_PAGE):
        _get(browser, f"{url}?before={before}")
    with django_assert_max_num_queries(ORG_AUDIT_PAGE):
        _get(browser, url, HTTP_HX_REQUEST="true")


def test_staff_audit_log_page(django_assert_max_num_queries):
    staff = UserFactory(is_staff=True)
    client = Client()
    client.force_login(staff)

    def add(n):
        # Every event in an organization of its own, and some in none.
        for i in range(n):
            org = OrganizationFactory() if i % 5 else None
            audit_record(action=AuditEvent.Action.LOGIN, actor=staff, org=org)

    _pinned(
        client,
        reverse("staff_audit"),
        add,
        STAFF_AUDIT_PAGE,
        django_assert_max_num_queries,
        _html_rows(),
    )


# --------------------------------------------------------------------------
# API lists
# --------------------------------------------------------------------------


def _api_client(org, actor, scope):
    _, raw = api_token_create(
        org=org, name="reader", scopes=[scope], expires_at=None, actor=actor
    )
    return Client(), {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_api_members_list(org, owner, django_assert_max_num_queries):
    client, headers = _api_client(org, owner.user, Scope.MEMBERS_READ)

    def add(n):
        for _ in range(n):
            MembershipFactory(org=org)

    _pinned(
        client,
        "/api/v1/members/?page_size=200",
        add,
        API_MEMBERS,
        django_assert_max_num_queries,
        _api_rows,
        headers,
    )


def test_api_tokens_list(org, owner, django_assert_max_num_queries):
    client, headers = _api_client(org, owner.user, Scope.TOKENS_READ)
    creators = [owner.user, MembershipFactory(org=org, role=Role.ADMIN).user]

    def add(n):
        for i in range(n):
            api_token_create(
                org=org,
                name=f"t{i}",
                scopes=[Scope.ORG_READ],
                expires_at=None,
                actor=creators[i % 2],
            )

    _pinned(
        client,
        "/api/v1/tokens/?page_size=200",
        add,
        API_TOKENS,
        django_assert_max_num_queries,
        _api_rows,
        headers,
    )


def test_api_audit_events_list(org, owner, django_assert_max_num_queries):
    client, headers = _api_client(org, owner.user, Scope.AUDIT_READ)
    actors = [owner.user, UserFactory()]
    _pinned(
        client,
        "/api/v1/audit-events/?page_size=200",
        lambda n: _events(org, actors, n),
        API_AUDIT_EVENTS,
        django_assert_max_num_queries,
        _api_rows,
        headers,
    )


def test_api_auditor_grants_list(org, owner, django_assert_max_num_queries):
    client, headers = _api_client(org, owner.user, Scope.AUDITORS_READ)

    def add(n):
        for _ in range(n):
            AuditorGrantFactory(org=org, created_by=owner.user)

    _pinned(
        client,
        "/api/v1/auditor-grants/?page_size=200",
        add,
        API_GRANTS,
        django_assert_max_num_queries,
        _api_rows,
        headers,
    )


# --------------------------------------------------------------------------
# Customizations, and guarded (FIPS/STIG) evidence on the digest page
# --------------------------------------------------------------------------

# The organization page's 10, + active count, the org's entitlement rows,
# customizations with their repositories and creators, the form's repositories.
CUSTOMIZATIONS_PAGE = 14
API_CUSTOMIZATIONS = 3
# A signed-in member of two organizations on a FIPS build's page: the page's
# own queries, the signed-in user's, and for the entitlement check the
# person's memberships, auditor grants and each organization's entitlement
# rows, once for the page, and the build's crypto modules: the same however
# many attestations the build has. + The build's vulnerability assessment (its
# ecosystems, SBOMs, open vulnerabilities, the advisory sources).
DIGEST_ASSESSMENT = 4
FIPS_DIGEST_PAGE = 18 + DIGEST_ASSESSMENT


def _customizations(org, owner_user):
    from apps.catalog.services import repository_upsert
    from apps.customizations.models import Customization
    from apps.entitlements.models import Mirror
    from tests.entitlements.builders import entitle

    repos = [
        repository_upsert(name=f"base-{i}", display_name=f"Base {i}", category="base")
        for i in range(2)
    ]
    for repo in repos:
        Mirror.objects.create(org=org, repository=repo, created_by=owner_user)
    entitle(org, "customizations")
    creators = [owner_user, MembershipFactory(org=org, role=Role.ADMIN).user]
    made = []

    def add(n):
        for _ in range(n):
            i = len(made)
            made.append(
                Customization.objects.create(
                    org=org,
                    repository=repos[i % 2],
                    name=f"c-{i}",
                    extra_packages=["curl", "jq"],
                    environment={"TZ": "UTC"},
                    created_by=creators[i % 2],
                )
            )

    return add


def test_customizations_page(browser, org, owner, django_assert_max_num_queries):
    _pinned(
        browser,
        reverse("customizations:list", args=[org.slug]),
        _customizations(org, owner.user),
        CUSTOMIZATIONS_PAGE,
        django_assert_max_num_queries,
        _html_rows("customizations"),
    )


def test_api_customizations_list(org, owner, django_assert_max_num_queries):
    client, headers = _api_client(org, owner.user, Scope.CUSTOMIZATIONS_READ)
    _pinned(
        client,
        "/api/v1/customizations/?page_size=200",
        _customizations(org, owner.user),
        API_CUSTOMIZATIONS,
        django_assert_max_num_queries,
        _api_rows,
        headers,
    )


def test_fips_digest_page_checks_entitlement_once(
    browser, org, owner, django_assert_max_num_queries, settings, tmp_path
):
    from tests.catalog import builders as b
    from tests.entitlements.builders import entitle

    settings.MEDIA_ROOT = tmp_path / "media"
    entitle(org, "fips")
    # A second organization of the same person, without FIPS: checked too.
    MembershipFactory(org=OrganizationFactory(), user=owner.user)
    image = b.build(b.series(b.repository("python")), fips=True)
    made = []

    def add(n):
        for _ in range(n):
            made.append(b.sbom(image, content=b'{"n": %d}' % len(made)))

    def shown(response) -> int:
        return response.content.decode().count("/download/")

    _pinned(
        browser,
        image.get_absolute_url(),
        add,
        FIPS_DIGEST_PAGE,
        django_assert_max_num_queries,
        shown,
    )


# --------------------------------------------------------------------------
# STIG scans: the digest page's STIG section and the diff page
# --------------------------------------------------------------------------

# A signed-in member of an entitled organization on a STIG build's page: the
# page's own queries and the entitlement check, + the build's latest scans
# (with their attestations), their failed and not-applicable rules, and the
# previous scan of the series for the diff link; the build's vulnerability
# assessment.
STIG_DIGEST_PAGE = 20 + DIGEST_ASSESSMENT
# The diff page: 7 for the signed-in request, both builds, the entitlement
# check for each (memberships twice, entitlement rows once), the latest scans
# of each build, the rules of both scans, the organization switcher.
STIG_DIFF_PAGE = 17


def _stig_rescans(*images):
    """add(n): scan each build again with n more rules (a newer scan replaces
    the latest); the first build's rules fail, the others' pass."""
    from tests.stig import builders as stig

    state = {"rules": 0, "scans": 0}

    def add(n):
        state["rules"] += n
        for index, image in enumerate(images):
            state["scans"] += 1
            result = "fail" if index == 0 else "pass"
            rules = [
                (i, ("high", "medium", "low")[i % 3], result)
                for i in range(1, state["rules"] + 1)
            ]
            stig.scan(
                image, rules, start=f"2024-05-01T10:{state['scans']:02d}:00+00:00"
            )

    return add


def _rows_of(marker: str):
    def count(response) -> int:
        body = response.content.decode()
        start = body.index(marker)
        body = body[body.index("<tbody>", start) : body.index("</tbody>", start)]
        return body.count("<tr")

    return count


@pytest.fixture
def stig_builds(org, settings, tmp_path):
    from tests.entitlements.builders import entitle
    from tests.stig import builders as stig

    settings.MEDIA_ROOT = tmp_path / "media"
    entitle(org, "stig")
    # A second organization of the same person, without STIG: checked too.
    MembershipFactory(org=OrganizationFactory(), user=org.memberships.first().user)
    series = stig.stig_series()
    return stig.stig_build(series, days_ago=5), stig.stig_build(series, days_ago=1)


def test_stig_digest_page(browser, stig_builds, django_assert_max_num_queries):
    older, newer = stig_builds
    _pinned(
        browser,
        newer.get_absolute_url(),
        _stig_rescans(newer, older),
        STIG_DIGEST_PAGE,
        django_assert_max_num_queries,
        _rows_of('class="catalog-table stig-rules"'),
    )


def test_stig_diff_page(browser, stig_builds, django_assert_max_num_queries):
    older, newer = stig_builds
    _pinned(
        browser,
        reverse("stig:diff", args=[newer.digest]) + f"?against={older.digest}",
        _stig_rescans(newer, older),
        STIG_DIFF_PAGE,
        django_assert_max_num_queries,
        _rows_of('id="stig-changed-1"'),
    )
