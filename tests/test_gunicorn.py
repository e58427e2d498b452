"""Smoke test through real gunicorn with the project's gunicorn.conf.py."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from conftest import ROOT, valid_join

ENDPOINT = "/api/v1/schema-joins"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory) -> Iterator[int]:
    port = _free_port()
    # A file, not a pipe: gunicorn logs a line per request and must never block on a full pipe.
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    log_file = log_path.open("wb")
    env = {**os.environ, "DATABASE_URL": database_url, "GUNICORN_BIND": f"127.0.0.1:{port}",
           "GUNICORN_WORKERS": "2", "TRUSTED_PROXIES": ""}
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                               cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
    yield port
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    log_file.close()


def _request(port: int, method: str, path: str, *, headers: list[tuple[str, str]] = (), body: bytes | None = None,
             chunked: bool = False) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest(method, path)
    for name, value in headers:
        conn.putheader(name, value)
    if body is not None and not chunked:
        conn.putheader("Content-Length", str(len(body)))
    if chunked:
        conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    if body is not None:
        if chunked:
            for start in range(0, len(body), 8192):
                piece = body[start:start + 8192]
                conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            conn.send(b"0\r\n\r\n")
        else:
            conn.send(body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), data


def test_the_four_operations_through_gunicorn(server, tenant):
    key = [("X-API-Key", tenant.keys["editor"]), ("Content-Type", "application/json")]
    status, headers, body = _request(server, "POST", ENDPOINT, headers=key, body=json.dumps(valid_join()).encode())
    assert status == 201 and headers["Content-Type"] == "application/json"
    join = json.loads(body)
    status, _, body = _request(server, "GET", ENDPOINT, headers=key)
    assert status == 200 and json.loads(body) == [join]
    status, _, body = _request(server, "PUT", ENDPOINT, headers=key,
                               body=json.dumps({"id": join["id"], "status": "inactive"}).encode())
    assert status == 200 and json.loads(body)["status"] == "inactive"
    status, _, body = _request(server, "DELETE", f"{ENDPOINT}?id={join['id']}", headers=key)
    assert status == 200 and json.loads(body)["deleted"]["id"] == join["id"]


def _error(status: int, headers: dict[str, str], body: bytes) -> dict:
    assert headers["Content-Type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["status"] == status
    return error


def test_repeated_credential_headers_on_the_wire_answer_400(server, tenant):
    headers = [("X-API-Key", tenant.keys["viewer"]), ("X-API-Key", tenant.keys["admin"])]
    status, response_headers, body = _request(server, "GET", ENDPOINT, headers=headers)
    assert status == 400
    assert "X-API-Key" in _error(status, response_headers, body)["message"]


def test_chunked_body_over_the_cap_answers_413(server, tenant):
    headers = [("X-API-Key", tenant.keys["editor"]), ("Content-Type", "application/json")]
    body = b'{"name": "' + b"x" * (80 * 1024) + b'"}'
    status, response_headers, data = _request(server, "POST", ENDPOINT, headers=headers, body=body, chunked=True)
    assert status == 413
    assert _error(status, response_headers, data)["code"] == "PAYLOAD_TOO_LARGE"


def test_gateway_headers_are_refused_when_no_proxy_is_trusted(server, tenant):
    status, headers, body = _request(server, "GET", ENDPOINT, headers=[("X-Tenant-Id", tenant.id)])
    assert status == 401
    assert "API key" in _error(status, headers, body)["message"]


@pytest.mark.parametrize("method,path,status", [("GET", ENDPOINT + "/", 404), ("PATCH", ENDPOINT, 405),
                                                ("GET", "/nope", 404)])
def test_routing_errors_through_gunicorn_are_json(server, method, path, status):
    got, headers, body = _request(server, method, path)
    assert got == status
    _error(status, headers, body)


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are and read the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, dict(response.getheaders()), response.read()


@pytest.mark.parametrize("body", [
    b"zz\r\n{}\r\n0\r\n\r\n",
    b"-2\r\n{}\r\n0\r\n\r\n",
    b"2\r\n{}XX0\r\n\r\n",
    b"2\r\n{}\r\n0\r\nBad Trailer\r\n\r\n",
], ids=["bad chunk size", "negative chunk size", "missing terminator", "bad trailer"])
def test_malformed_chunked_bodies_answer_400_json(server, tenant, body):
    head = (f"POST {ENDPOINT} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {tenant.keys['editor']}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    status, headers, data = _raw(server, head.encode() + body)
    assert status == 400
    assert "could not be read" in _error(status, headers, data)["message"]


@pytest.mark.parametrize("path", ["//api/v1/schema-joins", "///api/v1/schema-joins", "/api//v1/schema-joins"])
def test_paths_with_doubled_slashes_answer_404_and_are_never_redirected(server, tenant, path):
    head = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {tenant.keys['viewer']}\r\n"
            "Connection: close\r\n\r\n")
    status, headers, data = _raw(server, head.encode())
    assert status == 404
    assert "Location" not in headers
    _error(status, headers, data)
