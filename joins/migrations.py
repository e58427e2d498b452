"""Apply the yoyo migrations of sql/migrations, once, even from several hosts at once."""
from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from psycopg.conninfo import conninfo_to_dict
from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "sql" / "migrations"

# pg_advisory_lock key shared by every `migrate` run against the same database.
_LOCK_KEY = 0x5C4E3A7015


def _yoyo_url(database_url: str) -> str:
    """yoyo wants a URL; DATABASE_URL may be a URL or a key=value connection string."""
    params = {key: str(value) for key, value in conninfo_to_dict(database_url).items()}
    user = quote(params.pop("user", ""), safe="")
    password = params.pop("password", None)
    host = params.pop("host", "")
    port = params.pop("port", "")
    dbname = quote(params.pop("dbname", ""), safe="")
    userinfo = f"{user}:{quote(password, safe='')}@" if password is not None else (f"{user}@" if user else "")
    if host.startswith("/"):
        # A Unix socket folder cannot sit in the URL's host part; pass it as an argument.
        params["host"] = host
        host = ""
    netloc = f"{userinfo}{host}{':' + port if port else ''}"
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql+psycopg://{netloc}/{dbname}{query}"


def pending(database_url: str) -> list[str]:
    """Ids of the migrations not yet applied."""
    backend = get_backend(_yoyo_url(database_url))
    try:
        return [migration.id for migration in backend.to_apply(read_migrations(str(MIGRATIONS_DIR)))]
    finally:
        backend.connection.close()


class MigrationLockTimeout(RuntimeError):
    """Another `migrate` held the lock for longer than we were willing to wait."""


def _wait_for_lock(conn: psycopg.Connection, wait_seconds: float) -> None:
    """Take the advisory lock, polling rather than blocking.

    A session blocked in pg_advisory_lock() is a running statement with a snapshot, and
    CREATE INDEX CONCURRENTLY in the run that holds the lock waits for every such snapshot
    to go: the two would wait for each other. Between polls this session holds no snapshot.
    """
    deadline = time.monotonic() + wait_seconds
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()[0]:
        if time.monotonic() > deadline:
            raise MigrationLockTimeout(f"another migrate still runs after {wait_seconds:.0f} s")
        time.sleep(0.2)


def migrate(database_url: str, *, wait_seconds: float = 600.0) -> list[str]:
    """Apply what is pending; return the ids applied by this call.

    yoyo's own lock is a row in a table it creates on first use, and two first runs can race
    to create that table; a session advisory lock taken on a separate connection serialises
    whole runs instead, and is released by the server if this process dies.
    """
    with psycopg.connect(database_url, autocommit=True) as lock_conn:
        _wait_for_lock(lock_conn, wait_seconds)
        try:
            backend = get_backend(_yoyo_url(database_url))
            try:
                migrations = read_migrations(str(MIGRATIONS_DIR))
                with backend.lock():
                    todo = backend.to_apply(migrations)
                    backend.apply_migrations(todo)
                return [migration.id for migration in todo]
            finally:
                backend.connection.close()
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
