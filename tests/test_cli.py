"""Operator commands through the Flask CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, assert_error, create_database, drop_database

ENDPOINT = "/api/v1/schema-joins"


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _json(result) -> dict | list:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_keys_create_prints_a_working_key_once(runner, client, tenant):
    created = _json(runner.invoke(args=["keys", "create", "--tenant", tenant.id, "--role", "editor",
                                        "--name", "ci"]))
    assert set(created) == {"id", "key", "tenantId", "role", "name", "expiresAt"}
    assert created["key"].startswith("krn_")
    assert (created["tenantId"], created["role"], created["name"], created["expiresAt"]) == (
        tenant.id, "editor", "ci", None)
    assert client.get(ENDPOINT, headers={"X-API-Key": created["key"]}).status_code == 200


def test_keys_create_with_expiry_and_bad_input(runner, client, tenant):
    created = _json(runner.invoke(args=["keys", "create", "--tenant", tenant.id, "--role", "viewer",
                                        "--expires", "2000-01-01T00:00:00Z"]))
    assert created["expiresAt"] == "2000-01-01T00:00:00.000Z"
    assert_error(client.get(ENDPOINT, headers={"X-API-Key": created["key"]}), 401, "UNAUTHORIZED", "API key expired")
    assert runner.invoke(args=["keys", "create", "--tenant", tenant.id, "--role", "owner"]).exit_code != 0
    assert runner.invoke(args=["keys", "create", "--tenant", tenant.id, "--role", "viewer",
                               "--expires", "next tuesday"]).exit_code != 0


def test_keys_revoke_of_an_unknown_key_fails(runner):
    result = runner.invoke(args=["keys", "revoke", "key_nope"])
    assert result.exit_code != 0
    assert "key_nope" in result.output


def test_schemas_load_upserts_schemas_and_fields(runner, tenant, tmp_path: Path):
    spec = [{"id": "sch_orders", "name": "orders", "displayName": "Orders",
             "fields": [{"name": "order_id", "dataType": "varchar"}, {"name": "customer_id"}]}]
    path = tmp_path / "schemas.json"
    path.write_text(json.dumps(spec))
    stored = _json(runner.invoke(args=["schemas", "load", str(path), "--tenant", tenant.id]))
    assert stored[0]["id"] == "sch_orders" and stored[0]["tenantId"] == tenant.id
    join = tenant.create(foreignSchemaId="sch_orders")
    assert join["foreignSchemaName"] == "Orders"
    spec[0]["displayName"] = "Purchase orders"
    path.write_text(json.dumps(spec))
    _json(runner.invoke(args=["schemas", "load", str(path), "--tenant", tenant.id]))
    assert tenant.list()[0]["foreignSchemaName"] == "Purchase orders"


BAD_SCHEMA_FILES = {
    "not json": b"not json",
    "missing fields": b'[{"id": "s"}]',
    "unknown field": b'[{"id": "s", "name": "n", "fields": [], "x": 1}]',
    "not utf-8": b"\xff\xfe[]",
    "deep nesting": b"[" * 100_000,
    "number thousands of digits long": b"[1" + b"0" * 5000 + b"]",
    "duplicate keys": b'[{"id": "s", "id": "t", "name": "n", "fields": []}]',
    "schema listed twice": b'[{"id": "s", "name": "n", "fields": []}, {"id": "s", "name": "m", "fields": []}]',
    "field listed twice": b'[{"id": "s", "name": "n", "fields": [{"name": "f"}, {"name": "f"}]}]',
    "NUL in an id": b'[{"id": "s\\u0000", "name": "n", "fields": []}]',
}


@pytest.mark.parametrize("kind", list(BAD_SCHEMA_FILES))
def test_schemas_load_refuses_a_bad_file_with_a_message(runner, tenant, tmp_path: Path, kind):
    path = tmp_path / "schemas.json"
    path.write_bytes(BAD_SCHEMA_FILES[kind])
    result = runner.invoke(args=["schemas", "load", str(path), "--tenant", tenant.id])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: "), result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert tenant.list() == [] and "Traceback" not in result.output


def test_schemas_too_large_for_the_database_are_refused_with_a_message(runner, tmp_path: Path):
    # Varied characters: a repeated one would be compressed and fit.
    wide = "".join(chr(0x20000 + (i * 37) % 5000) for i in range(255))
    path = tmp_path / "schemas.json"
    path.write_text(json.dumps([{"id": wide, "name": "n", "fields": [{"name": wide}]}]))
    result = runner.invoke(args=["schemas", "load", str(path), "--tenant", wide])
    assert result.exit_code == 1
    assert result.output.startswith("Error: the database refused"), result.output


@pytest.mark.parametrize("args", [
    ["keys", "create", "--tenant", "t", "--role", "viewer", "--name", "bad\udcff"],
    ["keys", "create", "--tenant", "t\udcff", "--role", "viewer"],
    ["keys", "create", "--tenant", "t", "--role", "viewer", "--expires", "9999-12-31T23:59:59-01:00"],
    ["keys", "create", "--tenant", "t", "--role", "viewer", "--expires", "0001-01-01T00:00:00+01:00"],
    ["keys", "revoke", "key_\udcff"],
], ids=["name not utf-8", "tenant not utf-8", "expiry after 9999", "expiry before 1970", "key id not utf-8"])
def test_key_commands_refuse_values_they_cannot_store(runner, args):
    result = runner.invoke(args=args)
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.output


def test_demo_is_idempotent_and_each_run_replaces_the_demo_key(runner, client):
    first = runner.invoke(args=["demo"])
    second = runner.invoke(args=["demo"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    keys = [line.split("=", 1)[1] for result in (first, second)
            for line in result.output.splitlines() if line.startswith("export KEY=")]
    assert len(keys) == 2 and keys[0] != keys[1]
    assert client.get(ENDPOINT, headers={"X-API-Key": keys[1]}).status_code == 200
    assert "curl" in second.output and "-X DELETE" in second.output


def test_migrate_applies_everything_once_on_a_fresh_database(pg_server):
    """`flask --app app migrate`, as an operator runs it, twice."""
    url = create_database(pg_server, f"schema_joins_cli_{os.getpid()}")
    try:
        env = {**os.environ, "DATABASE_URL": url}
        runs = [subprocess.run([sys.executable, "-m", "flask", "--app", "app", "migrate"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=60) for _ in range(2)]
        assert [run.returncode for run in runs] == [0, 0], [run.stderr for run in runs]
        assert json.loads(runs[0].stdout)["applied"] == sorted(path.stem for path in (ROOT / "sql" / "migrations").glob(
            "*.sql") if not path.stem.endswith(".rollback"))
        assert json.loads(runs[1].stdout) == {"applied": []}
    finally:
        drop_database(pg_server, f"schema_joins_cli_{os.getpid()}")


@pytest.mark.parametrize("database_url,message", [
    (None, "DATABASE_URL is not set"),
    ("garbage", "DATABASE_URL is not a valid PostgreSQL connection string"),
    ("postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=1", "Error: the database"),
])
def test_commands_report_a_bad_database_setting_without_a_traceback(database_url, message):
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    if database_url:
        env["DATABASE_URL"] = database_url
    run = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "keys", "revoke", "key_x"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert message in run.stderr
    assert "Traceback" not in run.stderr
