"""Authentication adds no database round trip on the hot path: a key is looked up once per
worker and then served from the cache until KEY_CACHE_SECONDS have passed."""
from __future__ import annotations

import time

from conftest import issue_key
from joins import store

ENDPOINT = "/api/v1/schema-joins"


def _counting_lookups(monkeypatch) -> list[bytes]:
    calls: list[bytes] = []
    real = store.find_api_key

    def find_api_key(conn, *, digest):
        calls.append(digest)
        return real(conn, digest=digest)

    monkeypatch.setattr(store, "find_api_key", find_api_key)
    return calls


def test_a_cached_key_is_not_looked_up_again(database_url, tenant, make_app, monkeypatch):
    key = issue_key(database_url, tenant.id, "viewer")
    client = make_app(KEY_CACHE_SECONDS=10.0).test_client()
    lookups = _counting_lookups(monkeypatch)
    for _ in range(20):
        assert client.get(ENDPOINT, headers={"X-API-Key": key}).status_code == 200
    assert len(lookups) == 1


def test_a_cached_key_is_looked_up_again_once_the_cache_entry_expires(database_url, tenant, make_app, monkeypatch):
    key = issue_key(database_url, tenant.id, "viewer")
    client = make_app(KEY_CACHE_SECONDS=0.3).test_client()
    lookups = _counting_lookups(monkeypatch)
    assert client.get(ENDPOINT, headers={"X-API-Key": key}).status_code == 200
    assert client.get(ENDPOINT, headers={"X-API-Key": key}).status_code == 200
    assert len(lookups) == 1
    time.sleep(0.35)
    assert client.get(ENDPOINT, headers={"X-API-Key": key}).status_code == 200
    assert len(lookups) == 2


def test_unknown_keys_are_cached_too(make_app, monkeypatch):
    client = make_app(KEY_CACHE_SECONDS=10.0).test_client()
    lookups = _counting_lookups(monkeypatch)
    for _ in range(5):
        assert client.get(ENDPOINT, headers={"X-API-Key": "krn_not_a_key"}).status_code == 401
    assert len(lookups) == 1
