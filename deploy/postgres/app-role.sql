-- The portal's two PostgreSQL roles, made by the database's init step
-- (deploy/postgres/init-app-role.sh in compose's docker-entrypoint-initdb.d,
-- or by hand: see deploy/README.md, "The database roles"). Run as a superuser
-- connected to the portal's database, with the psql variables set:
--
--   psql -v ON_ERROR_STOP=1 -v app_owner=portal_owner -v app_owner_password=... \
--        -v app_user=portal -v app_password=... -d portal -f deploy/postgres/app-role.sql
--
-- app_owner owns the schema and every table: `migrate` (and only migrate,
-- through MIGRATE_DATABASE_URL) connects as it.
-- app_user is what web, the workers and beat connect as: it may read and
-- write rows (SELECT, INSERT, UPDATE, DELETE; sequences), nothing else. It
-- owns no table, so it cannot ALTER TABLE ... DISABLE TRIGGER, TRUNCATE
-- (which skips row triggers) or DROP; it is no superuser, so it cannot set
-- session_replication_role to skip triggers either: the audit log's
-- append-only trigger holds against the portal's own credentials.
-- Neither role has SUPERUSER, BYPASSRLS, CREATEROLE, CREATEDB or REPLICATION.
--
-- Safe to run again, and the upgrade from the earlier single role: a
-- database whose tables app_user owns has them handed to app_owner
-- (REASSIGN OWNED) and app_user keeps row access only.

SELECT format('CREATE ROLE %I', name)
  FROM (VALUES (:'app_owner'), (:'app_user')) AS wanted(name)
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOBYPASSRLS NOCREATEROLE'
              ' NOCREATEDB NOREPLICATION INHERIT', name, password)
  FROM (VALUES (:'app_owner', :'app_owner_password'), (:'app_user', :'app_password'))
       AS wanted(name, password) \gexec

-- Connect to this database only; create objects only in the owner's schema.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I, %I',
              current_database(), :'app_owner', :'app_user') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"app_owner";
REASSIGN OWNED BY :"app_user" TO :"app_owner";
REVOKE CREATE ON SCHEMA public FROM :"app_user";
GRANT USAGE ON SCHEMA public TO :"app_user";

-- Row access to what exists now, and to every table and sequence migrations
-- create later.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"app_user";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_user";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO :"app_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"app_owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_user";
ALTER DEFAULT PRIVILEGES FOR ROLE :"app_owner" IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO :"app_user";
