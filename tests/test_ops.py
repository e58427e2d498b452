"""Health, readiness, metrics and the request log, through the WSGI app."""
from __future__ import annotations

import json
import logging
import socket
import time

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, assert_error, create_database, drop_database, valid_join
from joins.migrations import migrate

ENDPOINT = "/api/v1/schema-joins"


def closed_port_url() -> str:
    """A PostgreSQL URL on a loopback port nothing listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/nothing"


def samples(client, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """{sorted labels: value} of one sample name in /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def access_lines(caplog) -> list[dict]:
    return [json.loads(record.getMessage()) for record in caplog.records if record.name == "joins.access"]


# -- /healthz ---------------------------------------------------------------------------------

def test_healthz_answers_200_json_without_credentials(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-Id"]


def test_healthz_answers_while_the_database_is_unreachable(make_app):
    app = make_app(DATABASE_URL=closed_port_url())
    started = time.monotonic()
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_ops_endpoints_refuse_writes_with_json_405(client, path):
    response = client.post(path)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["Allow"]


# -- /readyz ----------------------------------------------------------------------------------

def test_readyz_answers_200_when_the_database_answers_and_every_migration_is_applied(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


def test_readyz_answers_503_with_retry_after_when_the_database_is_unreachable(make_app):
    url = closed_port_url()
    app = make_app(DATABASE_URL=url, DB_POOL_TIMEOUT=1.0)
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    assert time.monotonic() - started < 3.0
    error = assert_error(response, 503, "SERVICE_UNAVAILABLE", "Not ready: the database does not answer")
    assert error["details"] == {"database": ["the database does not answer"]}
    assert response.headers["Retry-After"].isdigit()
    body = response.get_data(as_text=True)
    assert url.rsplit(":", 1)[1].split("/")[0] not in body  # never the port, host or database
    assert "nothing" not in body and "postgres" not in body


@pytest.fixture
def fresh_database(pg_server):
    name = f"schema_joins_ops_{time.monotonic_ns()}"
    url = create_database(pg_server, name)
    yield url
    drop_database(pg_server, name)


def test_readyz_answers_503_before_the_migrations_are_applied(make_app, fresh_database):
    client = make_app(DATABASE_URL=fresh_database, READYZ_CACHE_SECONDS=0).test_client()
    response = client.get("/readyz")
    error = assert_error(response, 503, "SERVICE_UNAVAILABLE")
    files = [path for path in (ROOT / "sql" / "migrations").glob("*.sql") if not path.stem.endswith(".rollback")]
    assert error["details"] == {"migrations": [f"{len(files)} migration(s) not applied"]}
    assert response.headers["Retry-After"].isdigit()

    migrate(fresh_database)
    assert client.get("/readyz").status_code == 200


def test_readyz_notices_a_migration_missing_from_yoyos_table(make_app, fresh_database):
    migrate(fresh_database)
    client = make_app(DATABASE_URL=fresh_database, READYZ_CACHE_SECONDS=0).test_client()
    assert client.get("/readyz").status_code == 200
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("DELETE FROM _yoyo_migration")
    assert_error(client.get("/readyz"), 503, "SERVICE_UNAVAILABLE")


def test_readyz_reuses_its_answer_for_the_cache_period(make_app, fresh_database):
    migrate(fresh_database)
    client = make_app(DATABASE_URL=fresh_database, READYZ_CACHE_SECONDS=60).test_client()
    assert client.get("/readyz").status_code == 200
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("DELETE FROM _yoyo_migration")
    assert client.get("/readyz").status_code == 200


# -- /metrics ---------------------------------------------------------------------------------

def test_metrics_count_requests_by_method_route_and_status(tenant):
    client = tenant.client
    route = (("method", "GET"), ("route", ENDPOINT), ("status", "200"))
    refused = (("method", "GET"), ("route", ENDPOINT), ("status", "401"))
    before = samples(client, "schema_joins_http_requests_total")
    for _ in range(3):
        assert tenant.call("GET", role="viewer").status_code == 200
    assert client.get(ENDPOINT).status_code == 401
    after = samples(client, "schema_joins_http_requests_total")
    assert after[route] - before.get(route, 0) == 3
    assert after[refused] - before.get(refused, 0) == 1


def test_metrics_label_unknown_paths_and_methods_from_a_closed_set(client):
    client.get("/no/such/path/9f1c")
    client.open("/healthz", method="BREW")
    labels = samples(client, "schema_joins_http_requests_total")
    assert (("method", "GET"), ("route", "unmatched"), ("status", "404")) in labels
    assert (("method", "OTHER"), ("route", "unmatched"), ("status", "405")) in labels
    assert not any("9f1c" in value for key in labels for _, value in key)


def test_metrics_have_a_latency_histogram(tenant):
    client = tenant.client
    key = (("method", "POST"), ("route", ENDPOINT))
    before = samples(client, "schema_joins_http_request_duration_seconds_count")
    tenant.create()
    after = samples(client, "schema_joins_http_request_duration_seconds_count")
    assert after[key] - before.get(key, 0) == 1
    buckets = samples(client, "schema_joins_http_request_duration_seconds_bucket")
    assert buckets[tuple(sorted(key + (("le", "+Inf"),)))] == after[key]


def test_metrics_show_pool_usage(make_app, database_url):
    client = make_app(DB_POOL_MAX_SIZE=6).test_client()
    client.get("/readyz")
    text = client.get("/metrics").get_data(as_text=True)
    assert "schema_joins_db_pool_max_connections 6.0" in text
    for name in ("schema_joins_db_pool_connections", "schema_joins_db_pool_idle_connections",
                 "schema_joins_db_pool_waiting_requests", "schema_joins_db_pool_checkouts_total",
                 "schema_joins_db_pool_checkout_timeouts_total", "schema_joins_db_connections_lost_total"):
        assert f"\n{name} " in text
    assert database_url not in text


def test_metrics_are_prometheus_text(client):
    response = client.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert openmetrics.headers["Content-Type"].startswith("application/openmetrics-text")
    assert openmetrics.get_data(as_text=True).endswith("# EOF\n")


# -- the request log --------------------------------------------------------------------------

def test_each_request_logs_one_json_line_without_keys_bodies_or_values(tenant, caplog):
    caplog.set_level(logging.INFO, logger="joins.access")
    body = valid_join(name="Secretive name 7d41")
    response = tenant.call("POST", json=body, headers={"X-Request-Id": "req-log-1"})
    assert response.status_code == 201
    join_id = response.get_json()["id"]
    tenant.call("DELETE", query=f"?id={join_id}", headers={"X-Request-Id": "req-log-2"})

    lines = access_lines(caplog)
    created = [line for line in lines if line["request_id"] == "req-log-1"]
    deleted = [line for line in lines if line["request_id"] == "req-log-2"]
    assert len(created) == 1 and len(deleted) == 1
    line = created[0]
    assert set(line) == {"time", "event", "request_id", "method", "path", "status", "duration_ms", "tenant"}
    assert (line["method"], line["path"], line["status"], line["tenant"]) == ("POST", ENDPOINT, 201, tenant.id)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["time"].endswith("Z")
    assert deleted[0]["path"] == ENDPOINT
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert tenant.keys["editor"] not in text
    assert "Secretive name 7d41" not in text
    assert join_id not in text


def test_a_request_without_credentials_logs_no_tenant(client, caplog):
    caplog.set_level(logging.INFO, logger="joins.access")
    response = client.get(ENDPOINT, headers={"X-Request-Id": "req-anon-1"})
    assert response.status_code == 401
    [line] = [line for line in access_lines(caplog) if line["request_id"] == "req-anon-1"]
    assert line["status"] == 401 and line["tenant"] is None


def test_a_sane_request_id_is_kept_and_an_insane_one_replaced_in_header_body_and_log(client, caplog):
    caplog.set_level(logging.INFO, logger="joins.access")
    kept = client.get(ENDPOINT, headers={"X-Request-Id": "abc-123.x:y"})
    assert kept.headers["X-Request-Id"] == "abc-123.x:y"
    assert kept.get_json()["error"]["requestId"] == "abc-123.x:y"

    replaced = client.get(ENDPOINT, headers={"X-Request-Id": 'bad id\t"{}'})
    new_id = replaced.headers["X-Request-Id"]
    assert new_id and new_id != 'bad id\t"{}'
    assert replaced.get_json()["error"]["requestId"] == new_id
    ids = [line["request_id"] for line in access_lines(caplog)]
    assert "abc-123.x:y" in ids and new_id in ids
    assert not any("bad id" in record.getMessage() for record in caplog.records)
