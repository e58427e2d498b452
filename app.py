"""Application factory: configuration, pool, error handlers, blueprint, CLI."""
from __future__ import annotations

import logging
import os
from typing import Any

import click
import psycopg
from flask import Flask
from psycopg.conninfo import conninfo_to_dict

from joins import cli, errors, ops, views
from joins.auth import Authenticator
from joins.db import Database
from joins.limits import MAX_BODY_BYTES

def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


class ConfigurationError(click.ClickException):
    """A setting that keeps the service from starting (the CLI prints it without a traceback)."""


def config_from_env() -> dict[str, Any]:
    """Every setting the service reads, with its default (README, "Configuration")."""
    pgbouncer = _env_bool("DB_PGBOUNCER", False)
    threshold = os.environ.get("DB_PREPARE_THRESHOLD", "").strip().lower()
    return {
        "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
        "TRUSTED_PROXIES": os.environ.get("TRUSTED_PROXIES", ""),
        "KEY_CACHE_SECONDS": _env_float("KEY_CACHE_SECONDS", 10.0),
        "DB_POOL_MIN_SIZE": _env_int("DB_POOL_MIN_SIZE", 1),
        "DB_POOL_MAX_SIZE": _env_int("DB_POOL_MAX_SIZE", 4),
        "DB_POOL_TIMEOUT": _env_float("DB_POOL_TIMEOUT", 3.0),
        "DB_POOL_MAX_IDLE": _env_float("DB_POOL_MAX_IDLE", 300.0),
        "DB_RECONNECT_TIMEOUT": _env_float("DB_RECONNECT_TIMEOUT", 2.0),
        "DB_OUTAGE_TIMEOUT": _env_float("DB_OUTAGE_TIMEOUT", 0.5),
        "DB_CONNECT_TIMEOUT": _env_int("DB_CONNECT_TIMEOUT", 2),
        "DB_POOL_MAX_LIFETIME": _env_float("DB_POOL_MAX_LIFETIME", 3600.0),
        "READYZ_CACHE_SECONDS": _env_float("READYZ_CACHE_SECONDS", 1.0),
        "DB_CHECK_CONNECTIONS": _env_bool("DB_CHECK_CONNECTIONS", True),
        "DB_PGBOUNCER": pgbouncer,
        "DB_PREPARE_THRESHOLD": None if pgbouncer or threshold == "none" else int(threshold or 5),
        "DB_SESSION_SETTINGS": not pgbouncer,
        "DB_STATEMENT_TIMEOUT_MS": _env_int("DB_STATEMENT_TIMEOUT_MS", 5000),
        "DB_LOCK_TIMEOUT_MS": _env_int("DB_LOCK_TIMEOUT_MS", 2000),
        "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS": _env_int("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 10000),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
    }


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(config_from_env())
    if test_config:
        app.config.update(test_config)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES + 1  # see views.parse_body
    app.json.sort_keys = False
    # '/api//v1/schema-joins' is another path (404), never redirected to the route.
    app.url_map.merge_slashes = False
    logging.basicConfig(level=app.config["LOG_LEVEL"], format="%(message)s")

    errors.init_app(app)
    cli.init_app(app)
    if not app.config["DATABASE_URL"]:
        raise ConfigurationError("DATABASE_URL is not set: point it at PostgreSQL, or use `make run`")
    try:
        conninfo_to_dict(app.config["DATABASE_URL"])
    except psycopg.ProgrammingError:
        # The parser's message may quote the string, password included: say only what is wrong.
        raise ConfigurationError("DATABASE_URL is not a valid PostgreSQL connection string") from None
    app.extensions["schema_joins.db"] = Database(app.config)
    app.extensions["schema_joins.auth"] = Authenticator(
        trusted_proxies=app.config["TRUSTED_PROXIES"],
        key_cache_seconds=app.config["KEY_CACHE_SECONDS"],
    )
    app.register_blueprint(views.bp)
    ops.init_app(app)
    if os.environ.get("BENCH_FLOOR_ENDPOINTS") == "1":  # bench/ only: floor endpoints (b) and (c)
        from joins import benchfloor
        app.register_blueprint(benchfloor.bp)
    return app
