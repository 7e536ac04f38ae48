"""A bounded schemathesis run against the API's own OpenAPI schema.

Every operation, as an organization token with every scope and as a
publisher staff token, with generated inputs (fixed seed, a few examples per
operation, so it finishes in a minute or two): no answer is a 5xx, and every
answer matches the schema (status code documented, body of the documented
shape, content type declared).
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from tests.catalog import builders as catalog
from tests.entitlements.builders import entitle
from tests.factories import MembershipFactory, UserFactory

# Per operation; with the fixed seed the run takes about a minute.
EXAMPLES = 20


def _operations() -> list:
    """Every operation of the schema the API serves (read through the app)."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())
    return [
        pytest.param(result.ok(), id=result.ok().label)
        for result in schema.get_all_operations()
    ]


OPERATIONS = _operations()


@pytest.fixture
def _keep_the_test_connection():
    """The app is called as a WSGI server calls it, so Django's request
    signals close the database connection after each request, and with it
    the test's transaction. As Django's test client does, keep it open."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(db, _keep_the_test_connection):
    owner = MembershipFactory(role="owner")
    org = owner.org
    for feature in ("sla", "customizations", "auditor_seats"):
        entitle(org, feature)
    repo = catalog.repository("python")
    image = catalog.build(catalog.series(repo, "3.12"), tags=["3.12"])
    catalog.sbom(image)
    scopes = [s for s in ApiToken.Scope.values if s != ApiToken.Scope.CATALOG_WRITE]
    _, org_raw = api_token_create(
        org=org, name="fuzz", scopes=scopes, expires_at=None, actor=owner.user
    )
    _, staff_raw = api_token_create(
        org=org,
        name="fuzz-staff",
        scopes=[ApiToken.Scope.CATALOG_WRITE],
        expires_at=None,
        actor=UserFactory(is_staff=True),
    )
    return {"org": org_raw, "staff": staff_raw}


def test_the_walk_covers_every_operation():
    assert len(OPERATIONS) > 40


def test_the_schema_generates_without_warnings(tmp_path):
    """drf-spectacular's warnings (a field it cannot type, a name clash) fail."""
    from django.core.management import call_command

    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(tmp_path / "schema.yml"),
    )
    assert "Error" in (tmp_path / "schema.yml").read_text()


@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS)
def test_the_api_answers_generated_requests_within_its_schema(operation, tokens):
    staff = operation.path.startswith(("/api/v1/evidence", "/api/v1/builds"))
    headers = {"Authorization": f"Bearer {tokens['staff' if staff else 'org']}"}

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case):
        # Not positive_data_acceptance: a request of the documented shape may
        # still be refused by the rules behind it (an unknown repository, a
        # window in the past), with a documented 400.
        case.call_and_validate(
            headers=headers, excluded_checks=[positive_data_acceptance]
        )

    run()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/v1/nowhere/", "/api/v1/repositories/a.b/", "/api/v1/digests/x.y/"]
)
def test_an_unrouted_api_path_answers_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


@pytest.mark.django_db
def test_an_unrouted_page_stays_html(client):
    response = client.get("/nowhere-at-all/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
