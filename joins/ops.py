"""What a fleet needs from each instance: /healthz, /readyz, /metrics and one JSON log line a request.

Metrics use prometheus_client. Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR
before the app is imported, every worker writes its samples there, and /metrics, answered by
any one worker, sums them all. Without that variable (tests, the Flask CLI) metrics live in
the process.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import datetime, timezone
from typing import Any

import psycopg
from flask import Flask, Response, current_app, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder
from psycopg_pool import PoolTimeout
from yoyo import read_migrations

from joins.db import Database
from joins.errors import RETRY_AFTER_SECONDS, error_response
from joins.jsonio import dumps
from joins.migrations import MIGRATIONS_DIR

log = logging.getLogger("joins.access")

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# Label values come from a closed set, so a client cannot grow the series without bound.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
MAX_LOGGED_PATH = 256

# Defined once per process: prometheus_client refuses a second metric of the same name.
REQUESTS = Counter(
    "schema_joins_http_requests_total",
    "HTTP requests answered, by method, route and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "schema_joins_http_request_duration_seconds",
    "Time from receiving a request to handing its response to the server.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# Gauges sum over the live workers ("livesum"); a dead worker's values leave with it.
POOL_CONNECTIONS = Gauge(
    "schema_joins_db_pool_connections",
    "Database connections held by the pools, open or being opened.",
    multiprocess_mode="livesum",
)
POOL_IDLE = Gauge(
    "schema_joins_db_pool_idle_connections",
    "Open connections waiting in the pools for a request.",
    multiprocess_mode="livesum",
)
POOL_MAX = Gauge(
    "schema_joins_db_pool_max_connections",
    "Most connections the pools may open (workers x DB_POOL_MAX_SIZE).",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "schema_joins_db_pool_waiting_requests",
    "Requests waiting for a database connection.",
    multiprocess_mode="livesum",
)
DB_UNREACHABLE = Gauge(
    "schema_joins_db_unreachable_workers",
    "Workers whose last connection attempt failed (they answer 503 at once).",
    multiprocess_mode="livesum",
)
# Cumulative pool statistics published as counters: (counter, statistics summed, scale).
POOL_COUNTERS = (
    (Counter("schema_joins_db_pool_checkouts_total", "Connections requested from the pools."),
     ("checkouts",), 1),
    (Counter("schema_joins_db_pool_checkout_timeouts_total",
             "Requests that got no connection in time (answered 503)."),
     ("checkout_timeouts",), 1),
    (Counter("schema_joins_db_pool_wait_seconds_total", "Time requests spent waiting for a connection."),
     ("requests_wait_ms",), 1000),
    (Counter("schema_joins_db_connection_errors_total", "Failed attempts to open a database connection."),
     ("connections_errors",), 1),
    (Counter("schema_joins_db_connections_lost_total",
             "Pooled connections found closed by the server (restart, failover) and replaced."),
     ("connections_lost", "returns_bad"), 1),
)

def _route() -> str:
    """The URL rule that matched (never the raw path, which a client could vary endlessly)."""
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def _method() -> str:
    return request.method if request.method in KNOWN_METHODS else "OTHER"


class PoolMetrics:
    """Publish one pool's statistics; counters advance by what changed since the last look."""

    # A worker republishes after requests at most this often: the values are read only when
    # /metrics is scraped (which publishes at once), so doing it per request is wasted work.
    INTERVAL_SECONDS = 1.0

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._published = float("-inf")

    def observe_if_due(self, db: Database) -> None:
        """Publish unless this worker did so within the last INTERVAL_SECONDS."""
        if time.monotonic() - self._published >= self.INTERVAL_SECONDS:
            self.observe(db)

    def observe(self, db: Database) -> None:
        """Set the gauges to the pool's state now and advance the counters."""
        self._published = time.monotonic()
        stats = db.stats()
        POOL_CONNECTIONS.set(stats.get("pool_size", 0))
        POOL_IDLE.set(stats.get("pool_available", 0))
        POOL_MAX.set(stats.get("pool_max", 0))
        POOL_WAITING.set(stats.get("requests_waiting", 0))
        DB_UNREACHABLE.set(1 if db.unreachable else 0)
        with self._lock:
            for counter, names, scale in POOL_COUNTERS:
                key = names[0]
                total = sum(stats.get(name, 0) for name in names)
                delta = total - self._seen.get(key, 0)
                if delta > 0:
                    counter.inc(delta / scale)
                self._seen[key] = total


class Readiness:
    """Does the database answer, with every migration applied? Cached briefly, one probe at a time.

    The cache bounds what a flood of unauthenticated probes costs the database: at most one
    query per worker per READYZ_CACHE_SECONDS. The applied migrations are read from yoyo's
    table and compared with the files, which costs one small query, not a yoyo session.
    """

    def __init__(self, cache_seconds: float) -> None:
        self.cache_seconds = cache_seconds
        self.expected = frozenset(migration.id for migration in read_migrations(str(MIGRATIONS_DIR)))
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._problems: dict[str, list[str]] = {}

    def problems(self, db: Database) -> dict[str, list[str]]:
        """{} when ready, else {"database" | "migrations": [what is wrong]}."""
        with self._lock:
            if time.monotonic() - self._checked_at >= self.cache_seconds:
                self._problems = self._probe(db)
                self._checked_at = time.monotonic()
            return self._problems

    def _probe(self, db: Database) -> dict[str, list[str]]:
        try:
            with db.connection() as conn:
                applied = {row[0] for row in conn.execute("SELECT migration_id FROM _yoyo_migration")}
        except psycopg.errors.UndefinedTable:
            applied = set()
        except (psycopg.Error, PoolTimeout) as exc:
            log.debug("readiness: database check failed: %s", type(exc).__name__)
            return {"database": ["the database does not answer"]}
        missing = len(self.expected - applied)
        if missing:
            return {"migrations": [f"{missing} migration(s) not applied"]}
        return {}


def _json(data: Any, status: int = 200) -> Response:
    """A JSON answer no cache may keep: health changes from one moment to the next."""
    response = Response(dumps(data), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _record_request(response: Response, started: float | None) -> None:
    """Count the request, time it, and write its one log line."""
    duration = time.perf_counter() - started if started is not None else 0.0
    status = response.status_code
    REQUESTS.labels(_method(), _route(), str(status)).inc()
    LATENCY.labels(_method(), _route()).observe(duration)
    # Only what identifies the request: never headers, query string, body or bound values.
    entry = {
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "event": "request",
        "request_id": g.get("request_id"),
        "method": request.method[:16],
        "path": request.path[:MAX_LOGGED_PATH],
        "status": status,
        "duration_ms": round(duration * 1000, 2),
        "tenant": g.get("tenant_id"),
    }
    log.log(logging.WARNING if status >= 500 else logging.INFO, json.dumps(entry))


def observe_pool(app: Flask) -> None:
    """Publish this process's pool gauges now (gunicorn calls it when a worker starts)."""
    app.extensions["schema_joins.ops"]["pool_metrics"].observe(app.extensions["schema_joins.db"])


def init_app(app: Flask) -> None:
    """Register /healthz, /readyz, /metrics and the per-request log line and metrics."""
    state = {
        "pool_metrics": PoolMetrics(),
        "readiness": Readiness(float(app.config["READYZ_CACHE_SECONDS"])),
    }
    app.extensions["schema_joins.ops"] = state

    def db() -> Database:
        return current_app.extensions["schema_joins.db"]

    @app.before_request
    def start_clock() -> None:
        g.ops_started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        try:
            _record_request(response, g.get("ops_started"))
            state["pool_metrics"].observe_if_due(db())
        except Exception:
            # Telemetry must never turn an answer into an error.
            logging.getLogger("joins.ops").exception("could not record the request")
        return response

    @app.get("/healthz")
    def healthz() -> Response:
        """The process answers; says nothing of the database (that is /readyz)."""
        return _json({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        """Ready for traffic: the database answers and every migration is applied."""
        problems = state["readiness"].problems(db())
        if problems:
            message = "Not ready: " + "; ".join(text for texts in problems.values() for text in texts)
            return error_response(503, message, details=problems,
                                  headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"})
        return _json({"status": "ready", "checks": {"database": "ok", "migrations": "ok"}})

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus exposition, summed over every worker of this gunicorn instance."""
        state["pool_metrics"].observe(db())
        if MULTIPROCESS:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = REGISTRY
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        response = Response(encoder(registry), status=200)
        response.headers["Content-Type"] = content_type
        response.headers["Cache-Control"] = "no-store"
        return response
