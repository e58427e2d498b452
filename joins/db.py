"""The connection pool and nothing else."""
from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

log = logging.getLogger("joins.db")

# libpq settings that bound how long a vanished server (power loss, network partition, no
# RST ever arrives) can hold a request: keepalive probes notice a silent peer within about
# idle + interval x count seconds, tcp_user_timeout bounds data left unacknowledged.
# A value given in DATABASE_URL wins over these.
TCP_DEFAULTS = {
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
}


class Database:
    """A psycopg pool created closed and opened in the process that uses it.

    Under gunicorn the pool is opened by each worker after fork (gunicorn.conf.py), never in
    the master, so no connection is ever shared across processes. Elsewhere (the Flask CLI,
    tests) it opens on first use.

    Outages: every connection attempt reports whether the server answered. While the last
    attempt failed, a request waits at most DB_OUTAGE_TIMEOUT for a connection (not the whole
    DB_POOL_TIMEOUT) before it answers 503, so clients learn of the outage at once and
    gunicorn's threads stay free. A pooled connection found dead at checkout is dropped
    and the other idle ones are tested at once, since a restart kills them together: the
    request then gets a fresh connection instead of an error.
    """

    def __init__(self, config: dict) -> None:
        self.timeout = float(config["DB_POOL_TIMEOUT"])
        self.outage_timeout = max(float(config["DB_OUTAGE_TIMEOUT"]), 0.05)
        self.check = bool(config["DB_CHECK_CONNECTIONS"])
        self.unreachable = False
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        kwargs: dict = {
            # Single statements are their own transaction (one round trip, no BEGIN/COMMIT);
            # multi-statement work opens one explicitly with conn.transaction().
            "autocommit": True,
            # None turns server-side prepared statements off: required behind PgBouncer in
            # transaction mode, where a prepared statement may not exist on the next backend.
            "prepare_threshold": config["DB_PREPARE_THRESHOLD"],
        }
        self._pid: int | None = None
        self.pool = ConnectionPool(
            self._conninfo(config),
            connection_class=self._reporting_connection_class(),
            kwargs=kwargs,
            min_size=config["DB_POOL_MIN_SIZE"],
            max_size=config["DB_POOL_MAX_SIZE"],
            # How long a request waits for a connection before it answers 503.
            timeout=self.timeout,
            max_idle=config["DB_POOL_MAX_IDLE"],
            # Connections are replaced after this long (with some jitter from the pool), so
            # server-side memory cannot grow without bound and a failover's new address is
            # picked up even by a pool that never saw an error.
            max_lifetime=float(config["DB_POOL_MAX_LIFETIME"]),
            # Each lost connection is retried with a backoff doubling from 1 s for this long,
            # then its slot is freed and the next request that needs one tries again at once.
            # Keep it short (gunicorn.conf.py sets 2 s) or a server that comes back is used
            # only when the grown backoff next fires.
            reconnect_timeout=config["DB_RECONNECT_TIMEOUT"],
            # Checked here, in checkout(), rather than by the pool: see the class docstring.
            check=None,
            configure=self._configure(config),
            open=False,
            name="schema-joins",
        )

    @staticmethod
    def _conninfo(config: dict) -> str:
        params = conninfo_to_dict(config["DATABASE_URL"])
        extra = {name: value for name, value in TCP_DEFAULTS.items() if name not in params}
        if "connect_timeout" not in params:
            # A connection attempt to an unreachable host gives up after this long.
            extra["connect_timeout"] = str(int(config["DB_CONNECT_TIMEOUT"]))
        return make_conninfo(config["DATABASE_URL"], **extra)

    def _reporting_connection_class(self) -> type[psycopg.Connection]:
        database = self

        class ReportingConnection(psycopg.Connection):
            """A connection that tells its Database whether the server could be reached."""

            @classmethod
            def connect(cls, conninfo: str = "", **kwargs: Any) -> ReportingConnection:
                try:
                    conn = super().connect(conninfo, **kwargs)
                except psycopg.OperationalError:
                    database.note_reachable(False)
                    raise
                database.note_reachable(True)
                return conn

        return ReportingConnection

    def note_reachable(self, reachable: bool) -> None:
        if reachable == self.unreachable:
            log.warning("database %s", "reachable again" if reachable else "unreachable: answering 503")
        self.unreachable = not reachable

    @staticmethod
    def _configure(config: dict):
        timeouts = {
            "statement_timeout": int(config["DB_STATEMENT_TIMEOUT_MS"]),
            "lock_timeout": int(config["DB_LOCK_TIMEOUT_MS"]),
            "idle_in_transaction_session_timeout": int(config["DB_IDLE_IN_TRANSACTION_TIMEOUT_MS"]),
        }

        def configure(conn: psycopg.Connection) -> None:
            # Session settings, once per new connection. Behind PgBouncer in transaction mode
            # set these on the database role instead (docs/OPERATIONS.md, "PgBouncer").
            if config["DB_SESSION_SETTINGS"]:
                with conn.transaction():
                    for name, value in timeouts.items():
                        conn.execute("SELECT set_config(%s, %s, false)", (name, f"{value}ms"))
            conn.commit()

        return configure

    def open(self) -> None:
        """Open the pool in this process (idempotent)."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self.pool.open(wait=False)

    def close(self) -> None:
        if self._pid == os.getpid():
            self.pool.close(timeout=5)
            self._pid = None

    def checkout(self, timeout: float | None = None) -> psycopg.Connection:
        """A working connection from the pool; PoolTimeout when none comes in time.

        The caller must give it back with `self.pool.putconn(conn)`.
        """
        self.open()
        self._count("checkouts")
        budget = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        # Wait in slices: that the server is gone shows only when one of the pool's connection
        # attempts fails, possibly after this request began to wait; it then stops waiting.
        # Slicing costs nothing in fairness here, as a request waits only while the pool grows
        # or the server is away (DB_POOL_MAX_SIZE matches the threads).
        for _ in range(self.pool.max_size + int(budget / self.outage_timeout) + 2):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                conn = self.pool.getconn(timeout=min(remaining, self.outage_timeout))
            except PoolTimeout:
                if self.unreachable:
                    break
                continue
            if not self.check:
                return conn
            try:
                # A round trip only when something arrived while the connection sat in the
                # pool (most likely the server's goodbye; the query reads whatever it was), or
                # while the server counts as unreachable (success then says it is back).
                if self.unreachable or server_has_spoken(conn):
                    ConnectionPool.check_connection(conn)
            except psycopg.Error:
                # Closed by the server (restart, failover, idle timeout): the pool replaces
                # it; test the other idle connections now, they most likely died with it.
                self.pool.putconn(conn)
                self.pool.check()
                continue
            if self.unreachable:
                self.note_reachable(True)
            return conn
        self._count("checkout_timeouts")
        raise PoolTimeout("no working database connection in time")

    def _count(self, name: str) -> None:
        with self._counts_lock:
            self._counts[name] += 1

    def stats(self) -> dict[str, int]:
        """The pool's statistics, with checkouts and checkout timeouts counted per request."""
        stats = self.pool.get_stats()
        with self._counts_lock:
            stats.update(self._counts)
        return stats

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        """A pooled connection in autocommit mode: each statement is its own transaction; wrap
        several in `conn.transaction()` to make them one."""
        conn = self.checkout(timeout)
        try:
            with conn:
                yield conn
        finally:
            self.pool.putconn(conn)


def server_has_spoken(conn: psycopg.Connection) -> bool:
    """Whether the server sent anything to this idle connection: a poll, no round trip.

    An idle connection is sent nothing unless the server is closing it (a shutdown, restart,
    failover or pg_terminate_backend sends a FATAL message, then end of file) or has news for
    it (a notification, a changed parameter, a TLS session ticket). A connection that looks
    quiet is handed out as it is; what cannot be seen this way (a peer that vanished without a
    word) the TCP keepalive and user-timeout settings bound instead.
    """
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN)
    return bool(poller.poll(0))
