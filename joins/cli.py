"""Operator commands: `flask --app app migrate | schemas load | keys create | keys revoke | demo`."""
from __future__ import annotations

import functools
import json
import shlex
from datetime import datetime, timezone
from typing import Any

import click
import psycopg
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from marshmallow import ValidationError
from psycopg_pool import PoolTimeout

from joins import sqlcli, store
from joins.auth import new_key
from joins.jsonio import JsonBodyError, loads
from joins.migrations import migrate as apply_migrations
from joins.schemas import ROLES, SCHEMA_SPECS, storable_text

DEMO_TENANT = "demo"
DEMO_KEY_NAME = "demo"
DEMO_SCHEMAS = [
    {"id": "sch_customers", "name": "customers", "displayName": "Customers",
     "fields": [{"name": "customer_id", "dataType": "varchar"}, {"name": "email", "dataType": "varchar"},
                {"name": "segment", "dataType": "varchar"}]},
    {"id": "sch_accounts", "name": "accounts", "displayName": "Accounts",
     "fields": [{"name": "account_id", "dataType": "varchar"}, {"name": "customer_id", "dataType": "varchar"},
                {"name": "balance", "dataType": "numeric"}]},
    {"id": "sch_transactions", "name": "transactions", "displayName": None,
     "fields": [{"name": "transaction_id", "dataType": "varchar"}, {"name": "account_id", "dataType": "varchar"},
                {"name": "amount", "dataType": "numeric"}]},
]


def _db():
    return current_app.extensions["schema_joins.db"]


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


def operator_command(func):
    """Report a database failure as a one-line error instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PoolTimeout:
            raise click.ClickException("the database cannot be reached (DATABASE_URL)") from None
        except psycopg.Error as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise click.ClickException(f"the database refused: {first_line}") from None

    return wrapper


def _text(value: str, param_hint: str, *, allow_empty: bool = False) -> str:
    """A command-line value the database can store (no NUL, no undecodable bytes, <= 255)."""
    if allow_empty and value == "":
        return value
    try:
        return storable_text(value)
    except ValidationError as exc:
        raise click.BadParameter(" ".join(exc.messages), param_hint=param_hint) from None


def _tenant(value: str) -> str:
    return _text(value, "--tenant")


def _read_schema_file(file) -> list[dict[str, Any]]:
    """The schemas of a `schemas load` file: strict JSON, valid shapes, no id given twice."""
    try:
        specs = SCHEMA_SPECS.load(loads(file.read().decode("utf-8")))
    except UnicodeDecodeError:
        raise click.ClickException(f"{file.name} is not UTF-8") from None
    except JsonBodyError as exc:
        raise click.ClickException(f"{file.name} is not valid JSON: {exc}") from None
    except ValidationError as exc:
        raise click.ClickException(f"{file.name}: {json.dumps(exc.normalized_messages())}") from None
    seen = set()
    for spec in specs:
        if spec["id"] in seen:
            raise click.ClickException(f"{file.name}: schema {spec['id']} is listed twice")
        seen.add(spec["id"])
        names = [field["name"] for field in spec["fieldSpecs"]]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise click.ClickException(f"{file.name}: schema {spec['id']} lists field {twice[0]} twice")
    return specs


def _load_schemas(tenant_id: str, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with _db().connection() as conn, conn.transaction():
        for spec in specs:
            store.upsert_schema(
                conn,
                tenant_id=tenant_id,
                schema_id=spec["id"],
                name=spec["name"],
                display_name=spec["displayName"],
                fields=[(field["name"], field["dataType"]) for field in spec["fieldSpecs"]],
            )
    return [
        {"tenantId": tenant_id, "id": spec["id"], "name": spec["name"], "displayName": spec["displayName"],
         "fields": [{"name": f["name"], "dataType": f["dataType"]} for f in spec["fieldSpecs"]]}
        for spec in specs
    ]


def _create_key(tenant_id: str, role: str, name: str, expires_at: datetime | None) -> dict[str, Any]:
    key_id, raw, key_digest = new_key()
    with _db().connection() as conn:
        row = store.insert_api_key(conn, tenant_id=tenant_id, key_id=key_id, digest=key_digest,
                                   role=role, name=name, expires_at=expires_at)
    return {"id": row["id"], "key": raw, "tenantId": row["tenantId"], "role": row["role"],
            "name": row["name"], "expiresAt": row["expiresAt"]}


@click.command("migrate")
@with_appcontext
@operator_command
def migrate_command() -> None:
    """Apply the migrations in sql/migrations (safe to run twice, and concurrently)."""
    applied = apply_migrations(current_app.config["DATABASE_URL"])
    click.echo(json.dumps({"applied": applied}))


schemas_group = AppGroup("schemas", help="Register data schemas and their fields.")


@schemas_group.command("load")
@click.argument("file", type=click.File("rb"))
@click.option("--tenant", required=True, help="Tenant that owns the schemas.")
@operator_command
def schemas_load(file, tenant: str) -> None:
    """Register (upsert) the schemas and fields listed in FILE (a JSON array)."""
    tenant_id = _tenant(tenant)
    _echo_json(_load_schemas(tenant_id, _read_schema_file(file)))


keys_group = AppGroup("keys", help="Create and revoke API keys.")


@keys_group.command("create")
@click.option("--tenant", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--name", default="", help="A label for the key.")
@click.option("--expires", default=None, help="ISO 8601 expiry, e.g. 2027-01-01T00:00:00Z.")
@operator_command
def keys_create(tenant: str, role: str, name: str, expires: str | None) -> None:
    """Create an API key and print it, once, as JSON."""
    expires_at = None
    if expires:
        try:
            expires_at = datetime.fromisoformat(expires.replace("Z", "+00:00"))
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=timezone.utc)
            expires_at = expires_at.astimezone(timezone.utc)
        except (ValueError, OverflowError):
            raise click.BadParameter(f"not an ISO 8601 timestamp: {expires}", param_hint="--expires") from None
        if not 1970 <= expires_at.year <= 9999:
            raise click.BadParameter("must fall between the years 1970 and 9999 (UTC)", param_hint="--expires")
    _echo_json(_create_key(_tenant(tenant), role, _text(name, "--name", allow_empty=True), expires_at))


@keys_group.command("revoke")
@click.argument("key_id")
@operator_command
def keys_revoke(key_id: str) -> None:
    """Revoke a key; workers stop accepting it within the key cache's lifetime (<= 15 s)."""
    key_id = _text(key_id, "KEY_ID")
    with _db().connection() as conn:
        row = store.revoke_api_key(conn, key_id=key_id)
    if row is None:
        raise click.ClickException(f"no API key {key_id}")
    _echo_json(row)


@click.command("demo")
@with_appcontext
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True)
@operator_command
def demo_command(base_url: str) -> None:
    """Provision the demo tenant (idempotent) and print a fresh key with curl commands."""
    _load_schemas(DEMO_TENANT, SCHEMA_SPECS.load(DEMO_SCHEMAS))
    with _db().connection() as conn:
        store.revoke_api_keys_by_name(conn, tenant_id=DEMO_TENANT, name=DEMO_KEY_NAME)
    key = _create_key(DEMO_TENANT, "admin", DEMO_KEY_NAME, None)["key"]
    url = shlex.quote(f"{base_url}/api/v1/schema-joins")
    delete_url = shlex.quote(f"{base_url}/api/v1/schema-joins?id=sj_...")
    body = json.dumps({"name": "Customer accounts", "primarySchemaId": "sch_customers",
                       "primaryKey": "customer_id", "foreignSchemaId": "sch_accounts",
                       "foreignKey": "customer_id", "joinType": "left", "autoEnrich": True})
    json_type = "-H 'Content-Type: application/json'"
    click.echo(f"""Demo tenant "{DEMO_TENANT}" is ready: schemas sch_customers, sch_accounts, sch_transactions.
API key (admin role, shown once; earlier demo keys are revoked): {key}

export KEY={shlex.quote(key)}
# list
curl -s {url} -H "X-API-Key: $KEY"
# create
curl -s -X POST {url} -H "X-API-Key: $KEY" {json_type} -d {shlex.quote(body)}
# update (paste an id from the list)
curl -s -X PUT {url} -H "X-API-Key: $KEY" {json_type} -d '{{"id": "sj_...", "status": "inactive"}}'
# delete
curl -s -X DELETE {delete_url} -H "X-API-Key: $KEY"
""")


def init_app(app: Flask) -> None:
    for command in (migrate_command, schemas_group, keys_group, demo_command):
        app.cli.add_command(command)
    app.cli.add_command(sqlcli.sql_group)
