"""The four operations, each one transaction: validation, then the write."""
from __future__ import annotations

import uuid
from typing import Any

import psycopg

from joins import store
from joins.errors import ApiError

SIDES = (("primarySchemaId", "primaryKey"), ("foreignSchemaId", "foreignKey"))
UPDATABLE = ("name", "primarySchemaId", "primaryKey", "foreignSchemaId", "foreignKey",
             "joinType", "autoEnrich", "status")


def _snake(changes: dict[str, Any]) -> dict[str, Any]:
    names = {
        "name": "name", "primarySchemaId": "primary_schema_id", "primaryKey": "primary_key",
        "foreignSchemaId": "foreign_schema_id", "foreignKey": "foreign_key",
        "joinType": "join_type", "autoEnrich": "auto_enrich", "status": "status",
    }
    return {names[key]: value for key, value in changes.items() if key in names}


def _validate_sides(conn: psycopg.Connection, tenant_id: str, spec: dict[str, str], sides: tuple[int, ...]) -> None:
    """Raise the first failing side's precise 400, primary first, schema before field."""
    checks = store.check_sides(
        conn,
        tenant_id=tenant_id,
        primary_schema_id=spec["primarySchemaId"],
        primary_key=spec["primaryKey"],
        foreign_schema_id=spec["foreignSchemaId"],
        foreign_key=spec["foreignKey"],
    )
    for index in sides:
        schema_field, key_field = SIDES[index]
        check = checks[index]
        if check["schemaName"] is None:
            raise ApiError(400, f"Schema {spec[schema_field]} not found")
        if not check["fieldFound"]:
            raise ApiError(400, f'Field "{spec[key_field]}" not found in schema "{check["schemaName"]}"')


def list_joins(conn: psycopg.Connection, *, tenant_id: str) -> list[dict[str, Any]]:
    return store.list_joins(conn, tenant_id=tenant_id)


def create_join(conn: psycopg.Connection, *, tenant_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    _validate_sides(conn, tenant_id, spec, (0, 1))
    return store.insert_join(conn, tenant_id=tenant_id, join_id="sj_" + uuid.uuid4().hex, **_snake(spec))


def update_join(conn: psycopg.Connection, *, tenant_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    join_id = changes.pop("id")
    touches_sides = any(key in changes for pair in SIDES for key in pair)
    if touches_sides or not changes:
        stored = store.lock_join(conn, tenant_id=tenant_id, join_id=join_id)
        if stored is None:
            raise ApiError(404, f"Schema join {join_id} not found")
        if touches_sides:
            merged = {key: changes.get(key, stored[key]) for pair in SIDES for key in pair}
            changed = tuple(
                index for index, pair in enumerate(SIDES)
                if any(merged[key] != stored[key] for key in pair)
            )
            if changed:
                _validate_sides(conn, tenant_id, merged, changed)
    if not changes:
        raise ApiError(400, "No fields to update")
    row = store.update_join(conn, tenant_id=tenant_id, join_id=join_id, **_snake(changes))
    if row is None:
        raise ApiError(404, f"Schema join {join_id} not found")
    return row


def delete_join(conn: psycopg.Connection, *, tenant_id: str, join_id: str) -> dict[str, Any]:
    row = store.delete_join(conn, tenant_id=tenant_id, join_id=join_id)
    if row is None:
        raise ApiError(404, f"Schema join {join_id} not found")
    return row
