"""deploy/postgres/app-role.sql: the role the portal connects as in compose is
no superuser, owns its schema, migrates the whole project, and cannot get past
the audit log's append-only trigger (not even with session_replication_role,
which a superuser could set to skip every trigger)."""

import os
import subprocess
import sys
import uuid

import pytest
from django.db import connection

from tests.conftest import require_service

from .conftest import DEPLOY, ROOT

pytestmark = pytest.mark.services

APP_ROLE_SQL = DEPLOY / "postgres" / "app-role.sql"


@pytest.fixture(scope="module")
def app_role_database():
    """A throwaway database set up by the init SQL, migrated as the app role."""
    import psycopg

    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "DATABASE_URL does not point at PostgreSQL")
    settings_dict = connection.settings_dict
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or 5432
    admin_dsn = {
        "host": host,
        "port": port,
        "user": settings_dict["USER"],
        "password": settings_dict["PASSWORD"] or None,
    }
    suffix = uuid.uuid4().hex[:10]
    database, role = f"portal_approle_{suffix}", f"portal_app_{suffix}"
    password = uuid.uuid4().hex

    def admin(sql: str, dbname: str = "postgres") -> None:
        with psycopg.connect(**admin_dsn, dbname=dbname, autocommit=True) as conn:
            conn.execute(sql)

    admin(f"CREATE DATABASE {database}")
    try:
        # The init SQL as the postgres image runs it: psql, as the superuser.
        env = {**os.environ, "PGPASSWORD": admin_dsn["password"] or ""}
        subprocess.run(
            [
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                host,
                "-p",
                str(port),
                "-U",
                admin_dsn["user"],
                "-d",
                database,
                "-v",
                f"app_user={role}",
                "-v",
                f"app_password={password}",
                "-f",
                str(APP_ROLE_SQL),
            ],
            check=True,
            env=env,
            capture_output=True,
        )
        url = f"postgres://{role}:{password}@{host}:{port}/{database}"
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
                "DJANGO_ENV": "development",
                "DATABASE_URL": url,
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        yield {
            "host": host,
            "port": port,
            "dbname": database,
            "role": role,
            "pw": password,
        }
    finally:
        admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin(f"DROP ROLE IF EXISTS {role}")


@pytest.fixture
def as_app(app_role_database):
    import psycopg

    db = app_role_database
    with psycopg.connect(
        host=db["host"],
        port=db["port"],
        dbname=db["dbname"],
        user=db["role"],
        password=db["pw"],
    ) as conn:
        yield conn


def test_the_app_role_is_no_superuser_and_owns_the_schema(as_app, app_role_database):
    row = as_app.execute(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication"
        " FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert row == (False, False, False, False, False)
    owner = as_app.execute(
        "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
    ).fetchone()
    assert owner == (app_role_database["role"],)
    # The migrations ran as it: it owns the audit table and its trigger exists.
    table_owner = as_app.execute(
        "SELECT tableowner FROM pg_tables WHERE tablename = 'audit_auditevent'"
    ).fetchone()
    assert table_owner == (app_role_database["role"],)
    trigger = as_app.execute(
        "SELECT tgenabled FROM pg_trigger WHERE tgname = 'audit_event_append_only'"
    ).fetchone()
    assert trigger == ("O",)


def test_the_app_role_cannot_switch_triggers_off(as_app):
    import psycopg

    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_app.execute("SET LOCAL session_replication_role = replica")
    as_app.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_app.execute("SET session_replication_role = replica")
    as_app.rollback()


def test_an_audit_row_cannot_be_updated_or_deleted_by_the_app_role(as_app):
    import psycopg

    event_id = as_app.execute(
        "INSERT INTO audit_auditevent (created_at, actor_email, action, target_type,"
        " target_id, target_repr, user_agent, details, prev_hash, hash)"
        " VALUES (now(), '', 'test.event', '', '', '', '', '{}', '', 'x') RETURNING id"
    ).fetchone()[0]
    as_app.commit()
    for statement in (
        "UPDATE audit_auditevent SET action = 'rewritten' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            as_app.execute(statement, (event_id,))
        as_app.rollback()
    row = as_app.execute(
        "SELECT action FROM audit_auditevent WHERE id = %s", (event_id,)
    ).fetchone()
    assert row == ("test.event",)
