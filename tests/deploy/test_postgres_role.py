"""deploy/postgres/app-role.sql: two roles, neither a superuser. The schema
owner migrates the whole project; the runtime role the portal connects as
reads and writes rows (the whole demo is seeded through it) and nothing more:
it cannot get past the audit log's append-only trigger, neither with
session_replication_role (a superuser's), nor ALTER TABLE ... DISABLE TRIGGER
or TRUNCATE (an owner's), nor by dropping or creating tables."""

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
INIT_SCRIPT = DEPLOY / "postgres" / "init-app-role.sh"


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
    owner = f"portal_owner_{suffix}"
    password, owner_password = uuid.uuid4().hex, uuid.uuid4().hex

    def admin(sql: str, dbname: str = "postgres") -> None:
        with psycopg.connect(**admin_dsn, dbname=dbname, autocommit=True) as conn:
            conn.execute(sql)

    admin(f"CREATE DATABASE {database}")
    try:
        # The init script as the postgres image runs it on its first start:
        # as the superuser, with compose's environment for it.
        env = {
            **os.environ,
            "PGPASSWORD": admin_dsn["password"] or "",
            "PGHOST": str(host),
            "PGPORT": str(port),
            "POSTGRES_USER": admin_dsn["user"],
            "POSTGRES_DB": database,
            "PORTAL_DB_USER": role,
            "PORTAL_DB_PASSWORD": password,
            "MIGRATE_DATABASE_URL": (
                f"postgres://{owner}:{owner_password}@postgres:5432/portal"
            ),
            "APP_ROLE_SQL": str(APP_ROLE_SQL),
        }
        made = subprocess.run(
            ["sh", str(INIT_SCRIPT)], env=env, capture_output=True, text=True
        )
        assert made.returncode == 0, made.stderr

        def manage(*args: str, url: str) -> None:
            done = subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env={
                    **{
                        k: v
                        for k, v in os.environ.items()
                        if not k.startswith("PYTEST")
                    },
                    "DJANGO_ENV": "development",
                    "DATABASE_URL": url,
                    "CELERY_TASK_ALWAYS_EAGER": "true",
                },
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, (args, done.stderr[-3000:])

        # Migrations as the owner; then the portal's work as the runtime role.
        manage(
            "migrate",
            "--noinput",
            "-v",
            "0",
            url=f"postgres://{owner}:{owner_password}@{host}:{port}/{database}",
        )
        runtime_url = f"postgres://{role}:{password}@{host}:{port}/{database}"
        manage("seed_demo", url=runtime_url)
        manage("audit_verify", url=runtime_url)
        yield {
            "host": host,
            "port": port,
            "dbname": database,
            "role": role,
            "owner": owner,
            "owner_pw": owner_password,
            "pw": password,
            "manage": manage,
        }
    finally:
        admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin(f"DROP ROLE IF EXISTS {role}")
        admin(f"DROP ROLE IF EXISTS {owner}")


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


def test_neither_role_is_a_superuser_and_the_owner_owns_everything(
    as_app, app_role_database
):
    rows = as_app.execute(
        "SELECT rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb,"
        " rolreplication FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname",
        ([app_role_database["owner"], app_role_database["role"]],),
    ).fetchall()
    assert [row[1:] for row in rows] == [(False,) * 5, (False,) * 5]
    owner = app_role_database["owner"]
    assert as_app.execute(
        "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
    ).fetchone() == (owner,)
    # Every table and sequence the migrations made is the owner's.
    owners = as_app.execute(
        "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class"
        " WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'S', 'v')"
    ).fetchall()
    assert owners == [(owner,)]
    trigger = as_app.execute(
        "SELECT tgenabled FROM pg_trigger WHERE tgname = 'audit_event_append_only'"
    ).fetchone()
    assert trigger == ("O",)


def test_the_runtime_role_did_the_portals_work(as_app):
    """seed_demo and audit_verify ran as it: rows in every floor of the app."""
    for table in (
        "orgs_organization",
        "catalog_imagedigest",
        "sla_slaclock",
        "audit_auditevent",
    ):
        count = as_app.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        assert count > 0, table


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
        "TRUNCATE audit_auditevent",
        "DROP TABLE audit_auditevent CASCADE",
        "DROP FUNCTION audit_event_refuse_change() CASCADE",
        "CREATE TABLE public.sneaky (id int)",
        "ALTER ROLE CURRENT_USER SUPERUSER",
    ],
)
def test_the_runtime_role_cannot_change_the_schema(as_app, statement):
    import psycopg

    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_app.execute(statement)
    as_app.rollback()


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
    # Not committed: the row must not break the seeded audit chain the dump
    # test verifies; the trigger fires inside the transaction just the same.
    for statement in (
        "UPDATE audit_auditevent SET action = 'rewritten' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        as_app.execute("SAVEPOINT attempt")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            as_app.execute(statement, (event_id,))
        as_app.execute("ROLLBACK TO SAVEPOINT attempt")
    row = as_app.execute(
        "SELECT action FROM audit_auditevent WHERE id = %s", (event_id,)
    ).fetchone()
    assert row == ("test.event",)
    as_app.rollback()


def test_the_sql_moves_a_database_made_with_one_role(app_role_database):
    """The upgrade path deploy/README.md gives: a database whose tables the
    single earlier role owns, the SQL file run again, the tables end up the
    owner's and the earlier role keeps row access only."""
    import psycopg

    db = app_role_database
    suffix = uuid.uuid4().hex[:10]
    database, old = f"portal_upgrade_{suffix}", f"portal_old_{suffix}"
    owner = f"portal_newowner_{suffix}"
    admin_dsn = {k: db[k] for k in ("host", "port")} | {
        "user": connection.settings_dict["USER"],
        "password": connection.settings_dict["PASSWORD"] or None,
    }

    def admin(sql: str, dbname: str = "postgres") -> None:
        with psycopg.connect(**admin_dsn, dbname=dbname, autocommit=True) as conn:
            conn.execute(sql)

    admin(f"CREATE DATABASE {database}")
    try:
        # The earlier layout: one login role owning the schema and its tables.
        admin(f"CREATE ROLE {old} LOGIN PASSWORD 'old'")
        admin(f"ALTER SCHEMA public OWNER TO {old}", dbname=database)
        with psycopg.connect(
            **(admin_dsn | {"user": old, "password": "old"}), dbname=database
        ) as conn:
            conn.execute("CREATE TABLE ledger (id serial PRIMARY KEY, note text)")
            conn.execute("INSERT INTO ledger (note) VALUES ('before')")
        subprocess.run(
            [
                "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                "-h", str(admin_dsn["host"]), "-p", str(admin_dsn["port"]),
                "-U", admin_dsn["user"], "-d", database,
                "-v", f"app_owner={owner}", "-v", "app_owner_password=new",
                "-v", f"app_user={old}", "-v", "app_password=old",
                "-f", str(APP_ROLE_SQL),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PGPASSWORD": admin_dsn["password"] or ""},
        )  # fmt: skip
        with psycopg.connect(
            **(admin_dsn | {"user": old, "password": "old"}), dbname=database
        ) as conn:
            assert conn.execute(
                "SELECT tableowner FROM pg_tables WHERE tablename = 'ledger'"
            ).fetchone() == (owner,)
            conn.execute("INSERT INTO ledger (note) VALUES ('after')")
            assert conn.execute("SELECT count(*) FROM ledger").fetchone() == (2,)
            conn.commit()
            for statement in ("ALTER TABLE ledger ADD COLUMN x int", "TRUNCATE ledger"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
                conn.rollback()
    finally:
        admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin(f"DROP ROLE IF EXISTS {old}")
        admin(f"DROP ROLE IF EXISTS {owner}")


def test_a_dump_by_the_owner_restores_and_verifies_as_the_runtime_role(
    app_role_database, tmp_path
):
    """deploy/README.md's backup recipe with the two roles: pg_dump and
    pg_restore as the schema owner into a database it owns, then
    audit_verify as the runtime role (the restored grants let it read)."""
    import psycopg

    db = app_role_database
    restored = f"{db['dbname']}_restore"
    admin_dsn = {
        "host": db["host"],
        "port": db["port"],
        "user": connection.settings_dict["USER"],
        "password": connection.settings_dict["PASSWORD"] or None,
    }
    dump = tmp_path / "portal.dump"
    owner_env = {**os.environ, "PGPASSWORD": db["owner_pw"]}
    base = ["-h", str(db["host"]), "-p", str(db["port"]), "-U", db["owner"]]
    subprocess.run(
        ["pg_dump", "-Fc", *base, "-d", db["dbname"], "-f", str(dump)],
        check=True,
        env=owner_env,
        capture_output=True,
    )
    with psycopg.connect(**admin_dsn, dbname="postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {restored} OWNER {db['owner']}")
    try:
        done = subprocess.run(
            ["pg_restore", *base, "-d", restored, "--no-owner", "--exit-on-error",
             str(dump)],
            env=owner_env,
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        db["manage"](
            "audit_verify",
            url=f"postgres://{db['role']}:{db['pw']}@{db['host']}:{db['port']}/{restored}",
        )
    finally:
        with psycopg.connect(**admin_dsn, dbname="postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {restored} WITH (FORCE)")
