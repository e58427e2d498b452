"""Fixtures: a real PostgreSQL, a migrated database for the run, a fresh tenant per test.

Tests are independent because every test works in a tenant of its own, and the service
scopes everything by tenant; tests that need a database to themselves make one.
"""
from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from app import create_app
from joins import store
from joins.auth import new_key
from joins.migrations import migrate

ROOT = Path(__file__).resolve().parent.parent

# Status counts of the property-based run (test_openapi.py), reported at the end of the session.
FUZZ_STATS = pytest.StashKey[dict]()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    stats = config.stash.get(FUZZ_STATS, None)
    if stats:
        total = sum(stats.values())
        by_status = ", ".join(f"{status}: {count}" for status, count in sorted(stats.items()))
        server_errors = sum(count for status, count in stats.items() if status >= 500)
        terminalreporter.write_line(
            f"schemathesis: {total} generated requests, {server_errors} server errors ({by_status})")

CUSTOMERS = {"id": "sch_customers", "name": "customers", "displayName": "Customers",
             "fields": ["customer_id", "email"]}
ACCOUNTS = {"id": "sch_accounts", "name": "accounts", "displayName": "Accounts",
            "fields": ["account_id", "customer_id"]}
EVENTS = {"id": "sch_events", "name": "events", "displayName": None,
          "fields": ["event_id", "account_id", "customer_id"]}


def server_url() -> str:
    """A PostgreSQL server the suite may create databases on; the private one by default."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return configured
    return subprocess.run(
        [str(ROOT / "scripts" / "embedded-pg.sh"), "start"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def create_database(server: str, name: str) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(server, dbname=name)


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_server() -> str:
    return server_url()


@pytest.fixture(scope="session")
def database_url(pg_server: str) -> Iterator[str]:
    name = f"schema_joins_test_{os.getpid()}"
    url = create_database(pg_server, name)
    migrate(url)
    yield url
    drop_database(pg_server, name)


def build_app(database_url: str, **overrides: Any):
    config = {"DATABASE_URL": database_url, "TRUSTED_PROXIES": "127.0.0.1", "KEY_CACHE_SECONDS": 10.0,
              "DB_POOL_MAX_SIZE": 8, "DB_POOL_TIMEOUT": 5.0}
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def make_app(database_url: str):
    """Build apps with other settings; their pools are closed after the test."""
    built = []

    def factory(**overrides: Any):
        application = build_app(database_url, **overrides)
        built.append(application)
        return application

    yield factory
    for application in built:
        application.extensions["schema_joins.db"].close()


@pytest.fixture(scope="session")
def app(database_url: str):
    application = build_app(database_url)
    yield application
    application.extensions["schema_joins.db"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """A direct autocommit connection, standing in for other writers (the Schemas service, a DBA)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def register_schemas(database_url: str, tenant_id: str, *schemas: dict[str, Any]) -> None:
    with psycopg.connect(database_url) as conn:
        for schema in schemas:
            store.upsert_schema(conn, tenant_id=tenant_id, schema_id=schema["id"], name=schema["name"],
                                display_name=schema["displayName"],
                                fields=[(field, "varchar") for field in schema["fields"]])


def issue_key(database_url: str, tenant_id: str, role: str, *, expires_at: datetime | None = None) -> str:
    key_id, raw, digest = new_key()
    with psycopg.connect(database_url) as conn:
        store.insert_api_key(conn, tenant_id=tenant_id, key_id=key_id, digest=digest, role=role,
                             name="test", expires_at=expires_at)
    return raw


class Tenant:
    """A fresh tenant with the customers/accounts/events schemas and a key per role."""

    def __init__(self, database_url: str, client) -> None:
        self.id = f"t_{uuid.uuid4().hex[:12]}"
        self.client = client
        register_schemas(database_url, self.id, CUSTOMERS, ACCOUNTS, EVENTS)
        self.keys = {role: issue_key(database_url, self.id, role) for role in ("viewer", "editor", "admin")}

    def call(self, method: str, *, role: str = "editor", json: Any = None, query: str = "",
             headers: dict[str, str] | None = None, **kwargs: Any):
        all_headers = {"X-API-Key": self.keys[role]}
        all_headers.update(headers or {})
        return self.client.open(f"/api/v1/schema-joins{query}", method=method, json=json,
                                headers=all_headers, **kwargs)

    def create(self, **overrides: Any) -> dict[str, Any]:
        body = valid_join(**overrides)
        response = self.call("POST", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def list(self) -> list[dict[str, Any]]:
        response = self.call("GET", role="viewer")
        assert response.status_code == 200
        return response.get_json()


def valid_join(**overrides: Any) -> dict[str, Any]:
    body = {"name": "Customer accounts", "primarySchemaId": "sch_customers", "primaryKey": "customer_id",
            "foreignSchemaId": "sch_accounts", "foreignKey": "customer_id"}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


@pytest.fixture
def tenant(database_url: str, client) -> Tenant:
    return Tenant(database_url, client)


@pytest.fixture
def other_tenant(database_url: str, client) -> Tenant:
    return Tenant(database_url, client)


def assert_error(response, status: int, code: str, message: str | None = None) -> dict[str, Any]:
    """The contract's error body, whole: JSON, code, status, message, requestId."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["status"] == status
    assert error["requestId"] and error["requestId"] == response.headers["X-Request-Id"]
    if message is not None:
        assert error["message"] == message
    return error
