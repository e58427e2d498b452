"""The connection pool and nothing else."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool


class Database:
    """A psycopg pool created closed and opened in the process that uses it.

    Under gunicorn the pool is opened by each worker after fork (gunicorn.conf.py), never in
    the master, so no connection is ever shared across processes. Elsewhere (the Flask CLI,
    tests) it opens on first use.
    """

    def __init__(self, config: dict) -> None:
        kwargs: dict = {
            "autocommit": False,
            # None turns server-side prepared statements off: required behind PgBouncer in
            # transaction mode, where a prepared statement may not exist on the next backend.
            "prepare_threshold": config["DB_PREPARE_THRESHOLD"],
        }
        self._pid: int | None = None
        self.pool = ConnectionPool(
            config["DATABASE_URL"],
            kwargs=kwargs,
            min_size=config["DB_POOL_MIN_SIZE"],
            max_size=config["DB_POOL_MAX_SIZE"],
            # How long a request waits for a connection before it answers 503.
            timeout=config["DB_POOL_TIMEOUT"],
            max_idle=config["DB_POOL_MAX_IDLE"],
            # Give up reconnecting in the background only after this long; requests keep
            # answering 503 meanwhile and the pool recovers when the server is back.
            reconnect_timeout=config["DB_RECONNECT_TIMEOUT"],
            # Discard connections the server closed (restart, failover) on checkout instead
            # of handing them to a request.
            check=ConnectionPool.check_connection if config["DB_CHECK_CONNECTIONS"] else None,
            configure=self._configure(config),
            open=False,
            name="schema-joins",
        )

    @staticmethod
    def _configure(config: dict):
        timeouts = {
            "statement_timeout": int(config["DB_STATEMENT_TIMEOUT_MS"]),
            "lock_timeout": int(config["DB_LOCK_TIMEOUT_MS"]),
            "idle_in_transaction_session_timeout": int(config["DB_IDLE_IN_TRANSACTION_TIMEOUT_MS"]),
        }

        def configure(conn: psycopg.Connection) -> None:
            # Session settings, once per new connection. Behind PgBouncer in transaction mode
            # set these on the database role instead (README, "PgBouncer").
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

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        self.open()
        with self.pool.connection() as conn:
            yield conn
