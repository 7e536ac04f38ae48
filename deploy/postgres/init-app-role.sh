#!/bin/sh
# The postgres image runs this once, on an empty data directory, as its
# superuser (POSTGRES_USER): it creates the portal's two non-superuser roles
# from deploy/postgres/app-role.sql, the owner (migrations) with the password
# in MIGRATE_DATABASE_URL (deploy/secrets/migrate.env) and the runtime role
# with PORTAL_DB_PASSWORD. deploy/compose.yaml mounts both files.
set -eu
# postgres://USER:PASSWORD@HOST:PORT/DB: the password is hex (URL-safe).
owner_auth=${MIGRATE_DATABASE_URL#*://}
owner_auth=${owner_auth%%@*}
owner_user=${owner_auth%%:*}
owner_password=${owner_auth#*:}
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_owner="$owner_user" -v app_owner_password="$owner_password" \
  -v app_user="$PORTAL_DB_USER" -v app_password="$PORTAL_DB_PASSWORD" \
  -f "${APP_ROLE_SQL:-/etc/portal/app-role.sql}"
