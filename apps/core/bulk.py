"""Inserting many rows in one statement, skipping those that already exist.

``bulk_create`` builds a model instance and binds one parameter per column
per row; for the thousands of rows an SBOM or a feed brings, that Python work
is most of the time. On PostgreSQL, ``bulk_insert`` sends one array per column
and inserts ``SELECT ... FROM unnest(...)``: a handful of parameters whatever
the row count. Elsewhere (SQLite in development) it falls back to
``bulk_create``. Column names come from the model's metadata and values travel
as parameters: no input reaches the SQL text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection, models

# PostgreSQL array element types by Django field type; anything else is text
# (which a varchar column still checks for length on insert).
_PG_TYPES = {
    "AutoField": "bigint",
    "BigAutoField": "bigint",
    "BigIntegerField": "bigint",
    "ForeignKey": "bigint",
    "IntegerField": "bigint",
    "PositiveBigIntegerField": "bigint",
    "PositiveIntegerField": "bigint",
    "PositiveSmallIntegerField": "bigint",
    "SmallIntegerField": "bigint",
    "BooleanField": "boolean",
    "DateTimeField": "timestamptz",
    "DateField": "date",
    "JSONField": "jsonb",
    "DecimalField": "numeric",
    "FloatField": "double precision",
}
BATCH = 5_000


def _column(field: Any) -> str:
    return str(field.column)


def bulk_insert(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning: Sequence[str] = (),
) -> list[tuple]:
    """Insert ``rows`` (values in ``fields`` order); rows that conflict with a
    unique constraint are skipped. Returns ``returning`` columns of the rows
    inserted (on PostgreSQL; [] elsewhere, where the caller reads them)."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in rows],
            ignore_conflicts=True,
            batch_size=500,
        )
        return []
    meta = model._meta
    quote = connection.ops.quote_name
    model_fields = [meta.get_field(name) for name in fields]
    columns = [quote(_column(f)) for f in model_fields]
    types = [_PG_TYPES.get(f.get_internal_type(), "text") for f in model_fields]
    arrays = ", ".join(f"%s::{'text' if t == 'jsonb' else t}[]" for t in types)
    names = [f"c{i}" for i in range(len(fields))]
    selected = ", ".join(
        f"u.{n}::jsonb" if t == "jsonb" else f"u.{n}"
        for n, t in zip(names, types, strict=True)
    )
    returned = ", ".join(quote(_column(meta.get_field(name))) for name in returning)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {selected} FROM unnest({arrays}) AS u({', '.join(names)}) "
        "ON CONFLICT DO NOTHING" + (f" RETURNING {returned}" if returned else "")
    )
    jsonb = [t == "jsonb" for t in types]
    found: list[tuple] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            params = [
                [
                    json.dumps(row[i]) if is_json and row[i] is not None else row[i]
                    for row in batch
                ]
                for i, is_json in enumerate(jsonb)
            ]
            cursor.execute(sql, params)
            if returned:
                found.extend(cursor.fetchall())
    return found


def bulk_set(
    model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    """Set ``fields`` on rows by primary key: ``rows`` are (pk, *values).

    On PostgreSQL one ``UPDATE ... FROM unnest(...)`` per batch, where
    ``bulk_update`` would build a CASE of one branch per row per field.
    Returns the rows updated.
    """
    if not rows:
        return 0
    meta = model._meta
    model_fields = [meta.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        attnames = [str(f.attname) for f in model_fields]  # type: ignore[union-attr]
        return model._default_manager.bulk_update(
            [
                model(pk=row[0], **dict(zip(attnames, row[1:], strict=True)))
                for row in rows
            ],
            [f.name for f in model_fields],
            batch_size=1000,
        )
    quote = connection.ops.quote_name
    types = [_PG_TYPES.get(f.get_internal_type(), "text") for f in model_fields]
    arrays = ", ".join(
        f"%s::{'text' if t == 'jsonb' else t}[]" for t in ["bigint", *types]
    )
    names = [f"c{i}" for i in range(len(fields))]
    assignments = ", ".join(
        f"{quote(_column(f))} = u.{n}{'::jsonb' if t == 'jsonb' else ''}"
        for f, n, t in zip(model_fields, names, types, strict=True)
    )
    pk = quote(_column(meta.pk))
    table = quote(meta.db_table)
    sql = (
        f"UPDATE {table} SET {assignments} "  # noqa: S608
        f"FROM unnest({arrays}) AS u(pk, {', '.join(names)}) "
        f"WHERE {table}.{pk} = u.pk"
    )
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            params = [[row[0] for row in batch]] + [
                [
                    json.dumps(row[i + 1])
                    if t == "jsonb" and row[i + 1] is not None
                    else row[i + 1]
                    for row in batch
                ]
                for i, t in enumerate(types)
            ]
            cursor.execute(sql, params)
            updated += cursor.rowcount
    return updated
