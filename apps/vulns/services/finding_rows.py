"""Writing findings in bulk: new ones inserted, open ones marked fixed.

On PostgreSQL the rows travel by COPY into a temporary table and one statement
applies them; elsewhere (SQLite) the ORM does it in batches.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from django.db import connection
from django.db.models import Field

from ..models import Finding
from .batches import chunks

# Findings a newer build can fix: a VEX not_affected or a fixed one stays.
OPEN_STATUSES = (Finding.Status.AFFECTED, Finding.Status.UNDER_INVESTIGATION)

# A new finding: the columns computed for it, in this order.
FINDING_COLUMNS = (
    "digest_id",
    "component_id",
    "vulnerability_id",
    "severity",
    "disclosed_at",
    "fixed_version",
    "status",
    "fixed_published_at",
    "fixed_in_id",
    "upstream_fix_at",
    "upstream_fix_revision_id",
)


def findings_insert(rows: list[list[Any]], now: datetime) -> None:
    """Insert new findings (FINDING_COLUMNS), skipping any that exist by now.

    On PostgreSQL the rows are streamed with COPY into a temporary table and
    inserted from there: a third of the time of ORM inserts, which build a
    model instance and bind a dozen parameters per finding. Elsewhere
    (SQLite) bulk_create does it. Both skip a finding another run inserted
    meanwhile, by the unique constraint.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        Finding.objects.bulk_create(
            [
                Finding(**dict(zip(FINDING_COLUMNS, row, strict=True)), detected_at=now)
                for row in rows
            ],
            ignore_conflicts=True,
            batch_size=2000,
        )
        return
    with connection.cursor() as cursor:
        columns = ", ".join(
            _pg_load(
                cursor,
                "finding_load",
                # Columns without a database default are given their value.
                [*FINDING_COLUMNS, "detected_at", "withdrawn_reason"],
                ((*row, now, "") for row in rows),
            )
        )
        table = connection.ops.quote_name(Finding._meta.db_table)
        loaded = f"SELECT {columns} FROM finding_load"  # noqa: S608
        cursor.execute(
            f"INSERT INTO {table} ({columns}) {loaded} ON CONFLICT DO NOTHING"
        )


def findings_mark_fixed(fixes: dict[tuple[int, datetime], list[int]]) -> int:
    """Mark open findings fixed: {(fixing build pk, its built_at): finding pks}.

    One UPDATE per fixing build, or on PostgreSQL one UPDATE joined to the
    fixes loaded by COPY (bulk_update's CASE per row is far slower than both).
    """
    if not fixes:
        return 0
    if connection.vendor != "postgresql":
        fixed = 0
        for (build_pk, built_at), finding_pks in fixes.items():
            for chunk in chunks(finding_pks, 2000):
                fixed += Finding.objects.filter(
                    pk__in=chunk, status__in=OPEN_STATUSES
                ).update(
                    status=Finding.Status.FIXED,
                    fixed_published_at=built_at,
                    fixed_in_id=build_pk,
                )
        return fixed
    with connection.cursor() as cursor:
        pk, fixed_in, fixed_at = _pg_load(
            cursor,
            "fix_load",
            ["id", "fixed_in_id", "fixed_published_at"],
            (
                (finding_pk, build_pk, built_at)
                for (build_pk, built_at), finding_pks in fixes.items()
                for finding_pk in finding_pks
            ),
        )
        table = connection.ops.quote_name(Finding._meta.db_table)
        status = _finding_column("status")
        cursor.execute(
            f"UPDATE {table} AS f SET {status} = %s, "  # noqa: S608
            f"{fixed_in} = l.{fixed_in}, {fixed_at} = l.{fixed_at} "
            f"FROM fix_load AS l WHERE f.{pk} = l.{pk} AND f.{status} IN (%s, %s)",
            [Finding.Status.FIXED, *OPEN_STATUSES],
        )
        return cursor.rowcount


def _finding_column(name: str) -> str:
    """The quoted column of a Finding field (by name or attname)."""
    field = cast(Field, Finding._meta.get_field(name))
    return connection.ops.quote_name(str(field.column))


def _pg_load(cursor, load_table: str, fields: list[str], rows: Iterable) -> list[str]:
    """COPY rows into a table of these findings columns, kept for the transaction.

    Returns the quoted column names. Identifiers come from the model's metadata
    and values travel by COPY: no input reaches the SQL text.
    """
    columns = [_finding_column(name) for name in fields]
    joined = ", ".join(columns)
    table = connection.ops.quote_name(Finding._meta.db_table)
    shape = f"AS SELECT {joined} FROM {table} WITH NO DATA"  # noqa: S608
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {load_table} ON COMMIT DROP {shape}"
    )
    cursor.execute(f"TRUNCATE {load_table}")
    with cursor.cursor.copy(f"COPY {load_table} ({joined}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return columns
