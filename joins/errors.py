"""ApiError, the one JSON error shape, and the one mapper from failures to HTTP."""
from __future__ import annotations

import logging
from typing import Any

import psycopg
import psycopg_pool
from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from joins.jsonio import dumps

log = logging.getLogger("joins.errors")

CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}

# Seconds a client is asked to wait when the database cannot be reached.
RETRY_AFTER_SECONDS = 2

# Constraint name -> message for integrity errors the database raises on a client's value.
# Validation runs first and returns the precise messages; these are the backstop when a
# concurrent change slips between validation and write.
CONSTRAINT_MESSAGES = {
    "schema_joins_primary_field_fkey": "primaryKey: the field no longer exists in schema primarySchemaId",
    "schema_joins_foreign_field_fkey": "foreignKey: the field no longer exists in schema foreignSchemaId",
    "schema_joins_name_check": "name: must be 1 to 255 characters",
    "schema_joins_join_type_check": 'joinType: must be one of "left", "inner"',
    "schema_joins_status_check": 'status: must be one of "active", "inactive"',
}


class ApiError(Exception):
    """An error the client is told about, with its HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_response(
    status: int,
    message: str,
    *,
    details: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build the contract's error body: {"error": {code, message, status, requestId[, details]}}."""
    error: dict[str, Any] = {
        "code": CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST"),
        "message": message,
        "status": status,
        "requestId": g.get("request_id"),
    }
    if details is not None:
        error["details"] = details
    response = Response(dumps({"error": error}), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _from_database_error(exc: psycopg.Error) -> ApiError:
    """Map a database failure to the status a client should see, by SQLSTATE class."""
    sqlstate = exc.sqlstate or ""
    if isinstance(exc, psycopg.errors.IntegrityError) or sqlstate.startswith("23"):
        constraint = getattr(exc.diag, "constraint_name", None) or ""
        message = CONSTRAINT_MESSAGES.get(constraint, "The request conflicts with stored data")
        return ApiError(400, message)
    if sqlstate.startswith("22"):
        # Data exceptions: a value the database cannot store or compare.
        return ApiError(400, "A value in the request cannot be stored")
    if sqlstate.startswith("54"):
        # Program limits (an index entry over its maximum size): the values themselves are
        # too large, so retrying cannot help.
        return ApiError(400, "The values in the request are too large to store together; use shorter ids or names")
    if isinstance(exc, psycopg.OperationalError) or sqlstate[:2] in {"08", "53", "57"} or sqlstate == "55P03":
        # Connection lost, server shutting down, too many connections, statement or lock
        # timeout: the database cannot serve now; the client may retry.
        return ApiError(503, "The database is unavailable; retry shortly",
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return ApiError(500, "Internal error")


def init_app(app: Flask) -> None:
    """Register the JSON error handlers on the app (routing errors never reach a blueprint)."""

    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, details=exc.details, headers=exc.headers)

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers = {}
        if status == 405:
            allow = dict(exc.get_headers()).get("Allow")
            if allow:
                headers["Allow"] = allow
        messages = {
            404: "No such resource",
            405: "Method not allowed",
            413: "Request body exceeds the 64 KiB limit",
        }
        return error_response(status, messages.get(status, exc.description or exc.name), headers=headers)

    @app.errorhandler(psycopg_pool.PoolTimeout)
    def handle_pool_timeout(exc: psycopg_pool.PoolTimeout) -> Response:
        log.warning("no database connection available: %s", type(exc).__name__)
        return error_response(503, "The database is unavailable; retry shortly",
                              headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.errorhandler(psycopg.Error)
    def handle_database_error(exc: psycopg.Error) -> Response:
        mapped = _from_database_error(exc)
        level = logging.ERROR if mapped.status >= 500 else logging.INFO
        log.log(level, "database error sqlstate=%s class=%s", exc.sqlstate, type(exc).__name__)
        return error_response(mapped.status, mapped.message, headers=mapped.headers)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "Internal error")
