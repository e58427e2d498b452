"""The pool through the WSGI app: dead connections, an unreachable server, bounded waits."""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from conftest import Tenant, assert_error
from test_ops import closed_port_url, samples

ENDPOINT = "/api/v1/schema-joins"


def test_connections_killed_by_the_server_cause_no_errors(make_app, database_url, db):
    name = f"pool-test-{uuid.uuid4().hex[:8]}"
    app = make_app(DATABASE_URL=make_conninfo(database_url, application_name=name),
                   DB_POOL_MIN_SIZE=4, DB_POOL_MAX_SIZE=4)
    database = app.extensions["schema_joins.db"]
    database.open()
    database.pool.wait(timeout=10)
    client = app.test_client()
    tenant = Tenant(database_url, client)
    tenant.create()
    lost_before = sum(samples(client, "schema_joins_db_connections_lost_total").values())

    killed = db.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = %s", (name,)).fetchone()[0]
    assert killed == 4
    # What a restart or failover does to every idle connection at once. One client first:
    # its request must not stumble from one dead connection to the next.
    for _ in range(3):
        started = time.monotonic()
        assert tenant.call("GET", role="viewer").status_code == 200
        assert time.monotonic() - started < 1.0
    with ThreadPoolExecutor(max_workers=4) as executor:
        statuses = list(executor.map(lambda _: tenant.call("GET", role="viewer").status_code, range(8)))
    assert statuses == [200] * 8
    lost_after = sum(samples(client, "schema_joins_db_connections_lost_total").values())
    assert lost_after - lost_before >= 4


def test_an_unreachable_database_answers_503_with_retry_after_at_once(make_app, database_url):
    app = make_app(DATABASE_URL=closed_port_url(), DB_POOL_TIMEOUT=2.0, DB_OUTAGE_TIMEOUT=0.3,
                   TRUSTED_PROXIES="127.0.0.1")
    client = app.test_client()
    durations = []
    for _ in range(5):
        started = time.monotonic()
        response = client.get(ENDPOINT, headers={"X-Tenant-Id": "t_outage"})
        durations.append(time.monotonic() - started)
        assert_error(response, 503, "SERVICE_UNAVAILABLE", "The database is unavailable; retry shortly")
        assert response.headers["Retry-After"].isdigit()
        assert "nothing" not in response.get_data(as_text=True)
    # Once a connection attempt has failed, requests stop waiting for connections that
    # cannot come: far below the 2 s pool timeout.
    assert max(durations) < 0.3 + 0.7, durations
    text = client.get("/metrics").get_data(as_text=True)
    assert "schema_joins_db_unreachable_workers 1.0" in text


def test_the_pool_recovers_when_the_server_accepts_connections_again(make_app, database_url, db):
    """Connections refused, then accepted: requests succeed again without a restart."""
    name = f"pool-test-{uuid.uuid4().hex[:8]}"
    role = f"pool_{uuid.uuid4().hex[:8]}"
    db.execute(psycopg.sql.SQL("CREATE ROLE {} NOLOGIN").format(psycopg.sql.Identifier(role)))
    app = None
    try:
        db.execute(psycopg.sql.SQL("GRANT pg_read_all_data, pg_write_all_data TO {}").format(
            psycopg.sql.Identifier(role)))
        app = make_app(DATABASE_URL=make_conninfo(database_url, user=role, application_name=name),
                       DB_POOL_TIMEOUT=2.0, DB_OUTAGE_TIMEOUT=0.3, DB_RECONNECT_TIMEOUT=2.0)
        client = app.test_client()
        tenant = Tenant(database_url, client)
        assert_error(tenant.call("GET", role="viewer"), 503, "SERVICE_UNAVAILABLE")

        db.execute(psycopg.sql.SQL("ALTER ROLE {} LOGIN").format(psycopg.sql.Identifier(role)))
        back = time.monotonic()
        statuses = []
        deadline = back + 10
        while time.monotonic() < deadline:
            status = tenant.call("GET", role="viewer").status_code
            statuses.append(status)
            if status == 200:
                break
            time.sleep(0.05)
        assert statuses[-1] == 200, statuses
        assert time.monotonic() - back < 3.0
    finally:
        if app is not None:
            app.extensions["schema_joins.db"].close()
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (name,))
        db.execute(psycopg.sql.SQL("DROP OWNED BY {}").format(psycopg.sql.Identifier(role)))
        db.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(role)))


def test_the_checkout_check_sees_a_closing_server_without_a_round_trip(database_url, db):
    """A quiet idle connection passes on a poll alone; one the server has ended does not."""
    from joins.db import server_has_spoken

    name = f"poll-test-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(make_conninfo(database_url, application_name=name), autocommit=True) as conn:
        conn.execute("SELECT 1")
        assert server_has_spoken(conn) is False

        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (name,))
        deadline = time.monotonic() + 5
        while not server_has_spoken(conn) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server_has_spoken(conn) is True
        with pytest.raises(psycopg.OperationalError):
            conn.execute("")


def test_the_checkout_check_reads_news_from_the_server_with_one_query(database_url, db):
    """A notification wakes the poll; the empty query reads it and the connection stays in use."""
    from joins.db import server_has_spoken

    channel = f"poll_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {channel}")
        db.execute(f"NOTIFY {channel}")
        deadline = time.monotonic() + 5
        while not server_has_spoken(conn) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server_has_spoken(conn) is True
        conn.execute("")
        assert server_has_spoken(conn) is False
        assert conn.execute("SELECT 1").fetchone() == (1,)
