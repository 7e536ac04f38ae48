"""Migration operations that keep a release's migrations safe on a live
PostgreSQL and still run on SQLite (development)."""

from __future__ import annotations

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations


class AddIndexOnline(AddIndexConcurrently):
    """``CREATE INDEX CONCURRENTLY`` on PostgreSQL (writes go on while it is
    built; the migration must be ``atomic = False``); a plain ``AddIndex``
    elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(
                app_label, schema_editor, from_state, to_state
            )
        return migrations.AddIndex.database_forwards(
            self, app_label, schema_editor, from_state, to_state
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(
                app_label, schema_editor, from_state, to_state
            )
        return migrations.AddIndex.database_backwards(
            self, app_label, schema_editor, from_state, to_state
        )
