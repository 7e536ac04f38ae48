"""The registry, end to end: Debian's docker-registry (distribution 2.8) asks
the live portal for tokens and tells it of pulls, and skopeo pushes and pulls
images built here as OCI layouts (tests/registry/realregistry.py), with the
registry configured from deploy/registry/config.yml.

The publisher's CI pushes with a staff ``registry:push`` token; organizations
pull with ``registry:pull`` tokens made on their tokens page; what they may
pull is what their plan says now, changed through Stripe's webhook (the local
fake of tests/billing); what they pulled reaches their Registry page and their
SLA clocks through the registry's notifications. Skipped where docker-registry
or skopeo is missing, except under CI, where that fails.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.catalog.models import ImageDigest
from apps.entitlements.services import mirror_add
from apps.orgs.services import org_create
from apps.registry.models import PullLogEntry, RegistryEvent
from apps.sla.models import SlaClock
from tests.billing import conftest as billing_fixtures
from tests.billing.conftest import deliver_all
from tests.catalog import builders as catalog
from tests.conftest import require_service
from tests.entitlements.builders import ensure_tiers
from tests.factories import UserFactory
from tests.sla import builders as sla_builders

from .realregistry import (
    OciImage,
    RealRegistry,
    Skopeo,
    missing_tools,
    oci_image_build,
    portal_registry,
)

pytestmark = pytest.mark.django_db(transaction=True)

# The billing tests' fake of Stripe and its prices, used here as they are.
fake_stripe = billing_fixtures.fake_stripe
stripe_prices = billing_fixtures.stripe_prices

Scope = ApiToken.Scope
TAG = "1.27"
NOTIFICATIONS_SECRET = "e2e-registry-notifications-secret"
FIPS_REFUSAL = "is not entitled to FIPS variants for nginx"
# What the registry answers for a token that grants less than was asked.
DENIED = "denied: requested access to the resource is denied"
# The registry retries a notification every second (realregistry.py).
NOTIFIED_WITHIN = 20


@pytest.fixture(autouse=True)
def _tools():
    missing = missing_tools()
    if missing:
        require_service("docker-registry and skopeo", ", ".join(missing))


@pytest.fixture(autouse=True)
def _tiers():
    # A transactional test's flush empties the plans the data migration wrote.
    ensure_tiers()


@pytest.fixture
def registry(live_server, settings, tmp_path) -> Iterator[RealRegistry]:
    settings.REGISTRY_NOTIFICATIONS_SECRET = NOTIFICATIONS_SECRET
    with portal_registry(
        tmp_path / "registry",
        portal_url=live_server.url,
        notifications_secret=NOTIFICATIONS_SECRET,
    ) as running:
        yield running


@pytest.fixture
def skopeo(tmp_path) -> Skopeo:
    return Skopeo(tmp_path / "skopeo-home")


@pytest.fixture
def images(tmp_path) -> dict[str, OciImage]:
    """Two small images: nginx's runtime build and its FIPS build."""
    return {
        "nginx": oci_image_build(
            tmp_path / "build-nginx", payload=b"nginx runtime\n", tag=TAG
        ),
        "nginx-fips": oci_image_build(
            tmp_path / "build-nginx-fips", payload=b"nginx FIPS\n", tag=TAG
        ),
    }


@pytest.fixture
def nginx(images) -> dict[str, ImageDigest]:
    """The catalog's nginx 1.27: a runtime and a FIPS build, registered with
    the digests of the images the publisher pushes."""
    repository = catalog.repository("nginx", category="web")
    line = catalog.series(repository, TAG)
    return {
        "nginx": catalog.build(line, digest=images["nginx"].digest, tags=[TAG]),
        "nginx-fips": catalog.build(
            line, fips=True, digest=images["nginx-fips"].digest, tags=[TAG]
        ),
    }


@pytest.fixture
def publisher(nginx, registry, skopeo, images):
    """The publisher's CI has pushed both images with a staff push token."""
    staff = UserFactory(is_staff=True)  # with a second factor, as staff have
    org = org_create(name="Publisher", owner=staff)
    token, raw = api_token_create(
        org=org, name="ci", scopes=[Scope.REGISTRY_PUSH], expires_at=None, actor=staff
    )
    for path, image in images.items():
        pushed = skopeo.push(image, registry.host, path, creds=("ci", raw))
        assert pushed.ok, f"{pushed}\n{registry.log()[-3000:]}"
        assert last_decision(path, token=token).granted == ["pull", "push"]
    return {"org": org, "token": token}


def owner_client(org_name: str) -> tuple[Client, object]:
    """A new organization's owner, signed in."""
    owner = UserFactory()
    org = org_create(name=org_name, owner=owner)
    client = Client()
    client.force_login(owner)
    return client, org


def pull_token(client: Client, org) -> tuple[ApiToken, str]:
    """A registry:pull token made on the organization's tokens page."""
    response = client.post(
        reverse("accounts:tokens", kwargs={"org_slug": org.slug}),
        {"name": "k8s pull secret", "scopes": [Scope.REGISTRY_PULL]},
    )
    assert response.status_code == 201, response.content
    raw = re.search(r'id="new-token">([^<]+)<', response.content.decode())[1]
    return ApiToken.objects.for_org(org).get(name="k8s pull secret"), raw


def subscribe(client: Client, org, price, fake) -> str:
    """The owner subscribes through Checkout; Stripe's webhooks arrive."""
    response = client.post(
        reverse("billing:checkout", kwargs={"org_slug": org.slug}),
        {"price": price.pk},
    )
    assert response.status_code == 303, response.content
    events = fake.checkout_complete(response["Location"].rsplit("/", 1)[-1])
    deliver_all(Client(), events)
    return events[1]["data"]["object"]["id"]


def last_decision(repository: str, **filters) -> PullLogEntry:
    entry = PullLogEntry.objects.filter(repository=repository, **filters).first()
    assert entry is not None, f"no pull log entry for {repository} {filters}"
    return entry


def test_entitlement_decides_who_pulls_and_only_the_publisher_pushes(
    publisher, registry, skopeo, images, stripe_prices, fake_stripe, tmp_path
):
    pulled = tmp_path / "pulled"

    # Contoso pays for Select (FIPS and STIG) and pulls the FIPS image.
    contoso_client, contoso = owner_client("Contoso")
    subscribe(contoso_client, contoso, stripe_prices["select_month"], fake_stripe)
    contoso_token, contoso_raw = pull_token(contoso_client, contoso)
    result, digest = skopeo.pull(
        registry.host, "nginx-fips", TAG, pulled, creds=("ci", contoso_raw)
    )
    assert result.ok, f"{result}\n{registry.log()[-3000:]}"
    assert digest == images["nginx-fips"].digest
    granted = last_decision("nginx-fips", org=contoso)
    assert (granted.token, granted.granted) == (contoso_token, ["pull"])

    # Initech is on Community: the same pull is refused, and the refusal
    # names the entitlement it lacks, in the log and on its Registry page.
    initech_client, initech = owner_client("Initech")
    _, initech_raw = pull_token(initech_client, initech)
    result, digest = skopeo.pull(
        registry.host, "nginx-fips", TAG, pulled, creds=("ci", initech_raw)
    )
    assert not result.ok
    assert digest is None
    # skopeo prints the token endpoint's reason, not the registry's "denied".
    assert f"denied: Initech {FIPS_REFUSAL}" in result.stderr, result
    refused = last_decision("nginx-fips", org=initech)
    assert refused.granted == []
    assert refused.reason == f"Initech {FIPS_REFUSAL}"
    page = initech_client.get(f"/o/{initech.slug}/registry/")
    assert page.status_code == 200
    assert f"Initech {FIPS_REFUSAL}" in page.content.decode()
    # Contoso's page does not show Initech's refusal.
    other = contoso_client.get(f"/o/{contoso.slug}/registry/")
    assert "Initech" not in other.content.decode()

    # The runtime image is free: Initech's token and nobody at all pull it.
    result, digest = skopeo.pull(
        registry.host, "nginx", TAG, pulled, creds=("ci", initech_raw)
    )
    assert result.ok, result
    assert digest == images["nginx"].digest
    result, digest = skopeo.pull(registry.host, "nginx", TAG, pulled, creds=None)
    assert result.ok, result
    assert digest == images["nginx"].digest
    assert last_decision("nginx", token=None, user=None).granted == ["pull"]
    # Nobody at all does not pull the FIPS image.
    result, _ = skopeo.pull(registry.host, "nginx-fips", TAG, pulled, creds=None)
    assert not result.ok
    assert "needs an entitled organization: sign in with an API token" in (
        result.stderr
    ), result
    assert "needs an entitled organization" in (
        last_decision("nginx-fips", token=None, user=None).reason
    )

    # A customer's token cannot push, even one made with registry:push.
    owner = contoso.memberships.get().user
    _, push_raw = api_token_create(
        org=contoso,
        name="wants push",
        scopes=[Scope.REGISTRY_PULL, Scope.REGISTRY_PUSH],
        expires_at=None,
        actor=owner,
    )
    for raw in (contoso_raw, push_raw):
        result = skopeo.push(images["nginx"], registry.host, "nginx", creds=("ci", raw))
        assert not result.ok
        assert DENIED in result.stderr, result
    refusal = last_decision("nginx", org=contoso, requested=["pull", "push"])
    assert refusal.granted == ["pull"]
    assert "push is for publisher pipelines" in refusal.reason
    # The publisher's push landed; nothing a customer sent replaced it.
    result = skopeo.inspect_raw(registry.host, "nginx", TAG, creds=None)
    assert result.ok, result
    manifest = hashlib.sha256(result.stdout.encode()).hexdigest()
    assert f"sha256:{manifest}" == images["nginx"].digest


def test_a_lapse_and_a_revocation_stop_the_next_pull(
    publisher, registry, skopeo, images, stripe_prices, fake_stripe, tmp_path
):
    pulled = tmp_path / "pulled"
    client, org = owner_client("Umbrella")
    subscription_id = subscribe(client, org, stripe_prices["select_month"], fake_stripe)
    token, raw = pull_token(client, org)
    result, digest = skopeo.pull(
        registry.host, "nginx-fips", TAG, pulled, creds=("ci", raw)
    )
    assert result.ok, f"{result}\n{registry.log()[-3000:]}"
    assert digest == images["nginx-fips"].digest

    # The customer cancels at Stripe: customer.subscription.deleted arrives
    # through the webhook, and the very next pull is refused.
    deliver_all(
        Client(), fake_stripe.subscription_set_status(subscription_id, "canceled")
    )
    result, digest = skopeo.pull(
        registry.host, "nginx-fips", TAG, pulled, creds=("ci", raw)
    )
    assert not result.ok
    assert digest is None
    assert f"Umbrella {FIPS_REFUSAL}" in result.stderr, result
    refused = last_decision("nginx-fips", org=org)
    assert (refused.token, refused.granted) == (token, [])
    assert refused.reason == f"Umbrella {FIPS_REFUSAL}"
    # The free image still comes with the same token.
    result, _ = skopeo.pull(registry.host, "nginx", TAG, pulled, creds=("ci", raw))
    assert result.ok, result

    # The owner revokes the token on the tokens page: it pulls nothing more,
    # not even what is free, and the refusal is logged without the secret.
    response = client.post(
        reverse("accounts:token_revoke", kwargs={"org_slug": org.slug, "pk": token.pk})
    )
    assert response.status_code == 302
    result, digest = skopeo.pull(registry.host, "nginx", TAG, pulled, creds=("ci", raw))
    assert not result.ok
    assert digest is None
    # This refusal comes from the token endpoint itself: skopeo shows its reason.
    assert "unauthorized: Unknown, expired or revoked token." in result.stderr
    entry = PullLogEntry.objects.filter(repository="nginx").first()
    assert entry.granted == []
    assert entry.reason == "Unknown, expired or revoked token."
    assert raw not in entry.account + entry.reason


def registry_events(deadline: float, **filters) -> list[RegistryEvent]:
    """The events stored so far that match, once there is one (or the time is
    up): the registry sends them on its own schedule."""
    while True:
        events = list(RegistryEvent.objects.filter(**filters))
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def test_a_pull_reaches_the_portal_and_shows_where_the_organization_looks(
    publisher, registry, skopeo, images, nginx, stripe_prices, fake_stripe, tmp_path
):
    pulled = tmp_path / "pulled"
    fips = nginx["nginx-fips"]
    # Contoso (Select: the SLA and FIPS) mirrors nginx with its FIPS builds;
    # the FIPS build has an open finding, so Contoso has a clock on it.
    client, contoso = owner_client("Contoso")
    subscribe(client, contoso, stripe_prices["select_month"], fake_stripe)
    finding = sla_builders.finding(fips.variant.series, image=fips)
    mirror_add(
        org=contoso,
        repository=fips.variant.series.repository,
        actor=contoso.memberships.get().user,
        include_fips=True,
    )
    clock = SlaClock.objects.get(org=contoso, finding=finding)
    _, raw = pull_token(client, contoso)
    initech_client, initech = owner_client("Initech")

    result, digest = skopeo.pull(
        registry.host, "nginx-fips", TAG, pulled, creds=("ci", raw)
    )
    assert result.ok, f"{result}\n{registry.log()[-3000:]}"
    assert digest == fips.digest
    deadline = time.monotonic() + NOTIFIED_WITHIN
    (event,) = registry_events(deadline, action="pull", org=contoso)
    assert (event.digest, event.image, event.repository) == (
        fips.digest,
        fips,
        "nginx-fips",
    )
    # The publisher's pushes were reported too, as pushes of nobody's.
    pushes = registry_events(deadline, action="push")
    assert {e.digest for e in pushes} == {i.digest for i in images.values()}
    assert {e.org for e in pushes} == {None}

    # "Images you run" on Contoso's Registry page, linked to the catalog build.
    page = client.get(f"/o/{contoso.slug}/registry/").content.decode()
    images_section = page[page.index('id="images"') : page.index('id="tokens"')]
    assert f'title="{fips.digest}"' in images_section
    assert fips.get_absolute_url() in images_section
    # The clock of the finding on that digest says when it was pulled.
    detail = client.get(
        reverse("sla:clock_detail", args=[contoso.slug, clock.pk])
    ).content.decode()
    assert 'id="event-pulled"' in detail
    assert "1 pull of this digest" in detail
    # Another organization sees none of it.
    other = initech_client.get(f"/o/{initech.slug}/registry/").content.decode()
    assert fips.digest not in other
    assert "The registry has reported no pull by this organization yet." in other

    # An anonymous pull is reported but is nobody's image.
    result, _ = skopeo.pull(registry.host, "nginx", TAG, pulled, creds=None)
    assert result.ok, result
    (anonymous,) = registry_events(
        time.monotonic() + NOTIFIED_WITHIN, action="pull", repository="nginx"
    )
    assert anonymous.org is None
    assert RegistryEvent.objects.filter(action="pull", org=contoso).count() == 1
