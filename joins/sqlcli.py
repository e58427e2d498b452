"""`flask --app app sql explain NAME [--tenant T]`: a query file's plan, with realistic values.

The values are read from the database for the tenant (its newest join, one of its schemas,
fields and keys), so the plan is the one the service gets for that tenant. Statements that
write run inside a transaction that is rolled back, so EXPLAIN ANALYZE changes nothing.
"""
from __future__ import annotations

import re
import secrets
from typing import Any

import click
import psycopg
from flask import current_app
from flask.cli import AppGroup
from psycopg import sql

from joins.auth import new_key
from joins.queries import QUERIES, Query

# Values that are choices rather than data: the same for every tenant.
_CONSTANTS: dict[str, Any] = {
    "join_type": "inner",
    "auto_enrich": True,
    "status": "inactive",
    "role": "viewer",
    "expires_at": None,
    "data_type": "varchar",
}

# Parameters whose realistic value may be NULL.
_NULLABLE = frozenset({"expires_at", "display_name"})

_WRITE = re.compile(r"\b(INSERT\s+INTO|UPDATE\s+\w+(\s+AS\s+\w+)?\s+SET|DELETE\s+FROM|MERGE\s+INTO)\b", re.I)


class NoRealisticValue(click.ClickException):
    """The database holds nothing to take a parameter's value from."""


def busiest_tenant(conn: psycopg.Connection) -> str:
    """The tenant with the most joins (the list's worst case), else any tenant with schemas."""
    row = conn.execute(
        "SELECT tenant_id FROM schema_joins GROUP BY tenant_id ORDER BY count(*) DESC, tenant_id LIMIT 1"
    ).fetchone()
    if row is None:
        row = conn.execute("SELECT tenant_id FROM data_schemas ORDER BY tenant_id LIMIT 1").fetchone()
    if row is None:
        raise NoRealisticValue("the database holds no joins and no schemas: load some data first")
    return row[0]


def _first(conn: psycopg.Connection, query: str, tenant_id: str) -> dict[str, Any] | None:
    cursor = conn.execute(query, {"tenant_id": tenant_id})
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip((column.name for column in cursor.description), row))


def tenant_values(conn: psycopg.Connection, tenant_id: str) -> dict[str, Any]:
    """Values of the tenant's own rows, by parameter name (the join's, when names overlap)."""
    join = _first(conn, """
        SELECT id, name, primary_schema_id, primary_key, foreign_schema_id, foreign_key
          FROM schema_joins WHERE tenant_id = %(tenant_id)s
         ORDER BY created_at DESC, id DESC LIMIT 1""", tenant_id)
    schema = _first(conn, """
        SELECT id, name, display_name FROM data_schemas WHERE tenant_id = %(tenant_id)s
         ORDER BY id LIMIT 1""", tenant_id)
    fields = conn.execute("""
        SELECT schema_id, name FROM schema_fields WHERE tenant_id = %(tenant_id)s
         ORDER BY schema_id, name LIMIT 2""", {"tenant_id": tenant_id}).fetchall()
    key = _first(conn, """
        SELECT id, digest, name FROM api_keys WHERE tenant_id = %(tenant_id)s
         ORDER BY created_at DESC, id LIMIT 1""", tenant_id)
    if schema is None:
        raise NoRealisticValue(f"tenant {tenant_id} has no schemas")
    values: dict[str, Any] = dict(_CONSTANTS, tenant_id=tenant_id)
    values.update(schema_id=schema["id"], schema_name=schema["name"], display_name=schema["display_name"])
    if fields:
        values.update(field_schema_id=fields[0][0], field_name=fields[0][1])
        primary, foreign = fields[0], fields[-1]
        values.update(primary_schema_id=primary[0], primary_key=primary[1],
                      foreign_schema_id=foreign[0], foreign_key=foreign[1])
    if join is not None:
        values.update(join_id=join["id"], name=join["name"],
                      primary_schema_id=join["primary_schema_id"], primary_key=join["primary_key"],
                      foreign_schema_id=join["foreign_schema_id"], foreign_key=join["foreign_key"])
    if key is not None:
        values.update(key_id=key["id"], digest=key["digest"], key_name=key["name"])
    return values


def realistic_params(conn: psycopg.Connection, query: Query, tenant_id: str) -> dict[str, Any]:
    """The parameters of `query`, each taken from the tenant's rows (or fresh, for inserts)."""
    values = tenant_values(conn, tenant_id)
    new_key_id, _, new_digest = new_key()
    # A parameter name means different things in different files; these say which.
    by_query: dict[str, dict[str, Any]] = {
        "create_schema_join": {"join_id": "sj_" + secrets.token_hex(16), "name": values.get("name", "explain")},
        "insert_api_key": {"key_id": new_key_id, "digest": new_digest, "name": "explain"},
        "revoke_api_keys_by_name": {"name": values.get("key_name")},
        "upsert_data_schema": {"name": values["schema_name"]},
        "upsert_schema_field": {"schema_id": values.get("field_schema_id"), "name": values.get("field_name")},
    }
    chosen = dict(values, **by_query.get(query.name, {}))
    params: dict[str, Any] = {}
    for name in query.params:
        if chosen.get(name) is None and name not in _NULLABLE:
            raise NoRealisticValue(
                f"{query.name}: no value for parameter {name!r} in tenant {tenant_id}'s rows "
                "(it needs a join, schema, field or key of that tenant)"
            )
        params[name] = chosen[name]
    return params


def writes(query: Query) -> bool:
    """Whether the statement changes rows (EXPLAIN ANALYZE then changes them, until rolled back)."""
    body = "\n".join(line for line in query.sql.splitlines() if not line.lstrip().startswith("--"))
    return _WRITE.search(body) is not None


def explain(
    conn: psycopg.Connection, query: Query, params: dict[str, Any], *, analyze: bool = True, as_json: bool = False
) -> Any:
    """EXPLAIN the query file with `params`; writes are rolled back. Text lines, or the JSON plan."""
    options = ["ANALYZE", "BUFFERS"] if analyze else []
    options.append("FORMAT JSON" if as_json else "FORMAT TEXT")
    statement = sql.SQL("EXPLAIN ({}) ").format(sql.SQL(", ".join(options))) + sql.SQL(query.sql)
    with conn.transaction(force_rollback=True):
        rows = conn.execute(statement, params).fetchall()
    if as_json:
        return rows[0][0][0]
    return [row[0] for row in rows]


def _shown(name: str, value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return repr(value)


# AppGroup: its commands run inside the app context, under `flask` and the test runner alike.
sql_group = AppGroup("sql", help="Inspect the query files in sql/queries.")


@sql_group.command("explain")
@click.argument("name", type=click.Choice(sorted(QUERIES)))
@click.option("--tenant", default=None, help="Tenant whose rows supply the values (default: the one with most joins).")
@click.option("--analyze/--no-analyze", default=True, show_default=True,
              help="Run the statement (writes are rolled back) or only plan it.")
def explain_command(name: str, tenant: str | None, analyze: bool) -> None:
    """Print EXPLAIN (ANALYZE, BUFFERS) of query file NAME with values from the database."""
    query = QUERIES[name]
    with current_app.extensions["schema_joins.db"].connection() as conn:
        tenant_id = tenant or busiest_tenant(conn)
        params = realistic_params(conn, query, tenant_id)
        lines = explain(conn, query, params, analyze=analyze)
    click.echo(f"-- {name}: {query.doc}")
    click.echo(f"-- uses: {', '.join(query.uses)}")
    for param, value in params.items():
        click.echo(f"-- {param} = {_shown(param, value)}")
    if writes(query):
        click.echo("-- (this statement writes: it ran inside a transaction that was rolled back)")
    click.echo("\n".join(lines))
