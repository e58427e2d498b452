"""The one route: parse -> authorize -> call the service in a transaction -> respond."""
from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from flask.views import MethodView
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException, NotFound

from joins import service, store
from joins.auth import READ_ROLES, WRITE_ROLES, Caller, require_role
from joins.errors import ApiError
from joins.limits import MAX_BODY_BYTES
from joins.jsonio import JsonBodyError, dumps, dumps_array, loads
from joins.schemas import CREATE_JOIN, UPDATE_JOIN, storable_text

bp = Blueprint("schema_joins", __name__)

ALLOWED_METHODS = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
OPENAPI_DOCUMENT = (Path(__file__).with_name("openapi.json")).read_bytes()


def json_response(data: Any, status: int = 200) -> Response:
    return Response(dumps(data), status=status, mimetype="application/json")


def _validation_error(errors: dict[str, Any]) -> ApiError:
    details = {field: messages if isinstance(messages, list) else [str(messages)]
               for field, messages in errors.items()}
    summary = "; ".join(f"{field}: {' '.join(map(str, messages))}" for field, messages in details.items())
    return ApiError(400, f"Invalid request body: {summary}", details=details)


def parse_body(schema: Schema) -> dict[str, Any]:
    """The one JSON-body parser of POST and PUT: media type, size, UTF-8, JSON, object, schema."""
    if request.mimetype != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in {"utf-8", "utf8"}:
        raise ApiError(415, "Content-Type charset must be utf-8")
    # MAX_CONTENT_LENGTH is one byte over the cap: werkzeug refuses a larger Content-Length
    # itself, and stops a chunked body one byte past the cap, which is how it is caught here.
    try:
        raw = request.get_data(cache=False)
    except HTTPException:
        raise  # 413 and the like keep their status
    except Exception:
        # The server failed to decode the body it was sent (a malformed chunk size or
        # terminator, a broken trailer): the client's fault, whatever the server's class for it.
        raise ApiError(400, "The request body could not be read: malformed transfer encoding") from None
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "Request body exceeds the 64 KiB limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "Request body is not valid UTF-8") from None
    if not text.strip():
        raise ApiError(400, "Request body is empty: send a JSON object")
    try:
        data = loads(text)
    except JsonBodyError as exc:
        raise ApiError(400, f"Request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Request body must be a JSON object")
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise _validation_error(exc.normalized_messages()) from None


def _join_id_arg() -> str:
    values = request.args.getlist("id")
    if not values:
        raise ApiError(400, "Missing id query parameter", details={"id": ["Missing data for required field."]})
    if len(values) > 1:
        raise ApiError(400, "The id query parameter was given more than once",
                       details={"id": ["Give exactly one id."]})
    try:
        return storable_text(values[0])
    except ValidationError as exc:
        raise ApiError(400, f"Invalid id query parameter: {' '.join(exc.messages)}",
                       details={"id": exc.messages}) from None


def _find_key(key_digest: bytes) -> dict[str, Any] | None:
    with _db().connection() as conn:
        return store.find_api_key(conn, digest=key_digest)


def _caller(allowed: frozenset[str]) -> Caller:
    caller = current_app.extensions["schema_joins.auth"].caller(request, _find_key)
    g.tenant_id = caller.tenant_id
    require_role(caller, allowed)
    return caller


def _db():
    return current_app.extensions["schema_joins.db"]


class SchemaJoinsView(MethodView):
    def get(self) -> Response:
        caller = _caller(READ_ROLES)
        with _db().connection() as conn:
            body = dumps_array(service.list_joins(conn, tenant_id=caller.tenant_id))
        return Response(body, mimetype="application/json")

    def post(self) -> Response:
        caller = _caller(WRITE_ROLES)
        spec = parse_body(CREATE_JOIN)
        with _db().connection() as conn:
            return json_response(service.create_join(conn, tenant_id=caller.tenant_id, spec=spec), 201)

    def put(self) -> Response:
        caller = _caller(WRITE_ROLES)
        changes = parse_body(UPDATE_JOIN)
        with _db().connection() as conn:
            return json_response(service.update_join(conn, tenant_id=caller.tenant_id, changes=changes))

    def delete(self) -> Response:
        caller = _caller(WRITE_ROLES)
        join_id = _join_id_arg()
        with _db().connection() as conn:
            deleted = service.delete_join(conn, tenant_id=caller.tenant_id, join_id=join_id)
        return json_response({"success": True, "deleted": deleted})

    def options(self) -> Response:
        response = Response(status=204, headers={"Allow": ALLOWED_METHODS})
        del response.headers["Content-Type"]
        return response


bp.add_url_rule("/api/v1/schema-joins", view_func=SchemaJoinsView.as_view("schema_joins"))


@bp.get("/api/v1/openapi.json")
def openapi_document() -> Response:
    """The API's OpenAPI 3.1 description (no credentials needed)."""
    return Response(OPENAPI_DOCUMENT, mimetype="application/json")


@bp.before_app_request
def assign_request_id() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    # Routing drops leading slashes ('//api/v1/schema-joins' would match the route); every
    # spelling other than the route's own is another path.
    if request.environ.get("PATH_INFO", "").startswith("//"):
        raise NotFound()


@bp.after_app_request
def echo_request_id(response: Response) -> Response:
    response.headers["X-Request-Id"] = g.get("request_id", "")
    return response
