"""Floor endpoints for bench/: what the service is measured against, served by the same app.

Registered only when BENCH_FLOOR_ENDPOINTS=1 (app.py). Both routes skip authentication on
purpose: they are the cost of the stack itself, under the same gunicorn settings.

- GET /bench/json     floor (b): constant JSON, no database.
- GET /bench/select1  floor (c): `SELECT 1` through the service's own pool, one transaction.
- POST /bench/insert?tenant=T  a reference, not a floor: the create's row stored by a bare
  INSERT (no credentials, no marshmallow, no validation query; only the table's own foreign
  keys check the fields), to show what a create costs at the least on the same table.
"""
from __future__ import annotations

import uuid

from flask import Blueprint, Response, current_app, request

from joins.jsonio import dumps

bp = Blueprint("bench_floor", __name__)

_CONSTANT = dumps({"ok": True})


@bp.get("/bench/json")
def constant_json() -> Response:
    """Floor (b): the HTTP server, Flask and a JSON body, nothing else."""
    return Response(_CONSTANT, mimetype="application/json")


@bp.get("/bench/select1")
def select_one() -> Response:
    """Floor (c): floor (b) plus one pooled connection checkout and a trivial query."""
    with current_app.extensions["schema_joins.db"].connection() as conn:
        value = conn.execute("SELECT 1").fetchone()[0]
    return Response(dumps({"ok": value == 1}), mimetype="application/json")


_BARE_INSERT = """
INSERT INTO schema_joins (tenant_id, id, name, primary_schema_id, primary_key,
                          foreign_schema_id, foreign_key, auto_enrich)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
RETURNING id, tenant_id, name, primary_schema_id, primary_key, foreign_schema_id, foreign_key,
          join_type, auto_enrich, status, api_timestamp(created_at), api_timestamp(updated_at)
"""
_BARE_FIELDS = ("id", "tenantId", "name", "primarySchemaId", "primaryKey", "foreignSchemaId", "foreignKey",
                "joinType", "autoEnrich", "status", "createdAt", "updatedAt")


@bp.post("/bench/insert")
def bare_insert() -> Response:
    """Reference for create: the same row, one INSERT, one round trip, and nothing else."""
    body = request.get_json()
    params = (request.args["tenant"], "sj_ref_" + uuid.uuid4().hex, body["name"], body["primarySchemaId"],
              body["primaryKey"], body["foreignSchemaId"], body["foreignKey"], body["autoEnrich"])
    with current_app.extensions["schema_joins.db"].connection() as conn:
        row = conn.execute(_BARE_INSERT, params).fetchone()
    return Response(dumps(dict(zip(_BARE_FIELDS, row))), status=201, mimetype="application/json")
