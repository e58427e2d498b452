"""Floor endpoints for bench/: what the service is measured against, served by the same app.

Registered only when BENCH_FLOOR_ENDPOINTS=1 (app.py). Both routes skip authentication on
purpose: they are the cost of the stack itself, under the same gunicorn settings.

- GET /bench/json     floor (b): constant JSON, no database.
- GET /bench/select1  floor (c): `SELECT 1` through the service's own pool, one transaction.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app

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
