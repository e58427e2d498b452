"""Credentials, roles and tenant isolation."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import assert_error, issue_key, register_schemas, valid_join
from joins.auth import digest

ENDPOINT = "/api/v1/schema-joins"

# (method, role) -> allowed?
MATRIX = [
    ("GET", "viewer", True), ("GET", "editor", True), ("GET", "admin", True),
    ("POST", "viewer", False), ("POST", "editor", True), ("POST", "admin", True),
    ("PUT", "viewer", False), ("PUT", "editor", True), ("PUT", "admin", True),
    ("DELETE", "viewer", False), ("DELETE", "editor", True), ("DELETE", "admin", True),
]


def _request_for(tenant, method):
    """A request of each method that succeeds for a role allowed to make it."""
    if method == "GET":
        return {}
    if method == "POST":
        return {"json": valid_join()}
    join = tenant.create()
    if method == "PUT":
        return {"json": {"id": join["id"], "status": "inactive"}}
    return {"query": f"?id={join['id']}"}


@pytest.mark.parametrize("method,role,allowed", MATRIX)
def test_role_matrix_with_api_keys(tenant, method, role, allowed):
    response = tenant.call(method, role=role, **_request_for(tenant, method))
    if allowed:
        assert response.status_code in (200, 201), response.get_json()
    else:
        assert_error(response, 403, "FORBIDDEN")


@pytest.mark.parametrize("method,role,allowed", MATRIX)
def test_role_matrix_with_gateway_headers(tenant, method, role, allowed):
    kwargs = _request_for(tenant, method)
    response = tenant.client.open(ENDPOINT + kwargs.pop("query", ""), method=method,
                                  headers={"X-Tenant-Id": tenant.id, "X-User-Role": role}, **kwargs)
    if allowed:
        assert response.status_code in (200, 201), response.get_json()
    else:
        assert_error(response, 403, "FORBIDDEN")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_no_credentials_answers_401_on_every_method(client, method):
    response = client.open(ENDPOINT + "?id=x", method=method, json={})
    assert_error(response, 401, "UNAUTHORIZED")


@pytest.mark.parametrize("headers", [
    {"X-API-Key": ""}, {"X-API-Key": "   "}, {"Authorization": "Bearer "}, {"X-Tenant-Id": ""},
    {"X-Tenant-Id": "  "},
])
def test_blank_credentials_answer_401(client, headers):
    assert_error(client.get(ENDPOINT, headers=headers), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("key", ["krn_not_a_real_key", "not_even_prefixed", "krn_" + "x" * 300])
def test_unknown_keys_answer_401(client, key):
    assert_error(client.get(ENDPOINT, headers={"X-API-Key": key}), 401, "UNAUTHORIZED", "Invalid API key")


def test_bearer_authorization_is_accepted(tenant):
    response = tenant.client.get(ENDPOINT, headers={"Authorization": f"Bearer {tenant.keys['viewer']}"})
    assert response.status_code == 200


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x",
                                           "Digest username=a, realm=b"])
def test_other_authorization_is_not_a_credential_of_this_service(tenant, authorization):
    assert_error(tenant.client.get(ENDPOINT, headers={"Authorization": authorization}), 401, "UNAUTHORIZED")
    # A gateway may forward its own token beside the tenant it asserts.
    response = tenant.client.get(ENDPOINT, headers={"Authorization": authorization, "X-Tenant-Id": tenant.id})
    assert response.status_code == 200


@pytest.mark.parametrize("second", ["Basic dXNlcjpwYXNz", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"])
def test_authorization_sent_twice_with_different_schemes_or_tokens_answers_400(tenant, second):
    headers = [("Authorization", f"Bearer {tenant.keys['viewer']}"), ("Authorization", second)]
    error = assert_error(tenant.client.get(ENDPOINT, headers=headers), 400, "BAD_REQUEST")
    assert "Authorization" in error["message"]


def test_a_stray_comma_is_not_a_second_value(tenant):
    response = tenant.client.get(ENDPOINT, headers={"X-API-Key": tenant.keys["viewer"] + ","})
    assert response.status_code == 200
    response = tenant.client.get(ENDPOINT, headers={"Authorization": f"Bearer {tenant.keys['viewer']}, "})
    assert response.status_code == 200


def test_the_same_key_in_both_headers_is_accepted_but_different_keys_are_not(tenant):
    key = tenant.keys["viewer"]
    response = tenant.client.get(ENDPOINT, headers={"X-API-Key": key, "Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    response = tenant.client.get(ENDPOINT, headers={"X-API-Key": key,
                                                     "Authorization": f"Bearer {tenant.keys['admin']}"})
    assert_error(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize("header", ["X-API-Key", "Authorization", "X-Tenant-Id", "X-User-Role"])
def test_a_credential_header_sent_twice_with_different_values_answers_400(tenant, header):
    values = {"X-API-Key": [tenant.keys["viewer"], tenant.keys["admin"]],
              "Authorization": [f"Bearer {tenant.keys['viewer']}", f"Bearer {tenant.keys['admin']}"],
              "X-Tenant-Id": [tenant.id, "t_other"], "X-User-Role": ["viewer", "admin"]}[header]
    headers = [(header, value) for value in values]
    if header == "X-User-Role":
        headers.append(("X-Tenant-Id", tenant.id))
    error = assert_error(tenant.client.get(ENDPOINT, headers=headers), 400, "BAD_REQUEST")
    assert header in error["message"]


def test_a_credential_header_sent_twice_with_the_same_value_is_accepted(tenant):
    key = tenant.keys["viewer"]
    assert tenant.client.get(ENDPOINT, headers=[("X-API-Key", key), ("X-API-Key", key)]).status_code == 200


def test_revoked_key_answers_401(database_url, tenant, db, make_app):
    key = issue_key(database_url, tenant.id, "viewer")
    app = make_app(KEY_CACHE_SECONDS=0.0)
    client = app.test_client()
    assert client.get(ENDPOINT, headers={"X-API-Key": key}).status_code == 200
    db.execute("UPDATE api_keys SET revoked_at = now() WHERE tenant_id = %s AND revoked_at IS NULL", (tenant.id,))
    assert_error(client.get(ENDPOINT, headers={"X-API-Key": key}), 401, "UNAUTHORIZED", "API key revoked")


def test_revocation_takes_effect_within_the_key_cache_lifetime(database_url, tenant, db, make_app):
    key = issue_key(database_url, tenant.id, "viewer")
    app = make_app(KEY_CACHE_SECONDS=1.0)
    client = app.test_client()
    runner = app.test_cli_runner()
    assert client.get(ENDPOINT, headers={"X-API-Key": key}).status_code == 200
    key_id = db.execute("SELECT id FROM api_keys WHERE digest = %s", (digest(key),)).fetchone()[0]
    result = runner.invoke(args=["keys", "revoke", key_id])
    assert result.exit_code == 0, result.output
    revoked_at = time.monotonic()
    # Served from the cache until the entry is older than KEY_CACHE_SECONDS, never after.
    while client.get(ENDPOINT, headers={"X-API-Key": key}).status_code == 200:
        assert time.monotonic() - revoked_at < 1.5
        time.sleep(0.05)
    assert_error(client.get(ENDPOINT, headers={"X-API-Key": key}), 401, "UNAUTHORIZED", "API key revoked")


def test_the_key_cache_lifetime_is_capped_at_15_seconds(database_url, make_app):
    app = make_app(KEY_CACHE_SECONDS=3600.0)
    assert app.extensions["schema_joins.auth"].cache.ttl == 15.0


def test_expired_key_answers_401(database_url, tenant):
    key = issue_key(database_url, tenant.id, "viewer", expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))
    assert_error(tenant.client.get(ENDPOINT, headers={"X-API-Key": key}), 401, "UNAUTHORIZED", "API key expired")
    key = issue_key(database_url, tenant.id, "viewer", expires_at=datetime.now(timezone.utc) + timedelta(hours=1))
    assert tenant.client.get(ENDPOINT, headers={"X-API-Key": key}).status_code == 200


@pytest.mark.parametrize("stored_expiry,status", [("10000-01-01T00:59:59Z", 200), ("0001-01-01T00:00:00Z BC", 401)])
def test_expiries_outside_what_python_can_read_still_authenticate(database_url, tenant, db, stored_expiry, status):
    key = issue_key(database_url, tenant.id, "viewer")
    db.execute("UPDATE api_keys SET expires_at = %s::timestamptz WHERE digest = %s", (stored_expiry, digest(key)))
    response = tenant.client.get(ENDPOINT, headers={"X-API-Key": key})
    if status == 200:
        assert response.status_code == 200
    else:
        assert_error(response, 401, "UNAUTHORIZED", "API key expired")


def test_only_a_digest_of_the_key_is_stored(tenant, db):
    key = tenant.keys["admin"]
    rows = db.execute("SELECT * FROM api_keys WHERE tenant_id = %s", (tenant.id,)).fetchall()
    assert len(rows) == 3
    for row in rows:
        assert not any(isinstance(value, str) and key in value for value in row)
        assert not any(isinstance(value, bytes) and key.encode() in value for value in row)


def test_the_key_tenant_wins_over_x_tenant_id(tenant, other_tenant):
    tenant.create()
    response = tenant.client.get(ENDPOINT, headers={"X-API-Key": other_tenant.keys["viewer"],
                                                     "X-Tenant-Id": tenant.id})
    assert response.status_code == 200
    assert response.get_json() == []


def test_x_tenant_id_from_an_untrusted_address_answers_401_pointing_to_api_keys(tenant):
    response = tenant.client.get(ENDPOINT, headers={"X-Tenant-Id": tenant.id},
                                 environ_base={"REMOTE_ADDR": "203.0.113.9"})
    error = assert_error(response, 401, "UNAUTHORIZED")
    assert "API key" in error["message"]


def test_x_tenant_id_is_refused_when_no_proxy_is_trusted(database_url, tenant, make_app):
    client = make_app(TRUSTED_PROXIES="").test_client()
    assert_error(client.get(ENDPOINT, headers={"X-Tenant-Id": tenant.id}), 401, "UNAUTHORIZED")


def test_trusted_proxies_accept_cidr_ranges(database_url, tenant, make_app):
    client = make_app(TRUSTED_PROXIES="10.0.0.0/8, ::1").test_client()
    response = client.get(ENDPOINT, headers={"X-Tenant-Id": tenant.id}, environ_base={"REMOTE_ADDR": "10.2.3.4"})
    assert response.status_code == 200
    response = client.get(ENDPOINT, headers={"X-Tenant-Id": tenant.id}, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert_error(response, 401, "UNAUTHORIZED")


def test_gateway_role_defaults_to_viewer(tenant):
    assert tenant.client.get(ENDPOINT, headers={"X-Tenant-Id": tenant.id}).status_code == 200
    response = tenant.client.post(ENDPOINT, headers={"X-Tenant-Id": tenant.id}, json=valid_join())
    assert_error(response, 403, "FORBIDDEN")


@pytest.mark.parametrize("role", ["superuser", "Admin", "", "viewer "])
def test_unknown_gateway_role_answers_403(tenant, role):
    response = tenant.client.get(ENDPOINT, headers={"X-Tenant-Id": tenant.id, "X-User-Role": role})
    if role == "viewer ":
        # Surrounding whitespace is not part of a header value.
        assert response.status_code == 200
    else:
        assert_error(response, 403, "FORBIDDEN")


@pytest.mark.parametrize("tenant_id", ["t" * 256, "t\x01\x02", "bad\x7ftenant"])
def test_malformed_x_tenant_id_answers_400(client, tenant_id):
    assert_error(client.get(ENDPOINT, headers={"X-Tenant-Id": tenant_id}), 400, "BAD_REQUEST")


# -- isolation -----------------------------------------------------------------------------------

def test_list_shows_only_the_callers_joins(tenant, other_tenant):
    mine = tenant.create()
    theirs = other_tenant.create()
    assert tenant.list() == [mine]
    assert other_tenant.list() == [theirs]


def test_update_of_another_tenants_join_answers_404_and_changes_nothing(tenant, other_tenant):
    theirs = other_tenant.create()
    response = tenant.call("PUT", json={"id": theirs["id"], "status": "inactive"})
    assert_error(response, 404, "NOT_FOUND", f"Schema join {theirs['id']} not found")
    response = tenant.call("PUT", json={"id": theirs["id"], "primaryKey": "email"})
    assert_error(response, 404, "NOT_FOUND", f"Schema join {theirs['id']} not found")
    assert other_tenant.list() == [theirs]


def test_delete_of_another_tenants_join_answers_404_and_deletes_nothing(tenant, other_tenant):
    theirs = other_tenant.create()
    response = tenant.call("DELETE", query=f"?id={theirs['id']}")
    assert_error(response, 404, "NOT_FOUND", f"Schema join {theirs['id']} not found")
    assert other_tenant.list() == [theirs]


def test_another_tenants_schema_is_not_found(tenant, database_url):
    register_schemas(database_url, "t_private_" + tenant.id,
                     {"id": "sch_private", "name": "private", "displayName": None, "fields": ["customer_id"]})
    response = tenant.call("POST", json=valid_join(foreignSchemaId="sch_private"))
    assert_error(response, 400, "BAD_REQUEST", "Schema sch_private not found")
    join = tenant.create()
    response = tenant.call("PUT", json={"id": join["id"], "primarySchemaId": "sch_private"})
    assert_error(response, 400, "BAD_REQUEST", "Schema sch_private not found")
