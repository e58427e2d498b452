"""The four operations, each one transaction that validates and writes.

Connections are in autocommit mode: an operation that is one statement (list, create,
delete, an update that changes no key pair) is its own transaction, one round trip; an
update that changes a key pair locks the join, validates and writes in an explicit one.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg

from joins import store
from joins.errors import ApiError

SIDES = (("primarySchemaId", "primaryKey"), ("foreignSchemaId", "foreignKey"))
# The foreign keys that hold each side to a registered field (sql/migrations/0001_initial.sql).
SIDE_CONSTRAINTS = frozenset({"schema_joins_primary_field_fkey", "schema_joins_foreign_field_fkey"})
INERROR = psycopg.pq.TransactionStatus.INERROR
# API field -> query parameter, for every field a client may set.
_PARAMS = {
    "name": "name", "primarySchemaId": "primary_schema_id", "primaryKey": "primary_key",
    "foreignSchemaId": "foreign_schema_id", "foreignKey": "foreign_key",
    "joinType": "join_type", "autoEnrich": "auto_enrich", "status": "status",
}


def _snake(changes: dict[str, Any]) -> dict[str, Any]:
    return {_PARAMS[key]: value for key, value in changes.items()}


def _raise_for_sides(conn: psycopg.Connection, tenant_id: str, spec: dict[str, Any], sides: tuple[int, ...]) -> None:
    """Check both sides of `spec` (API field names) and raise the first failing one of `sides`
    as a precise 400: primary first, schema before field."""
    checks = store.check_sides(conn, tenant_id=tenant_id, **_snake({key: spec[key] for pair in SIDES for key in pair}))
    for index in sides:
        schema_field, key_field = SIDES[index]
        check = checks[index]
        if check["schemaName"] is None:
            raise ApiError(400, f"Schema {spec[schema_field]} not found")
        if not check["fieldFound"]:
            raise ApiError(400, f'Field "{spec[key_field]}" not found in schema "{check["schemaName"]}"')


def list_joins(conn: psycopg.Connection, *, tenant_id: str) -> Iterator[list[dict[str, Any]]]:
    """The tenant's joins in batches (store.list_joins): encode each as it comes."""
    return store.list_joins(conn, tenant_id=tenant_id)


def create_join(conn: psycopg.Connection, *, tenant_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Store the join in one statement; its foreign keys validate both sides.

    Only when they refuse it does a second statement find which side failed and why, so a
    valid create costs one round trip and an invalid one two.
    """
    try:
        return store.create_join(conn, tenant_id=tenant_id, join_id="sj_" + uuid.uuid4().hex, **_snake(spec))
    except psycopg.errors.ForeignKeyViolation as exc:
        if exc.diag.constraint_name not in SIDE_CONSTRAINTS or conn.info.transaction_status == INERROR:
            # Not a side's constraint, or a caller's own transaction that can run nothing more:
            # the error mapping's message for the constraint.
            raise
        _raise_for_sides(conn, tenant_id, spec, (0, 1))
        raise  # both sides hold again (re-registered meanwhile): the constraint's message


def update_join(conn: psycopg.Connection, *, tenant_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    join_id = changes.pop("id")
    touches_sides = any(key in changes for pair in SIDES for key in pair)
    if changes and not touches_sides:
        # Nothing to validate against the database: one statement.
        return _updated(store.update_join(conn, tenant_id=tenant_id, join_id=join_id, **_snake(changes)), join_id)
    with conn.transaction():
        stored = store.lock_join(conn, tenant_id=tenant_id, join_id=join_id)
        if stored is None:
            raise ApiError(404, f"Schema join {join_id} not found")
        if not changes:
            raise ApiError(400, "No fields to update")
        merged = {key: changes.get(key, stored[key]) for pair in SIDES for key in pair}
        changed = tuple(index for index, pair in enumerate(SIDES) if any(merged[key] != stored[key] for key in pair))
        if changed:
            _raise_for_sides(conn, tenant_id, merged, changed)
        return _updated(store.update_join(conn, tenant_id=tenant_id, join_id=join_id, **_snake(changes)), join_id)


def _updated(row: dict[str, Any] | None, join_id: str) -> dict[str, Any]:
    if row is None:
        raise ApiError(404, f"Schema join {join_id} not found")
    return row


def delete_join(conn: psycopg.Connection, *, tenant_id: str, join_id: str) -> dict[str, Any]:
    row = store.delete_join(conn, tenant_id=tenant_id, join_id=join_id)
    if row is None:
        raise ApiError(404, f"Schema join {join_id} not found")
    return row
