"""The bench-only endpoints: absent unless BENCH_FLOOR_ENDPOINTS=1, and doing what bench/ says."""
from __future__ import annotations

import pytest

from conftest import Tenant, valid_join

BENCH_PATHS = (("GET", "/bench/json"), ("GET", "/bench/select1"), ("POST", "/bench/insert?tenant=t"))


@pytest.mark.parametrize(("method", "path"), BENCH_PATHS)
def test_bench_endpoints_do_not_exist_by_default(client, method, path):
    assert client.open(path, method=method, json={}).status_code == 404


@pytest.fixture
def bench_client(make_app, monkeypatch):
    monkeypatch.setenv("BENCH_FLOOR_ENDPOINTS", "1")
    return make_app().test_client()


def test_floors_answer_constant_json_and_select_1(bench_client):
    assert bench_client.get("/bench/json").get_json() == {"ok": True}
    assert bench_client.get("/bench/select1").get_json() == {"ok": True}


def test_reference_insert_stores_the_row_a_create_would(bench_client, database_url):
    tenant = Tenant(database_url, bench_client)
    body = valid_join(name="reference", autoEnrich=True)
    response = bench_client.post(f"/bench/insert?tenant={tenant.id}", json=body)
    assert response.status_code == 201
    stored = response.get_json()
    assert stored["id"].startswith("sj_ref_") and stored["tenantId"] == tenant.id
    [listed] = tenant.list()
    assert {key: listed[key] for key in stored} == stored
    assert listed["autoEnrich"] is True and listed["primarySchemaName"] == "Customers"
