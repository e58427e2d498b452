"""Methods, paths, media types, sizes and the DELETE query string."""
from __future__ import annotations

import pytest

from conftest import assert_error, valid_join

ENDPOINT = "/api/v1/schema-joins"


def test_head_is_get_without_a_body(tenant):
    tenant.create()
    response = tenant.call("HEAD", role="viewer")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_data() == b""
    assert tenant.client.head(ENDPOINT).status_code == 401


def test_options_answers_204_with_allow_and_needs_no_credentials(client):
    response = client.options(ENDPOINT)
    assert response.status_code == 204
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"}
    assert response.get_data() == b""


@pytest.mark.parametrize("method", ["PATCH", "TRACE", "PROPFIND"])
def test_other_methods_answer_405_with_allow_and_a_json_body(client, method):
    response = client.open(ENDPOINT, method=method)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "DELETE" in response.headers["Allow"]


@pytest.mark.parametrize("path", [ENDPOINT + "/", "/api/v1/schema-joins/sj_1", "/api/v1/schema-join",
                                  "/", "/api/v2/schema-joins", "/api//v1/schema-joins", "/api/v1//schema-joins",
                                  "/API/v1/schema-joins"])
def test_other_paths_answer_404_json_and_are_never_redirected(tenant, path):
    response = tenant.client.get(path, headers={"X-API-Key": tenant.keys["viewer"]})
    assert_error(response, 404, "NOT_FOUND")
    assert "Location" not in response.headers


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1", "application/jsonx"])
def test_bodies_need_json_content_type(tenant, method, content_type):
    headers = {"X-API-Key": tenant.keys["editor"]}
    if content_type:
        headers["Content-Type"] = content_type
    response = tenant.client.open(ENDPOINT, method=method, data=b'{"name": "x"}', headers=headers)
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_json_content_type_with_utf8_charset_is_accepted(tenant):
    import json  # noqa: PLC0415
    response = tenant.client.post(ENDPOINT, data=json.dumps(valid_join()).encode(),
                                  headers={"X-API-Key": tenant.keys["editor"],
                                           "Content-Type": "application/json; charset=UTF-8"})
    assert response.status_code == 201


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_bodies_over_64_kib_answer_413(tenant, method):
    body = b'{"name": "' + b"x" * (64 * 1024) + b'"}'
    response = tenant.client.open(ENDPOINT, method=method, data=body,
                                  headers={"X-API-Key": tenant.keys["editor"], "Content-Type": "application/json"})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert tenant.list() == []


@pytest.mark.parametrize("query,message", [
    ("", "Missing id query parameter"),
    ("?id=", "Invalid id query parameter: Must not be blank."),
    ("?id=%20%20", "Invalid id query parameter: Must not be blank."),
    ("?id=a&id=b", "The id query parameter was given more than once"),
    ("?id=a&id=a", "The id query parameter was given more than once"),
    ("?id=" + "x" * 256, "Invalid id query parameter: Must be at most 255 characters."),
    ("?id=a%00b", "Invalid id query parameter: Must not contain NUL characters."),
])
def test_delete_refuses_a_bad_id_query_parameter(tenant, query, message):
    error = assert_error(tenant.call("DELETE", query=query), 400, "BAD_REQUEST", message)
    assert list(error["details"]) == ["id"]


def test_delete_answers_200_with_the_join_as_it_was(tenant):
    join = tenant.create()
    response = tenant.call("DELETE", query=f"?id={join['id']}")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"success": True, "deleted": join}
    assert tenant.list() == []


def test_delete_of_an_unknown_id_answers_404(tenant):
    assert_error(tenant.call("DELETE", query="?id=sj_nope"), 404, "NOT_FOUND", "Schema join sj_nope not found")


def test_delete_twice_answers_404_the_second_time(tenant):
    join = tenant.create()
    assert tenant.call("DELETE", query=f"?id={join['id']}").status_code == 200
    assert_error(tenant.call("DELETE", query=f"?id={join['id']}"), 404, "NOT_FOUND")


def test_request_id_is_kept_when_sane_and_made_otherwise(tenant):
    response = tenant.call("DELETE", query="?id=sj_nope", headers={"X-Request-Id": "req-123.abc"})
    assert response.headers["X-Request-Id"] == "req-123.abc"
    assert response.get_json()["error"]["requestId"] == "req-123.abc"
    response = tenant.call("DELETE", query="?id=sj_nope", headers={"X-Request-Id": "bad id\x01" + "x" * 300})
    assert response.headers["X-Request-Id"] != "bad id"
    assert len(response.headers["X-Request-Id"]) == 32


def test_a_body_of_exactly_64_kib_is_read(tenant):
    prefix = b'{"name": "'
    suffix = b'", "primarySchemaId": "sch_customers", "primaryKey": "customer_id", ' \
             b'"foreignSchemaId": "sch_accounts", "foreignKey": "customer_id"}'
    padding = 64 * 1024 - len(prefix) - len(suffix) - 1
    body = prefix + b"n" + b" " * padding + suffix
    assert len(body) == 64 * 1024
    response = tenant.client.post(ENDPOINT, data=body, headers={"X-API-Key": tenant.keys["editor"],
                                                                "Content-Type": "application/json"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["name"] == "n"


def test_an_unexpected_failure_answers_500_json_without_internals(make_app, tenant, monkeypatch):
    from joins import service  # noqa: PLC0415

    def explode(*args, **kwargs):
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(service, "list_joins", explode)
    response = make_app().test_client().get(ENDPOINT, headers={"X-API-Key": tenant.keys["viewer"]})
    error = assert_error(response, 500, "INTERNAL_ERROR", "Internal error")
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert error.get("details") is None
