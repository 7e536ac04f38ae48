#!/bin/sh
# The postgres image runs this once, on an empty data directory, as its
# superuser (POSTGRES_USER): it creates the portal's non-superuser role from
# deploy/postgres/app-role.sql, with the password compose passes in as
# PORTAL_DB_PASSWORD. deploy/compose.yaml mounts both files.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_user="$PORTAL_DB_USER" -v app_password="$PORTAL_DB_PASSWORD" \
  -f /etc/portal/app-role.sql
