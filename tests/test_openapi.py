"""The OpenAPI document matches the behaviour: routes, and a property-based run over every operation."""
from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import FUZZ_STATS, ROOT, Tenant

DOCUMENT = json.loads((ROOT / "joins" / "openapi.json").read_text())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
# Each operation gets this many generated requests, from a fixed seed, so the run is repeatable.
EXAMPLES_PER_OPERATION = 60
CREDENTIAL_HEADERS = {"authorization", "x-api-key", "x-tenant-id", "x-user-role"}


def test_the_served_document_is_the_file(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == DOCUMENT
    assert DOCUMENT["openapi"].startswith("3.1")


def test_every_route_and_method_is_documented_and_nothing_else(app):
    served = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or not rule.rule.startswith("/api/"):
            continue
        served[rule.rule] = {method.lower() for method in rule.methods}
    documented = {path: set(item) for path, item in DOCUMENT["paths"].items()}
    for path, methods in served.items():
        # Flask answers HEAD and OPTIONS for every GET route by itself; they are documented
        # only where the service defines them.
        methods -= {"head", "options"} - documented.get(path, set())
    assert served == documented


def test_documented_error_codes_are_the_ones_the_service_uses():
    from joins.errors import CODES  # noqa: PLC0415
    error = DOCUMENT["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
    assert set(error["code"]["enum"]) == set(CODES.values())


@pytest.fixture(scope="module")
def fuzz_key(app, database_url) -> str:
    return Tenant(database_url, app.test_client()).keys["admin"]


def _runs() -> list[tuple[str, str, GenerationMode]]:
    """Every operation with valid data, and with invalid data where it has inputs to corrupt."""
    runs = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            runs.append((method, path, GenerationMode.POSITIVE))
            has_inputs = operation.get("parameters") or operation.get("requestBody") or operation.get("security", [1])
            if has_inputs:
                runs.append((method, path, GenerationMode.NEGATIVE))
    return runs


@pytest.fixture(scope="module")
def api_schema(app):
    # The document as served equals the file (test above); load it once and call the app in-process.
    loaded = schemathesis.openapi.from_dict(DOCUMENT)
    loaded.app = app
    return loaded


@pytest.mark.parametrize("method,path,mode", _runs(), ids=lambda value: getattr(value, "value", value))
def test_generated_requests_get_no_5xx_and_conform_to_the_document(api_schema, fuzz_key, method, path, mode,
                                                                   pytestconfig):
    operation = next(result.ok() for result in api_schema.get_all_operations()
                     if result.ok().method == method and result.ok().path == path)
    calls = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    def run(case) -> None:
        if mode is GenerationMode.POSITIVE and case.headers:
            # Valid data runs as the test tenant; credentials the generator made up would only
            # turn every request into a 401 (the negative run keeps them).
            for name in [name for name in case.headers if name.lower() in CREDENTIAL_HEADERS]:
                del case.headers[name]
        response = case.call_and_validate(headers={"X-API-Key": fuzz_key}, checks=CHECKS)
        calls.append(response.status_code)

    run()
    assert calls, "no request was generated"
    stats = pytestconfig.stash.setdefault(FUZZ_STATS, {})
    for status in calls:
        stats[status] = stats.get(status, 0) + 1
