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


@pytest.mark.parametrize("content", ["not json", '[{"id": "s"}]', '[{"id": "s", "name": "n", "fields": [], "x": 1}]'])
def test_schemas_load_refuses_a_bad_file(runner, tenant, tmp_path: Path, content):
    path = tmp_path / "schemas.json"
    path.write_text(content)
    result = runner.invoke(args=["schemas", "load", str(path), "--tenant", tenant.id])
    assert result.exit_code != 0


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
