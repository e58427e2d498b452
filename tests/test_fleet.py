"""The service as a fleet runs it: real gunicorn processes against a PostgreSQL of their own,
which these tests stop and restart (a private cluster, never the shared one).

Run with `-s` to see the measured outage figures.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from yoyo import read_migrations

from conftest import ROOT, CUSTOMERS, ACCOUNTS, create_database, issue_key, register_schemas, valid_join
from joins.migrations import MIGRATIONS_DIR, migrate
from pgcluster import PgCluster, free_port

ENDPOINT = "/api/v1/schema-joins"
REQUESTS_METRIC = "schema_joins_http_requests_total"


@dataclass
class Answer:
    """What one client saw of one request."""

    kind: str
    started: float
    ended: float
    status: int | None = None
    headers: dict[str, str] | None = None
    body: bytes = b""
    failure: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)


def call(port: int, method: str, path: str, *, headers: dict[str, str] | None = None, body: Any = None,
         timeout: float = 15.0, kind: str = "") -> Answer:
    """One request on a fresh connection (so requests spread over the workers)."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        all_headers = {"Connection": "close", **(headers or {})}
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        return Answer(kind, started, time.monotonic(), response.status, dict(response.getheaders()), data)
    except (OSError, http.client.HTTPException) as exc:
        return Answer(kind, started, time.monotonic(), failure=f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


class Gunicorn:
    """gunicorn -c gunicorn.conf.py wsgi:app, as an operator starts it, on a free loopback port."""

    def __init__(self, database_url: str, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.metrics_dir = workdir / f"metrics-{self.port}"
        self.metrics_dir.mkdir()
        self.errlog = workdir / f"gunicorn-{self.port}.log"
        inherited = {name: value for name, value in os.environ.items()
                     if not name.startswith(("GUNICORN_", "DB_", "PROMETHEUS_", "BENCH_"))}
        self.env = {**inherited, "DATABASE_URL": database_url, "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                    "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "4", "TRUSTED_PROXIES": "",
                    "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir), "LOG_LEVEL": "INFO", **env}
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        with open(self.errlog, "ab") as errlog:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=errlog)
        self.wait_healthy(len(self.worker_pids()) or int(self.env["GUNICORN_WORKERS"]))
        return self

    def wait_healthy(self, workers: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"gunicorn exited:\n{self.log_tail()}"
            if len(self.worker_pids()) >= workers and call(self.port, "GET", "/healthz", timeout=2).status == 200:
                return
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not become healthy:\n{self.log_tail()}")

    def worker_pids(self) -> set[int]:
        """Live worker processes: the master's children."""
        pids = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid and fields[0] not in {"Z", "X"}:
                pids.add(int(stat.parent.name))
        return pids

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.errlog.read_text(errors="replace").splitlines()[-lines:])

    def terminate(self, timeout: float = 40) -> int:
        """SIGTERM, as a deploy or scale-down sends it; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(f"gunicorn did not stop on SIGTERM:\n{self.log_tail()}") from None


# -- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with PgCluster() as pg:
        yield pg


@pytest.fixture(scope="module")
def fleet_db(cluster: PgCluster) -> str:
    url = create_database(cluster.url(), "fleet")
    migrate(url)
    return url


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fleet")


@pytest.fixture(scope="module")
def server(fleet_db: str, workdir: Path) -> Iterator[Gunicorn]:
    instance = Gunicorn(fleet_db, workdir).start()
    yield instance
    assert instance.terminate() == 0, instance.log_tail()


@dataclass
class FleetTenant:
    id: str
    headers: dict[str, str]


def new_tenant(database_url: str) -> FleetTenant:
    tenant_id = f"t_{uuid.uuid4().hex[:12]}"
    register_schemas(database_url, tenant_id, CUSTOMERS, ACCOUNTS)
    return FleetTenant(tenant_id, {"X-API-Key": issue_key(database_url, tenant_id, "editor")})


def join_names(database_url: str, tenant_id: str) -> Counter:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT name FROM schema_joins WHERE tenant_id = %s", (tenant_id,)).fetchall()
    return Counter(name for (name,) in rows)


def is_503_json(answer: Answer) -> bool:
    if answer.status != 503 or not answer.headers.get("Content-Type", "").startswith("application/json"):
        return False
    error = answer.json()["error"]
    return (error["code"] == "SERVICE_UNAVAILABLE" and error["status"] == 503 and bool(error["requestId"])
            and answer.headers.get("Retry-After", "").isdigit())


# -- database outage --------------------------------------------------------------------------

class Traffic:
    """Client threads reading and writing until told to stop; every answer is kept."""

    def __init__(self, port: int, tenant: FleetTenant, clients: int = 4, max_requests: int = 2000) -> None:
        self.port, self.tenant, self.max_requests = port, tenant, max_requests
        self.answers: list[Answer] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def _run(self, client: int) -> None:
        for n in range(self.max_requests):
            if self.stop.is_set():
                return
            if n % 3 == 2:
                name = f"outage-{client}-{n}"
                answer = call(self.port, "POST", ENDPOINT, headers=self.tenant.headers,
                              body=valid_join(name=name), kind=name)
            else:
                answer = call(self.port, "GET", ENDPOINT, headers=self.tenant.headers, kind="list")
            with self._lock:
                self.answers.append(answer)
            time.sleep(0.01)

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)

    def wait_for(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return True
            time.sleep(0.02)
        return False


def test_a_database_outage_answers_503_json_then_recovers_by_itself(server, cluster, fleet_db):
    tenant = new_tenant(fleet_db)
    try:
        with Traffic(server.port, tenant) as traffic:
            assert traffic.wait_for(lambda seen: sum(a.status == 200 for a in seen) >= 10, timeout=10)
            down_at = time.monotonic()
            cluster.stop("fast")
            stopped_at = time.monotonic()
            assert traffic.wait_for(lambda seen: any(a.status == 503 and a.started >= down_at for a in seen),
                                    timeout=10), "no 503 while the database was down"
            time.sleep(2.0)  # a few seconds of outage, with requests all along
            cluster.start()
            up_at = time.monotonic()

            def recovered(seen: list[Answer]) -> bool:
                after = [a for a in seen if a.started >= up_at + 0.5]
                return len(after) >= 40 and all(a.status is not None and a.status < 300 for a in after[-20:])

            traffic.wait_for(recovered, timeout=15)
    finally:
        if not cluster.running():
            cluster.start()

    answers = sorted(traffic.snapshot(), key=lambda a: a.started)
    failures = [a.failure for a in answers if a.failure]
    assert not failures, f"requests without an HTTP answer: {failures[:5]}"
    unexpected = [(a.kind, a.status, a.body[:200]) for a in answers if not (200 <= a.status < 300 or is_503_json(a))]
    assert not unexpected, f"only 2xx or 503 JSON with Retry-After may be seen: {unexpected[:5]}"

    slowest = max(a.ended - a.started for a in answers)
    first_503 = min(a.ended for a in answers if a.status == 503)
    last_503 = max(a.ended for a in answers if a.status == 503)
    during = [a for a in answers if down_at <= a.started < up_at]
    after_up = [a for a in answers if a.started >= up_at]
    figures = {
        "requests": len(answers),
        "by_status": dict(sorted(Counter(a.status for a in answers).items())),
        "outage_seconds": round(up_at - down_at, 2),
        "pg_ctl_stop_took_s": round(stopped_at - down_at, 3),
        "first_503_after_stop_s": round(first_503 - down_at, 3),
        "503s_during_outage": sum(a.status == 503 for a in during),
        "2xx_started_during_outage": sum(a.status < 300 for a in during),
        "last_503_after_restart_s": round(max(0.0, last_503 - up_at), 3),
        "503s_after_restart": sum(a.status == 503 for a in after_up),
        "slowest_answer_s": round(slowest, 3),
        "median_503_s": round(statistics.median(a.ended - a.started for a in answers if a.status == 503), 3),
    }
    print("\noutage figures:", json.dumps(figures))

    # Every answer within a bounded time: the pool's 3 s wait at most, never gunicorn's 30 s,
    # and a 503 comes about when the outage is known, not at the end of that wait.
    assert slowest < 3.0 + 1.0, figures
    assert figures["median_503_s"] < 1.5, figures
    assert first_503 - stopped_at < 3.0, figures
    # Recovery by itself, within a few seconds of the database's return, and it lasts.
    assert last_503 - up_at < 5.0, figures
    assert after_up and all(a.status < 300 for a in after_up if a.started > last_503), figures
    # Writes answered 201 were stored.
    stored = join_names(fleet_db, tenant.id)
    created = [a.kind for a in answers if a.status == 201]
    assert created and all(stored[name] == 1 for name in created)


def test_a_restart_between_requests_costs_no_errors(server, cluster, fleet_db):
    """Every pooled connection dies with the restart; none of them reaches a client."""
    tenant = new_tenant(fleet_db)

    def burst() -> list[Answer]:
        threads, answers = [], []
        for _ in range(16):
            thread = threading.Thread(target=lambda: answers.append(
                call(server.port, "GET", ENDPOINT, headers=tenant.headers)))
            threads.append(thread)
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        return answers

    assert [a.status for a in burst()] == [200] * 16  # pools hold several connections now
    cluster.stop("fast")
    cluster.start()
    # One client first: no request may stumble from one dead connection to the next.
    one_by_one = [call(server.port, "GET", ENDPOINT, headers=tenant.headers) for _ in range(6)]
    assert [a.status for a in one_by_one] == [200] * 6, [(a.status, a.failure, a.body[:120]) for a in one_by_one]
    assert max(a.ended - a.started for a in one_by_one) < 1.0
    answers = burst()
    assert [a.status for a in answers] == [200] * 16, [(a.status, a.failure, a.body[:120]) for a in answers]


# -- graceful shutdown ------------------------------------------------------------------------

def test_sigterm_lets_writes_in_flight_finish_and_applies_nothing_unreported(fleet_db, workdir):
    tenant = new_tenant(fleet_db)
    # Long enough lock waits that the held lock below, not a timeout, decides when writes end.
    instance = Gunicorn(fleet_db, workdir, GUNICORN_THREADS="8", DB_LOCK_TIMEOUT_MS="10000",
                        DB_STATEMENT_TIMEOUT_MS="10000").start()
    answers: dict[str, Answer] = {}

    def write(name: str) -> None:
        answers[name] = call(instance.port, "POST", ENDPOINT, headers=tenant.headers,
                             body=valid_join(name=name), timeout=30, kind=name)

    inflight: list[threading.Thread] = []
    late: list[threading.Thread] = []
    try:
        with psycopg.connect(fleet_db) as locker:
            # Hold the fields every write must lock, so writes are in flight when SIGTERM comes.
            locker.execute("SELECT 1 FROM schema_fields WHERE tenant_id = %s FOR UPDATE", (tenant.id,))
            inflight = [threading.Thread(target=write, args=(f"inflight-{n}",)) for n in range(6)]
            for thread in inflight:
                thread.start()
            with psycopg.connect(fleet_db, autocommit=True) as watcher:
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    waiting = watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'").fetchone()[0]
                    if waiting >= 6:
                        break
                    time.sleep(0.05)
                assert waiting >= 6, f"only {waiting} writes in flight"

            instance.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            # Sent after SIGTERM: refused or dropped unread, so never applied, or else answered.
            late = [threading.Thread(target=write, args=(f"late-{n}",)) for n in range(3)]
            for thread in late:
                thread.start()
            time.sleep(0.5)
            assert instance.process.poll() is None, "gunicorn did not wait for the writes in flight"
            locker.rollback()  # the writes in flight may go on now
        for thread in inflight + late:
            thread.join(timeout=40)
        assert instance.terminate() == 0, instance.log_tail()
    finally:
        if instance.process.poll() is None:
            instance.process.kill()
            instance.process.wait(timeout=10)

    stored = join_names(fleet_db, tenant.id)
    for n in range(6):
        answer = answers[f"inflight-{n}"]
        assert answer.status == 201, (answer.status, answer.failure)
        assert answer.json()["name"] == f"inflight-{n}"
    for name, answer in answers.items():
        if answer.status == 201:
            assert stored[name] == 1, name
        else:
            assert answer.failure is not None, (name, answer.status)  # no answer at all
            assert stored[name] == 0, f"{name} was stored but never reported"
    assert set(stored) <= set(answers)


# -- migrations -------------------------------------------------------------------------------

def test_two_migrate_commands_at_once_both_exit_0_and_apply_each_migration_once(cluster):
    url = create_database(cluster.url(), "fleet_migrate")
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("DB_", "BENCH_", "PROMETHEUS_"))}
    env["DATABASE_URL"] = url
    command = [sys.executable, "-m", "flask", "--app", "app", "migrate"]
    runs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)]
    outputs = [run.communicate(timeout=60) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err.decode()

    expected = sorted(migration.id for migration in read_migrations(str(MIGRATIONS_DIR)))
    applied = [migration_id for out, _ in outputs for migration_id in json.loads(out)["applied"]]
    assert sorted(applied) == expected
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT migration_id, count(*) FROM _yoyo_migration GROUP BY 1 ORDER BY 1").fetchall()
        logged = conn.execute("SELECT migration_id, count(*) FROM _yoyo_log WHERE operation = 'apply' "
                              "GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [(migration_id, 1) for migration_id in expected]
    assert logged == [(migration_id, 1) for migration_id in expected]


# -- metrics ----------------------------------------------------------------------------------

def scrape(port: int) -> dict[str, dict[tuple, float]]:
    answer = call(port, "GET", "/metrics")
    assert answer.status == 200
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(answer.body.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


LIST_OK = (("method", "GET"), ("route", ENDPOINT), ("status", "200"))


def per_worker_counts(metrics_dir: Path) -> dict[int, float]:
    """Successful list requests each worker process recorded, from its own metrics file."""
    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        for metric in MultiProcessCollector.merge([str(path)]):
            for sample in metric.samples:
                if sample.name == REQUESTS_METRIC and tuple(sorted(sample.labels.items())) == LIST_OK:
                    counts[pid] = sample.value
    return counts


def test_metrics_sum_every_worker_and_keep_the_counts_of_workers_that_exited(server, fleet_db):
    tenant = new_tenant(fleet_db)
    before = scrape(server.port)[REQUESTS_METRIC].get(LIST_OK, 0)
    per_worker_before = per_worker_counts(server.metrics_dir)

    def batch(size: int) -> None:
        threads = [threading.Thread(target=lambda: call(server.port, "GET", ENDPOINT, headers=tenant.headers))
                   for _ in range(size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    sent = 0
    for _ in range(5):  # until both workers have answered some
        batch(30)
        sent += 30
        served = per_worker_counts(server.metrics_dir)
        busy = [pid for pid, count in served.items() if count > per_worker_before.get(pid, 0)]
        if len(busy) >= 2:
            break
    assert len(busy) >= 2, f"the requests never reached two workers: {served}"

    metrics = scrape(server.port)
    assert metrics[REQUESTS_METRIC][LIST_OK] - before == sent
    assert metrics["schema_joins_http_request_duration_seconds_count"][
        (("method", "GET"), ("route", ENDPOINT))] >= sent
    pool_max = 2 * 4  # workers x DB_POOL_MAX_SIZE (= GUNICORN_THREADS)
    assert metrics["schema_joins_db_pool_max_connections"][()] == pool_max

    # A worker that exits (recycled, crashed) keeps its counts in the sums; its gauges leave.
    gone = busy[0]
    os.kill(gone, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (gone in server.worker_pids() or len(server.worker_pids()) < 2):
        time.sleep(0.1)
    server.wait_healthy(2)
    batch(10)
    sent += 10
    metrics = scrape(server.port)
    assert metrics[REQUESTS_METRIC][LIST_OK] - before == sent
    # The new worker publishes its pool gauges once it has booted, which on a loaded machine
    # can come after it first shows up as a process.
    deadline = time.monotonic() + 15
    while metrics["schema_joins_db_pool_max_connections"][()] != pool_max and time.monotonic() < deadline:
        time.sleep(0.2)
        metrics = scrape(server.port)
    assert metrics["schema_joins_db_pool_max_connections"][()] == pool_max
