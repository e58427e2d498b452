"""One function per query file: connection first, the tenant a required keyword.

Functions return plain dicts (API field names for joins) and never commit: each statement
is its own transaction on the pool's autocommit connections, unless the caller groups
several in `conn.transaction()`.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg

from joins.queries import QUERIES

log = logging.getLogger("joins.sql")


@functools.cache
def _camel(name: str) -> str:
    # Cached: called for each column of every result, always with the same few names.
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _execute(conn: psycopg.Connection, name: str, params: dict[str, Any]) -> psycopg.Cursor:
    """Run a named query file; log its name and duration, never its values."""
    query = QUERIES[name]
    started = time.perf_counter()
    cursor = conn.execute(query.sql, params)
    log.debug("query=%s ms=%.2f", name, (time.perf_counter() - started) * 1000)
    return cursor


def _rows(cursor: psycopg.Cursor) -> list[dict[str, Any]]:
    keys = [_camel(column.name) for column in cursor.description]
    return [dict(zip(keys, row)) for row in cursor.fetchall()]


def _first(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return rows[0] if rows else None


# -- joins ----------------------------------------------------------------------------------

# What list, update and delete select, in this order: a join in the API's shape.
JOIN_COLUMNS = ("id", "tenant_id", "name", "primary_schema_id", "primary_key", "foreign_schema_id",
                "foreign_key", "join_type", "auto_enrich", "status", "created_at", "updated_at",
                "primary_schema_name", "foreign_schema_name")


# Query files whose columns were found to be JOIN_COLUMNS. Checked on a query's first use
# in the process, not on every call: reading a result's description builds a column object
# per column, which cost a tenth of a create's Python time.
_SHAPE_CHECKED: set[str] = set()


def _execute_joins(conn: psycopg.Connection, name: str, params: dict[str, Any]) -> psycopg.Cursor:
    """Run a query file that selects joins in the API's shape (JOIN_COLUMNS)."""
    cursor = _execute(conn, name, params)
    if name not in _SHAPE_CHECKED:
        names = tuple(column.name for column in cursor.description or ())
        if names != JOIN_COLUMNS:
            raise RuntimeError(f"{name} selected {names}, expected {JOIN_COLUMNS}")
        _SHAPE_CHECKED.add(name)
    return cursor


def _join_objects(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Rows of JOIN_COLUMNS as API objects.

    Spelled out instead of zipping column names: a 5,000-join list builds its dicts in less
    than half the time, which is a tenth of what the list costs in Python.
    """
    return [
        {
            "id": join_id,
            "tenantId": tenant_id,
            "name": name,
            "primarySchemaId": primary_schema_id,
            "primaryKey": primary_key,
            "foreignSchemaId": foreign_schema_id,
            "foreignKey": foreign_key,
            "joinType": join_type,
            "autoEnrich": auto_enrich,
            "status": status,
            "createdAt": created_at,
            "updatedAt": updated_at,
            "primarySchemaName": primary_schema_name,
            "foreignSchemaName": foreign_schema_name,
        }
        for (join_id, tenant_id, name, primary_schema_id, primary_key, foreign_schema_id, foreign_key,
             join_type, auto_enrich, status, created_at, updated_at, primary_schema_name,
             foreign_schema_name) in rows
    ]


def _joins(conn: psycopg.Connection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return _join_objects(_execute_joins(conn, name, params).fetchall())


# Joins turned into objects at a time while a list is encoded (see list_joins).
LIST_BATCH = 500


def list_joins(conn: psycopg.Connection, *, tenant_id: str) -> Iterator[list[dict[str, Any]]]:
    """A tenant's joins, newest first, in batches of at most LIST_BATCH objects.

    The result arrives whole in one round trip; only its conversion is batched, so a large
    tenant's list never has all its objects alive at once (each batch can be encoded and
    dropped before the next). The result itself is freed before the last batch is given out.
    """
    cursor = _execute_joins(conn, "list_schema_joins", {"tenant_id": tenant_id})
    with cursor:
        batch = cursor.fetchmany(LIST_BATCH)
        while batch:
            following = cursor.fetchmany(LIST_BATCH)
            if not following:
                cursor.close()
            yield _join_objects(batch)
            batch = following


def check_sides(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    primary_schema_id: str,
    primary_key: str,
    foreign_schema_id: str,
    foreign_key: str,
) -> list[dict[str, Any]]:
    """[primary, foreign]: each {"side", "schemaName" (None: no such schema), "fieldFound"}."""
    return _rows(_execute(conn, "check_join_sides", {
        "tenant_id": tenant_id,
        "primary_schema_id": primary_schema_id,
        "primary_key": primary_key,
        "foreign_schema_id": foreign_schema_id,
        "foreign_key": foreign_key,
    }))


_JOIN_FIELDS = ("name", "primary_schema_id", "primary_key", "foreign_schema_id", "foreign_key",
                "join_type", "auto_enrich", "status")


def create_join(conn: psycopg.Connection, *, tenant_id: str, join_id: str, **fields: Any) -> dict[str, Any]:
    """Store the join; psycopg.errors.ForeignKeyViolation when a side is not a registered field."""
    params = {"tenant_id": tenant_id, "join_id": join_id}
    params.update({key: fields[key] for key in _JOIN_FIELDS})
    join = _first(_joins(conn, "create_schema_join", params))
    assert join is not None, "an INSERT without a WHERE stores its row or fails"
    return join


def lock_join(conn: psycopg.Connection, *, tenant_id: str, join_id: str) -> dict[str, Any] | None:
    return _first(_rows(_execute(conn, "lock_schema_join", {"tenant_id": tenant_id, "join_id": join_id})))


def update_join(conn: psycopg.Connection, *, tenant_id: str, join_id: str, **changes: Any) -> dict[str, Any] | None:
    """Apply the given fields; the others keep their stored value. None: no such join."""
    params = {"tenant_id": tenant_id, "join_id": join_id}
    params.update({key: changes.get(key) for key in _JOIN_FIELDS})
    return _first(_joins(conn, "update_schema_join", params))


def delete_join(conn: psycopg.Connection, *, tenant_id: str, join_id: str) -> dict[str, Any] | None:
    return _first(_joins(conn, "delete_schema_join", {"tenant_id": tenant_id, "join_id": join_id}))


# -- API keys -------------------------------------------------------------------------------

def find_api_key(conn: psycopg.Connection, *, digest: bytes) -> dict[str, Any] | None:
    return _first(_rows(_execute(conn, "find_api_key", {"digest": digest})))


def insert_api_key(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    key_id: str,
    digest: bytes,
    role: str,
    name: str,
    expires_at: datetime | None,
) -> dict[str, Any]:
    row = _first(_rows(_execute(conn, "insert_api_key", {
        "tenant_id": tenant_id, "key_id": key_id, "digest": digest,
        "role": role, "name": name, "expires_at": expires_at,
    })))
    assert row is not None
    return row


def revoke_api_key(conn: psycopg.Connection, *, key_id: str) -> dict[str, Any] | None:
    return _first(_rows(_execute(conn, "revoke_api_key", {"key_id": key_id})))


def revoke_api_keys_by_name(conn: psycopg.Connection, *, tenant_id: str, name: str) -> int:
    return _execute(conn, "revoke_api_keys_by_name", {"tenant_id": tenant_id, "name": name}).rowcount


# -- schemas (standalone registration) -------------------------------------------------------

def upsert_schema(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    schema_id: str,
    name: str,
    display_name: str | None,
    fields: list[tuple[str, str | None]],
) -> None:
    """Register a schema and its fields (existing fields not listed are kept)."""
    _execute(conn, "upsert_data_schema", {
        "tenant_id": tenant_id, "schema_id": schema_id, "name": name, "display_name": display_name,
    })
    with conn.cursor() as cursor:
        cursor.executemany(QUERIES["upsert_schema_field"].sql, [
            {"tenant_id": tenant_id, "schema_id": schema_id, "name": field_name, "data_type": data_type}
            for field_name, data_type in fields
        ])
