import os
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.test import Client, override_settings

from apps.orgs.models import Role

from .factories import MembershipFactory, OrganizationFactory, UserFactory

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


def worker_redis_url(url: str, worker: str) -> str:
    """The Redis database of one pytest-xdist worker: ``gw0`` keeps the db of
    TEST_REDIS_URL, ``gw1`` the one below it, and so on (wrapping at 0), so
    workers never flush each other's data."""
    parts = urlsplit(url)
    base = int(parts.path.lstrip("/") or 0)
    db = (base - int(worker.removeprefix("gw"))) % 16
    return urlunsplit(parts._replace(path=f"/{db}"))


def pytest_configure(config):
    # Under pytest-xdist (`make test` runs two workers) each worker has its own
    # PostgreSQL test database (pytest-django suffixes its name with the worker
    # id) and, from here, its own Redis database.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        url = os.environ.get("TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
        os.environ["TEST_REDIS_URL"] = worker_redis_url(url, worker)


def pytest_collection_modifyitems(items):
    # Asking for serialized rollback on every transactional test makes Django
    # keep a copy of the rows the data migrations loaded (tiers, the control
    # map, SLA defaults) when it creates the test database.
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None or not marker.kwargs.get("transaction"):
            continue
        if "serialized_rollback" in marker.kwargs:
            continue
        kwargs = {**marker.kwargs, "serialized_rollback": True}
        item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    # A transactional test empties every table when it ends, the migrated rows
    # included. Run in one process, pytest-django puts such tests last; in two
    # workers each module stays whole (--dist loadscope), so one can run before
    # another module's tests that read those rows: put them back afterwards.
    result = yield
    marker = item.get_closest_marker("django_db")
    # After the last test the test databases are gone: nothing to put back.
    if nextitem is not None and marker and marker.kwargs.get("transaction"):
        from django.db import connections
        from pytest_django.plugin import blocking_manager_key

        with item.config.stash[blocking_manager_key].unblock():
            for connection in connections.all():
                contents = getattr(connection, "_test_serialized_contents", None)
                if contents:
                    connection.creation.deserialize_db_from_string(contents)
    return result


@pytest.fixture(autouse=True)
def _not_inside_a_worker():
    # A test that starts a Celery worker in this process marks the process as
    # one, and result.get() is then refused ("Never call result.get() within a
    # task!") in every later test the same xdist worker runs. Each test starts
    # as a plain process.
    from celery._state import _set_task_join_will_block

    from portal.celery import app

    _set_task_join_will_block(False)
    # And with the portal's Celery app as the current one: a Celery() made
    # by a test without set_as_current=False would otherwise take its place,
    # and every later shared task's .delay() would go to that app's broker.
    app.set_current()


def require_service(name: str, reason: str):
    """Skip when a service is absent, except in CI, where that is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required in CI: {reason}")
    pytest.skip(f"{name} unavailable: {reason}")


@pytest.fixture
def require_postgres():
    """For tests of what only PostgreSQL does; in CI its absence is a failure."""
    from django.db import connection

    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "DATABASE_URL does not point at PostgreSQL")


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate limits live in the cache: one test's failed logins must not leak.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme", slug="acme")


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Globex", slug="globex")


def _member(org, role):
    return MembershipFactory(org=org, role=role)


@pytest.fixture
def owner(org):
    return _member(org, Role.OWNER)


@pytest.fixture
def admin(org):
    return _member(org, Role.ADMIN)


@pytest.fixture
def member(org):
    return _member(org, Role.MEMBER)


@pytest.fixture
def billing(org):
    return _member(org, Role.BILLING)


@pytest.fixture
def outsider(other_org):
    return _member(other_org, Role.OWNER)


def login(client: Client, user) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def client_for():
    def make(user):
        return login(Client(), user)

    return make


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture(autouse=True)
def _report_signing_dir(settings, tmp_path_factory):
    """The development signing key of a test run lives in the run's temporary
    directory (generated once, reused by every test), never in the checkout."""
    settings.REPORT_SIGNING_DIR = tmp_path_factory.getbasetemp() / "report-signing"
    settings.REGISTRY_TOKEN_DIR = tmp_path_factory.getbasetemp() / "registry-token"


@pytest.fixture(scope="session", autouse=True)
def _media_root(tmp_path_factory):
    """Files a test stores land in the run's temporary directory (one per
    pytest-xdist worker), never in the checkout's media/. Tests that look at
    what they stored set their own MEDIA_ROOT over this one."""
    with override_settings(MEDIA_ROOT=tmp_path_factory.getbasetemp() / "media"):
        yield
