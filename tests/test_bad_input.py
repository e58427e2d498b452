"""Every kind of bad input a client can send gets a precise 4xx JSON error and writes nothing.

Each kind is sent to every place it applies: both body-carrying methods, every field.
"""
from __future__ import annotations

import psycopg
import pytest

from conftest import assert_error, valid_join
from joins.errors import _from_database_error

ENDPOINT = "/api/v1/schema-joins"
BODY_METHODS = ["POST", "PUT"]
STRING_FIELDS = ["name", "primarySchemaId", "primaryKey", "foreignSchemaId", "foreignKey"]
ENUM_FIELDS = {"joinType": ("left", "inner"), "status": ("active", "inactive")}


def _send(tenant, method: str, raw: bytes, content_type: str = "application/json"):
    return tenant.client.open(ENDPOINT, method=method, data=raw,
                              headers={"X-API-Key": tenant.keys["editor"], "Content-Type": content_type})


def _body_for(tenant, method: str, **fields):
    """A body that is valid for `method` except for `fields`."""
    if method == "POST":
        return valid_join(**fields)
    join = tenant.create()
    return {"id": join["id"], **fields}


def _assert_nothing_written(tenant, before: list) -> None:
    assert tenant.list() == before


# -- body -------------------------------------------------------------------------------------

MALFORMED_BODIES = {
    "empty": b"",
    "whitespace only": b"  \n\t ",
    "invalid utf-8": b'{"name": "\xff\xfe"}',
    "utf-8 encoded surrogate": b'{"name": "\xed\xa0\x80"}',
    "truncated": b'{"name": ',
    "trailing garbage": b'{"name": "x"} trailing',
    "two documents": b'{"name": "x"}{"name": "y"}',
    "single quotes": b"{'name': 'x'}",
    "null": b"null",
    "array": b"[]",
    "string": b'"x"',
    "number": b"7",
    "boolean": b"true",
    "duplicate keys": b'{"name": "a", "name": "b"}',
    "NaN": b'{"name": NaN}',
    "Infinity": b'{"autoEnrich": Infinity}',
    "-Infinity": b'{"autoEnrich": -Infinity}',
    "deep nesting": b"[" * 60000,
    "deep nesting in a field": b'{"name": ' + b"[" * 30000 + b"]" * 30000 + b"}",
    "integer thousands of digits long": b'{"name": 1' + b"0" * 6000 + b"}",
    "float thousands of digits long": b'{"autoEnrich": 1.' + b"5" * 6000 + b"e99999}",
}


@pytest.mark.parametrize("method", BODY_METHODS)
@pytest.mark.parametrize("kind", list(MALFORMED_BODIES))
def test_malformed_bodies_answer_400(tenant, method, kind):
    before = tenant.list()
    response = _send(tenant, method, MALFORMED_BODIES[kind])
    assert_error(response, 400, "BAD_REQUEST")
    _assert_nothing_written(tenant, before)


def test_malformed_json_messages_say_what_is_wrong(tenant):
    messages = {kind: assert_error(_send(tenant, "POST", MALFORMED_BODIES[kind]), 400, "BAD_REQUEST")["message"]
                for kind in ("empty", "duplicate keys", "NaN", "array", "invalid utf-8", "deep nesting")}
    assert messages["empty"] == "Request body is empty: send a JSON object"
    assert 'duplicate key "name"' in messages["duplicate keys"]
    assert "NaN" in messages["NaN"]
    assert messages["array"] == "Request body must be a JSON object"
    assert messages["invalid utf-8"] == "Request body is not valid UTF-8"
    assert "nested too deeply" in messages["deep nesting"]


@pytest.mark.parametrize("method", BODY_METHODS)
@pytest.mark.parametrize("content_type", ["", "text/plain", "application/xml", "multipart/form-data; boundary=x",
                                          "application/json; charset=utf-16", "json"])
def test_bodies_without_a_json_media_type_answer_415(tenant, method, content_type):
    response = _send(tenant, method, b'{"name": "x"}', content_type=content_type)
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


# -- fields -----------------------------------------------------------------------------------

WRONG_STRING_VALUES = [1, 1.5, True, [], {}, ["customer_id"], None]
WRONG_BOOLEAN_VALUES = ["true", "false", 1, 0, None, [], {}, "yes"]


def _field_error(tenant, method, field, value):
    body = _body_for(tenant, method, **{field: value})
    before = tenant.list()
    error = assert_error(tenant.call(method, json=body), 400, "BAD_REQUEST")
    assert list(error["details"]) == [field], error
    assert field in error["message"]
    _assert_nothing_written(tenant, before)
    return error["details"][field]


@pytest.mark.parametrize("method", BODY_METHODS)
@pytest.mark.parametrize("field", STRING_FIELDS + list(ENUM_FIELDS))
@pytest.mark.parametrize("value", WRONG_STRING_VALUES, ids=repr)
def test_wrong_json_types_for_string_fields(tenant, method, field, value):
    messages = _field_error(tenant, method, field, value)
    assert messages in (["Not a valid string."], ["Field may not be null."])


@pytest.mark.parametrize("method", BODY_METHODS)
@pytest.mark.parametrize("value", WRONG_BOOLEAN_VALUES, ids=repr)
def test_wrong_json_types_for_auto_enrich(tenant, method, value):
    messages = _field_error(tenant, method, "autoEnrich", value)
    assert messages in (["Not a valid boolean: send true or false."], ["Field may not be null."])


@pytest.mark.parametrize("method", BODY_METHODS)
@pytest.mark.parametrize("field", STRING_FIELDS)
@pytest.mark.parametrize("value,message", [
    ("", "Must not be blank."),
    ("   ", "Must not be blank."),
    ("\t\n", "Must not be blank."),
    ("x" * 256, "Must be at most 255 characters."),
    ("a\u0000b", "Must not contain NUL characters."),
    ("\ud800", "Must not contain unpaired surrogates."),
    ("ok\udfff", "Must not contain unpaired surrogates."),
], ids=["empty", "spaces", "tab-newline", "256 chars", "NUL", "lone high surrogate", "lone low surrogate"])
def test_unstorable_or_blank_strings(tenant, method, field, value, message):
    assert _field_error(tenant, method, field, value) == [message]


def test_update_id_follows_the_same_string_rules(tenant):
    for value, message in [("", "Must not be blank."), ("x" * 256, "Must be at most 255 characters."),
                           ("a\u0000", "Must not contain NUL characters."), (7, "Not a valid string.")]:
        error = assert_error(tenant.call("PUT", json={"id": value, "name": "x"}), 400, "BAD_REQUEST")
        assert error["details"] == {"id": [message]}


@pytest.mark.parametrize("method", BODY_METHODS)
@pytest.mark.parametrize("field,value", [
    ("joinType", "LEFT"), ("joinType", "Inner"), ("joinType", "cross"), ("joinType", " left"),
    ("status", "ACTIVE"), ("status", "Inactive"), ("status", "deleted"), ("status", "enabled"),
])
def test_enum_values_in_the_wrong_case_or_outside_the_set_list_the_allowed_values(tenant, method, field, value):
    (message,) = _field_error(tenant, method, field, value)
    allowed = ", ".join(f'"{choice}"' for choice in ENUM_FIELDS[field])
    assert message.startswith(f"Must be one of {allowed}.")


@pytest.mark.parametrize("method", BODY_METHODS)
@pytest.mark.parametrize("field", ["bogus", "primary_schema_id", "Name", "", "tenant_id"])
def test_unknown_fields_are_named(tenant, method, field):
    assert _field_error(tenant, method, field, "x") == ["Unknown field."]


@pytest.mark.parametrize("field", STRING_FIELDS)
def test_a_missing_required_field_on_create(tenant, field):
    assert _field_error(tenant, "POST", field, ...) == ["Missing data for required field."]


def test_every_offending_field_is_listed_at_once(tenant):
    body = {"name": "", "primarySchemaId": 1, "joinType": "right", "autoEnrich": "no", "extra": True}
    error = assert_error(tenant.call("POST", json=body), 400, "BAD_REQUEST")
    assert set(error["details"]) == {"name", "primarySchemaId", "primaryKey", "foreignSchemaId", "foreignKey",
                                     "joinType", "autoEnrich", "extra"}


# -- the database backstop ----------------------------------------------------------------------

def _database_error(database_url, statement: str) -> psycopg.Error:
    # A 10 ms statement timeout makes the sleep below a query cancelled by the server.
    with psycopg.connect(database_url, options="-c statement_timeout=10") as conn:
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            return exc
    raise AssertionError("the statement did not fail")


@pytest.mark.parametrize("statement,status,message", [
    ("INSERT INTO schema_joins (tenant_id, id, name, primary_schema_id, primary_key, foreign_schema_id, foreign_key)"
     " VALUES ('t', 'j', 'n', 's', 'missing', 's', 'missing')", 400,
     "primaryKey: the field no longer exists in schema primarySchemaId"),
    ("INSERT INTO schema_joins (tenant_id, id, name, primary_schema_id, primary_key, foreign_schema_id, foreign_key,"
     " join_type) VALUES ('t', 'j', 'n', 's', 'k', 's', 'k', 'right')", 400,
     'joinType: must be one of "left", "inner"'),
    ("SELECT 'not a number'::integer", 400, "A value in the request cannot be stored"),
    ("SELECT repeat('x', 3)::varchar(1)::char(1), 1/0", 400, "A value in the request cannot be stored"),
    ("SELECT array_fill(1, ARRAY[200000000])", 400,
     "The values in the request are too large to store together; use shorter ids or names"),
    ("SELECT pg_sleep(1)", 503,
     "The database is unavailable; retry shortly"),
])
def test_database_errors_caused_by_values_map_to_precise_4xx_and_outages_to_503(database_url, statement, status,
                                                                                message):
    mapped = _from_database_error(_database_error(database_url, statement))
    assert (mapped.status, mapped.message) == (status, message)
    if status == 503:
        assert mapped.headers["Retry-After"].isdigit()


def test_a_failed_transaction_is_never_reused(app):
    database = app.extensions["schema_joins.db"]
    idle = psycopg.pq.TransactionStatus.IDLE
    for _ in range(database.pool.max_size * 2):
        with pytest.raises(psycopg.errors.DivisionByZero):
            with database.connection() as conn, conn.transaction():
                conn.execute("SELECT 1")
                conn.execute("SELECT 1/0")
        with pytest.raises(psycopg.errors.DivisionByZero):
            with database.connection() as conn:
                conn.execute("SELECT 1/0")
        with database.connection() as conn:
            assert conn.info.transaction_status == idle
            assert conn.execute("SELECT 1").fetchone() == (1,)
