-- The portal's own PostgreSQL role, made by the database's init step
-- (deploy/postgres/init-app-role.sh in compose's docker-entrypoint-initdb.d,
-- or by hand: see deploy/README.md, "The database role"). Run as a superuser
-- connected to the portal's database, with the psql variables app_user and
-- app_password set:
--
--   psql -v ON_ERROR_STOP=1 -v app_user=portal -v app_password=... \
--        -d portal -f deploy/postgres/app-role.sql
--
-- The role owns the schema the tables live in, so `migrate` runs as it, and is
-- nothing more: no superuser (which could set session_replication_role and so
-- skip the audit log's append-only trigger), no BYPASSRLS, no CREATEROLE,
-- no CREATEDB, no replication.
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password'
    NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION INHERIT;

-- Connect to this database only; create objects only in the schema it owns.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I',
              current_database(), :'app_user') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"app_user";
