"""The schema-joins benchmark: load data, serve it under gunicorn, measure, report.

Run it through bench/run.sh (which prepares the venv and checks for wrk and pgbench):

    bench/run.sh [--duration 6] [--rounds 3] [--connections 8,32] [--keep-data] [--only list100,create]

Everything it starts (gunicorn, wrk, pgbench) is stopped on exit, failure and Ctrl-C included.
Traffic goes to 127.0.0.1 only. Results land in bench/results/<timestamp>/ (git-ignored).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench import dataset, report  # noqa: E402
from joins.migrations import migrate  # noqa: E402
from joins.queries import QUERIES  # noqa: E402

# The service under test: this checkout, or another one (to measure a change before it lands).
APP_DIR = Path(os.environ.get("BENCH_APP_DIR") or ROOT).resolve()

BIG_DB = "schema_joins_bench"
SMALL_DB = "schema_joins_bench_small"
LIST100, LIST5000 = "t_list100", "t_list5000"
WRITERS = 64          # tenants the create/update/delete loads spread over
MIXED_TENANTS = 1000  # tenants the mixed load spreads over
MIXED_DELETE_POOL = 20
WARMUP_SECONDS = 2
TRACE_SECONDS = 5
ADJACENT_FLOOR_SECONDS = 5
PGBENCH_CLIENTS = (1, 8)
# Upper bound on deletes per second, to size the delete pool so a load never runs dry.
MAX_DELETE_RATE = 4000

# name -> (name, wrk script, URL path, server, extra env for the script). "small" is the
# gunicorn serving the database that holds only the 100-join tenant.
SCENARIOS: dict[str, tuple[str, str, str, str, dict[str, str]]] = {
    name: (name, script, path, where, extra) for name, script, path, where, extra in [
        ("floor_json", "floor.lua", "/bench/json", "big", {}),
        ("floor_select1", "floor.lua", "/bench/select1", "big", {}),
        ("list100", "list.lua", "/api/v1/schema-joins", "big", {"BENCH_TENANT": "list100"}),
        ("list100_small", "list.lua", "/api/v1/schema-joins", "small", {"BENCH_TENANT": "list100"}),
        ("list5000", "list.lua", "/api/v1/schema-joins", "big", {"BENCH_TENANT": "list5000"}),
        ("create", "create.lua", "/api/v1/schema-joins", "big", {}),
        ("create_ref", "create.lua", "/bench/insert", "big", {"BENCH_REFERENCE": "1"}),
        ("update", "update.lua", "/api/v1/schema-joins", "big", {}),
        ("delete", "delete.lua", "/api/v1/schema-joins", "big", {}),
        ("mixed", "mixed.lua", "/api/v1/schema-joins", "big", {}),
    ]
}
# Scenarios measured round by round together with another (name -> partner), for their ratio.
PAIRED = {"list100": "list100_small", "create": "create_ref"}
# Single-connection runs: latency without queueing, compared with pgbench at one client.
SINGLE = ["floor_select1", "list100", "list5000"]

_children: list[subprocess.Popen] = []


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- processes --------------------------------------------------------------------------------

def _spawn(args: list[str], **kwargs: Any) -> subprocess.Popen:
    """Start a child in its own process group, remembered so that cleanup can end it."""
    process = subprocess.Popen(args, start_new_session=True, **kwargs)
    _children.append(process)
    return process


def _end(process: subprocess.Popen, grace: float) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        # The whole group: gunicorn's workers too, should the master have gone first.
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def end_children() -> None:
    while _children:
        _end(_children.pop(), grace=25)


def _run(args: list[str], *, timeout: float, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    process = _spawn(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        _end(process, grace=2)
        _children.remove(process)
    if process.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({process.returncode}): {err.strip()[-2000:]}")
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ms_per_request(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]],
                       requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request, in the app's workers and in PostgreSQL's backends."""
    result = {}
    for side in ("app", "db"):
        used = sum(after[side].get(pid, 0.0) - start for pid, start in before[side].items())
        # Backends that appeared during the load count from zero.
        used += sum(cpu for pid, cpu in after[side].items() if pid not in before[side])
        result[side] = 1000 * used / max(1, requests)
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """One gunicorn of the service, with the project's gunicorn.conf.py and floor endpoints on."""

    def __init__(self, name: str, database_url: str, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.extra_env = env or {}
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.log_path = log_dir / f"gunicorn-{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "TRUSTED_PROXIES"}}
        env.update({
            "DATABASE_URL": self.database_url,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "BENCH_FLOOR_ENDPOINTS": "1",
            "TRUSTED_PROXIES": "",
            "LOG_LEVEL": "WARNING",
            "GUNICORN_LOGLEVEL": "warning",
        })
        env.pop("GUNICORN_ACCESSLOG", None)
        env.update(self.extra_env)
        with open(self.log_path, "w") as log_file:
            self.process = _spawn([str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                                  cwd=APP_DIR, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.name} exited; see {self.log_path}:\n{self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base + "/bench/select1", timeout=2) as response:
                    if response.status == 200 and len(self.worker_pids()) >= self.expected_workers():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn {self.name} did not answer within 30 s; see {self.log_path}")

    @staticmethod
    def expected_workers() -> int:
        return int(os.environ.get("GUNICORN_WORKERS", "2"))

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return sorted(pids)

    def backend_pids(self) -> list[int]:
        """PostgreSQL backends connected to this server's database (its pools' connections)."""
        dbname = conninfo_to_dict(self.database_url)["dbname"]
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return [row[0] for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,))]

    def cpu_snapshot(self) -> dict[str, dict[int, float]]:
        """CPU seconds used so far by each worker and each backend of this server."""
        return {"app": {pid: _cpu_seconds(pid) for pid in self.worker_pids()},
                "db": {pid: _cpu_seconds(pid) for pid in self.backend_pids()}}

    def worker_rss_mb(self) -> list[float]:
        sizes = []
        for pid in self.worker_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes.append(int(line.split()[1]) / 1024)
            except OSError:
                continue
        return sizes


# -- data -------------------------------------------------------------------------------------

def _db_url(server: str, name: str) -> str:
    return make_conninfo(server, dbname=name)


def _volume_note(volume: dataset.Volume) -> str:
    return f"schema-joins bench data: {json.dumps(volume.__dict__, sort_keys=True)}"


def prepare_database(server: str, name: str, volume: dataset.Volume, keys_file: Path, keep: bool) -> dict[str, str]:
    """A fresh database named `name` holding `volume` (reused with --keep-data when it matches)."""
    note = _volume_note(volume)
    with psycopg.connect(server, autocommit=True) as conn:
        existing = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if keep and existing and existing[0] == note and keys_file.exists():
            log(f"reusing database {name}")
            return json.loads(keys_file.read_text())
        log(f"creating database {name}")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _db_url(server, name)
    migrate(url)
    started = time.monotonic()
    with psycopg.connect(url) as conn:
        keys = dataset.fill(conn, volume)
    with psycopg.connect(url, autocommit=True) as conn:
        dataset.check_references(conn)
        conn.execute("VACUUM (ANALYZE)")
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(note)))
    keys_file.write_text(json.dumps(keys))
    log(f"loaded {name} in {time.monotonic() - started:.0f} s")
    return keys


def table_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {table: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
                for table in ("data_schemas", "schema_fields", "schema_joins", "api_keys")}


def write_lua_data(path: Path, keys: dict[str, str], small_keys: dict[str, str], volume: dataset.Volume) -> None:
    """The tenants and raw keys the wrk scripts use (git-ignored, like every result)."""
    def entry(tenant: str, key: str) -> str:
        return f'{{tenant = "{tenant}", key = "{key}"}}'

    writers = [dataset.regular_tenant(volume.tenants - 1 - i) for i in range(WRITERS)]
    mixed = [dataset.regular_tenant(i) for i in range(MIXED_TENANTS)]
    lines = [
        "-- Written by bench/run.py for one run: tenants and raw API keys of the bench databases.",
        "return {",
        f"  joins_per_tenant = {volume.joins_per_tenant},",
        f"  list100 = {entry(LIST100, keys[LIST100])},",
        f"  list5000 = {entry(LIST5000, keys[LIST5000])},",
        "  writers = {" + ", ".join(entry(t, keys[t]) for t in writers) + "},",
        "  mixed = {" + ", ".join(entry(t, keys[t]) for t in mixed) + "},",
        "}",
    ]
    path.write_text("\n".join(lines) + "\n")
    # The small database has its own key for the same tenant; its own data file says so.
    path.with_name("data-small.lua").write_text(
        f"return {{ joins_per_tenant = 100, list100 = {entry(LIST100, small_keys[LIST100])} }}\n")


# -- measurements -----------------------------------------------------------------------------

def wrk(base: str, path: str, script: str, connections: int, duration: float, data_file: Path,
        extra_env: dict[str, str]) -> dict[str, Any]:
    threads = min(2, connections)
    env = dict(os.environ, BENCH_LUA_DIR=str(BENCH / "wrk"), BENCH_DATA=str(data_file),
               BENCH_THREADS=str(threads), **extra_env)
    out = _run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s",
                "-s", str(BENCH / "wrk" / script), base + path],
               timeout=duration + 60, env=env)
    line = next((l for l in out.splitlines() if l.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out[-2000:]}")
    raw = json.loads(line[len("BENCH_JSON "):])
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds,
        "p50_ms": raw["latency_us"]["p50"] / 1000,
        "p90_ms": raw["latency_us"]["p90"] / 1000,
        "p99_ms": raw["latency_us"]["p99"] / 1000,
        "non2xx": errors["status"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "mb_per_s": raw["bytes"] / seconds / 1e6,
    }


def pgbench_script(out_dir: Path) -> Path:
    """The list's own query file, with psycopg placeholders turned into pgbench variables."""
    query = QUERIES["list_schema_joins"]
    text = query.sql
    for name in query.params:
        text = text.replace(f"%({name})s", f":{name}")
    path = out_dir / "pgbench_list_schema_joins.sql"
    path.write_text(text)
    return path


def pgbench(url: str, script: Path, tenant: str, clients: int, duration: float, out_dir: Path) -> dict[str, Any]:
    prefix = out_dir / f"pgbench-{tenant}-c{clients}"
    params = conninfo_to_dict(url)
    args = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
            "-T", str(int(duration)), "-f", str(script), "-D", f"tenant_id={tenant}",
            "--log", f"--log-prefix={prefix}",
            "-h", str(params.get("host", "127.0.0.1")), "-p", str(params.get("port", 5432)),
            "-U", str(params.get("user", "postgres")), str(params["dbname"])]
    out = _run(args, timeout=duration + 60, cwd=out_dir)
    latencies: list[int] = []
    for log_file in out_dir.glob(prefix.name + ".*"):
        for line in log_file.read_text().splitlines():
            latencies.append(int(line.split()[2]))
        log_file.unlink()
    latencies.sort()
    tps = next(float(l.split("=")[1].split()[0]) for l in out.splitlines() if l.startswith("tps ="))

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] / 1000

    return {"tps": tps, "p50_ms": pct(50), "p99_ms": pct(99), "transactions": len(latencies)}


def _delete_pool_size(duration: float, tenants: int) -> int:
    return math.ceil((duration + WARMUP_SECONDS) * MAX_DELETE_RATE / tenants)




def _median_row(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-key medians of the rounds' numbers (error counts: summed)."""
    row: dict[str, Any] = {}
    for key, value in rounds[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values = [r[key] for r in rounds if r.get(key) is not None]
            summed = key in {"non2xx", "socket_errors", "requests", "transactions"}
            row[key] = sum(values) if summed else statistics.median(values)
    return row


def query_counts(log_text: str) -> dict[str, int]:
    """Executions per query file in a debug log of joins.store ("query=NAME ms=...")."""
    counts: dict[str, int] = {}
    for line in log_text.splitlines():
        if line.startswith("query="):
            name = line.split()[0][len("query="):]
            counts[name] = counts.get(name, 0) + 1
    return counts


# -- the run ----------------------------------------------------------------------------------

class Run:
    """One benchmark run: its databases, servers, scenarios and results."""

    def __init__(self, args: argparse.Namespace, argv: list[str]) -> None:
        self.args = args
        self.levels = [int(c) for c in args.connections.split(",") if c.strip()]
        self.only = {name for name in args.only.split(",") if name}
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.out_dir = BENCH / "results" / stamp
        self.out_dir.mkdir(parents=True)
        self.volume = dataset.Volume(tenants=args.tenants, joins=args.joins)
        self.writers = [dataset.regular_tenant(args.tenants - 1 - i) for i in range(WRITERS)]
        self.mixed = [dataset.regular_tenant(i) for i in range(MIXED_TENANTS)]
        self.data_files = {"big": self.out_dir / "data.lua", "small": self.out_dir / "data-small.lua"}
        self.servers: dict[str, Gunicorn] = {}
        self.results: dict[str, Any] = {
            "started": stamp,
            "command": " ".join(["bench/run.sh", *argv]),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "settings": {"duration_s": args.duration, "rounds": args.rounds, "warmup_s": WARMUP_SECONDS,
                         "connections": self.levels,
                         "gunicorn_workers": Gunicorn.expected_workers(),
                         "gunicorn_threads": int(os.environ.get("GUNICORN_THREADS", "4")),
                         "writers": WRITERS, "mixed_tenants": MIXED_TENANTS},
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                     text=True).stdout.strip(),
            "app_dir": None if APP_DIR == ROOT else str(APP_DIR),
            "http": [],
            "pgbench": [],
        }

    def wanted(self, name: str) -> bool:
        return not self.only or name in self.only

    def prepare(self) -> None:
        server = server_url()
        self.urls = {"big": _db_url(server, BIG_DB), "small": _db_url(server, SMALL_DB)}
        small_volume = dataset.Volume(tenants=0, joins=0, special={LIST100: 100})
        keys_dir = BENCH / "results"
        keys = prepare_database(server, BIG_DB, self.volume, keys_dir / f"keys-{BIG_DB}.json", self.args.keep_data)
        small_keys = prepare_database(server, SMALL_DB, small_volume, keys_dir / f"keys-{SMALL_DB}.json",
                                      self.args.keep_data)
        write_lua_data(self.data_files["big"], keys, small_keys, self.volume)
        self.results["counts"] = {where: table_counts(url) for where, url in self.urls.items()}

    def start_server(self, name: str, where: str, env: dict[str, str] | None = None) -> Gunicorn:
        gunicorn = Gunicorn(name, self.urls[where], self.out_dir, env)
        log(f"starting gunicorn ({name}) on {gunicorn.base}")
        gunicorn.start()
        self.servers[name] = gunicorn
        return gunicorn

    def stop_server(self, name: str) -> None:
        gunicorn = self.servers.pop(name)
        if gunicorn.process is not None:
            _end(gunicorn.process, grace=25)
            _children.remove(gunicorn.process)

    def load(self, name: str, gunicorn: Gunicorn, conns: int, duration: float,
             before_measure: Any = None) -> dict[str, Any]:
        """Warm up, then measure scenario `name` on `gunicorn`; delete pools are filled and emptied."""
        _, script, path, where, extra = SCENARIOS[name]
        data_file = self.data_files[where]
        pool: tuple[list[str], int] | None = None
        if name == "delete":
            pool = (self.writers, _delete_pool_size(duration, len(self.writers)))
        elif name == "mixed":
            pool = (self.mixed, MIXED_DELETE_POOL)
        if pool:
            with psycopg.connect(self.urls["big"]) as conn:
                dataset.add_delete_pool(conn, *pool)
        wrk(gunicorn.base, path, script, conns, WARMUP_SECONDS, data_file, extra)
        if pool:
            # The warm-up consumed the pool's first ids: put them back, once the deletes still
            # in flight when wrk stopped have finished.
            time.sleep(1)
            with psycopg.connect(self.urls["big"]) as conn:
                dataset.add_delete_pool(conn, *pool)
        if before_measure:
            before_measure()
        try:
            cpu_before = gunicorn.cpu_snapshot()
            result = wrk(gunicorn.base, path, script, conns, duration, data_file, extra)
            cpu = cpu_ms_per_request(cpu_before, gunicorn.cpu_snapshot(), result["requests"])
            result.update(app_cpu_ms=cpu["app"], db_cpu_ms=cpu["db"])
            return result
        finally:
            if pool:
                with psycopg.connect(self.urls["big"]) as conn:
                    dataset.drop_delete_pool(conn, pool[0])

    def measure(self, names: list[str], conns: int) -> None:
        """Run the scenarios `names` --rounds times, each round after a fresh floor (c) and,
        for the lists, followed by pgbench; record one row per scenario with the medians."""
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for _ in range(self.args.rounds):
            floor = None
            if not all(name.startswith("floor_") for name in names) and self.wanted("floor_select1"):
                # Floor (c) again right before the scenario, on the same server and connections:
                # ratios then compare loads seconds apart, not minutes, on a machine whose
                # speed drifts with whatever else runs on it.
                for seconds in (WARMUP_SECONDS, ADJACENT_FLOOR_SECONDS):
                    # The warm-up lets the previous load's last requests drain first.
                    floor = wrk(self.servers["big"].base, "/bench/select1", "floor.lua", conns,
                                seconds, self.data_files["big"], {})
            for name in names:
                result = self.load(name, self.servers[SCENARIOS[name][3]], conns, self.args.duration)
                result["floor_c_adjacent_rps"] = floor["rps"] if floor else None
                tenant = self._pgbench_tenant(name, conns)
                if tenant:
                    # Floor (a) right after the same list at the same concurrency.
                    result["pgbench"] = self.pgbench(tenant, conns)
                rounds[name].append(result)
        for name in names:
            self._record(name, conns, rounds[name], rounds)

    def _pgbench_tenant(self, name: str, conns: int) -> str | None:
        tenant = {"list100": LIST100, "list5000": LIST5000}.get(name)
        return tenant if conns in PGBENCH_CLIENTS and self.wanted("pgbench") else None

    def _record(self, name: str, conns: int, rounds: list[dict[str, Any]],
                together: dict[str, list[dict[str, Any]]]) -> None:
        gunicorn = self.servers[SCENARIOS[name][3]]
        row = _median_row(rounds)
        row.update(scenario=name, connections=conns, worker_rss_mb=gunicorn.worker_rss_mb(), rounds=rounds)
        if rounds[0]["floor_c_adjacent_rps"]:
            row["ratio_c"] = statistics.median(r["rps"] / r["floor_c_adjacent_rps"] for r in rounds)
        if "pgbench" in rounds[0]:
            row["pgbench_p50_ratio"] = statistics.median(r["p50_ms"] / r["pgbench"]["p50_ms"] for r in rounds)
            self.results["pgbench"].append(dict(_median_row([r["pgbench"] for r in rounds]),
                                                tenant=self._pgbench_tenant(name, conns), clients=conns))
        if name == "list100_small" and "list100" in together:
            # Measured in the same rounds as list100, each round seconds apart.
            pairs = list(zip(together["list100"], rounds))
            row["small_over_big_rps"] = statistics.median(small["rps"] / big["rps"] for big, small in pairs)
            row["big_over_small_p50"] = statistics.median(big["p50_ms"] / small["p50_ms"] for big, small in pairs)
        if name == "create_ref" and "create" in together:
            pairs = list(zip(together["create"], rounds))
            row["create_over_ref_rps"] = statistics.median(create["rps"] / ref["rps"] for create, ref in pairs)
        self.results["http"].append(row)
        log(f"{name:14} c={conns:<3} {row['rps']:8.0f} req/s  p50 {row['p50_ms']:7.2f} ms  "
            f"p99 {row['p99_ms']:7.2f} ms  non-2xx {row['non2xx']}  "
            f"cpu/req app {row['app_cpu_ms']:.2f} db {row['db_cpu_ms']:.2f} ms  "
            f"rss {max(row['worker_rss_mb'], default=0):.0f} MB"
            + (f"  ÷ floor (c) {row['ratio_c']:.2f}" if "ratio_c" in row else "")
            + (f"  p50 ÷ pgbench p50 {row['pgbench_p50_ratio']:.2f}" if "pgbench_p50_ratio" in row else ""))

    def settle(self) -> None:
        """Vacuum what the previous level's writes left behind before the next level starts.

        Tens of thousands of creates, updates and deletes make autovacuum visit schema_joins
        during whatever runs next; every level then starts from the same maintained table
        instead of measuring the harness's own earlier writes.
        """
        started = time.monotonic()
        with psycopg.connect(self.urls["big"], autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) schema_joins")
        log(f"vacuumed schema_joins after the previous level's writes in {time.monotonic() - started:.1f} s")

    def trace_queries(self) -> None:
        """Queries per request, by query file: a gunicorn logging joins.store at DEBUG.

        Kept apart from the timed servers (debug logging costs time); it shows what each
        request sends to PostgreSQL, authentication included.
        """
        gunicorn = self.start_server("trace", "big", {"LOG_LEVEL": "DEBUG"})
        traced: dict[str, Any] = {}
        try:
            for name in ("list100", "create", "update", "delete", "mixed"):
                offset = [0]

                def mark() -> None:
                    offset[0] = gunicorn.log_path.stat().st_size

                result = self.load(name, gunicorn, 8, TRACE_SECONDS, before_measure=mark)
                time.sleep(0.5)
                with open(gunicorn.log_path, errors="replace") as log_file:
                    log_file.seek(offset[0])
                    counts = query_counts(log_file.read())
                traced[name] = {"requests": result["requests"], "queries": counts}
                per_request = ", ".join(f"{q} {n / result['requests']:.3f}" for q, n in sorted(counts.items()))
                log(f"queries per request, {name}: {per_request}")
        finally:
            self.stop_server("trace")
        self.results["queries"] = traced

    def pgbench(self, tenant: str, clients: int) -> dict[str, Any]:
        result = pgbench(self.urls["big"], self.pgbench_file, tenant, clients, self.args.duration, self.out_dir)
        log(f"pgbench {tenant:11} c={clients:<3} {result['tps']:8.0f} tps  p50 {result['p50_ms']:7.2f} ms  "
            f"p99 {result['p99_ms']:7.2f} ms")
        return result

    def execute(self) -> None:
        self.results["machine"]["load_before"] = [round(x, 2) for x in os.getloadavg()]
        if self.results["machine"]["load_before"][0] > 0.7:
            log(f"warning: the machine is busy (load average {os.getloadavg()[0]:.2f}); ratios will be noisier")
        self.pgbench_file = pgbench_script(self.out_dir)
        self.start_server("big", "big")
        self.start_server("small", "small")
        partners = {partner for first, partner in PAIRED.items() if self.wanted(first)}
        for level, conns in enumerate(self.levels):
            if level:
                self.settle()
            for name in SCENARIOS:
                if not self.wanted(name) or name in partners:
                    continue
                partner = PAIRED.get(name)
                self.measure([name, partner] if partner and self.wanted(partner) else [name], conns)
        if any(self.wanted(name) for name in SINGLE):
            self.settle()
        for name in SINGLE:
            if self.wanted(name):
                self.measure([name], 1)
        self.stop_server("small")
        self.stop_server("big")
        if self.wanted("queries"):
            self.trace_queries()
        self.results["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]

    def write(self) -> None:
        (self.out_dir / "results.json").write_text(json.dumps(self.results, indent=2))
        markdown = report.markdown(self.results)
        (self.out_dir / "results.md").write_text(markdown)
        report.plot(self.results, self.out_dir / "results.png")
        latest = BENCH / "results" / "latest"
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(self.out_dir.name)
        print(markdown)
        log(f"results: {self.out_dir}/results.md and results.png")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=6.0,
                        help="seconds per measured load (default 6)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measurements of each scenario, each paired with its floors; the table shows "
                             "medians (default 3)")
    parser.add_argument("--connections", default="8,32", help="wrk connection counts (default 8,32)")
    parser.add_argument("--keep-data", action="store_true",
                        help="reuse the bench databases of the last run when their volume matches")
    parser.add_argument("--only", default="",
                        help="comma-separated scenarios, and/or pgbench, queries (default: everything)")
    parser.add_argument("--tenants", type=int, default=10_000, help="regular tenants (default 10000)")
    parser.add_argument("--joins", type=int, default=1_000_000, help="joins over the regular tenants (default 1M)")
    return parser.parse_args(argv)


def server_url() -> str:
    """BENCH_SERVER_URL, else the project's embedded PostgreSQL (started if needed)."""
    configured = os.environ.get("BENCH_SERVER_URL")
    if configured:
        return configured
    return subprocess.run([str(ROOT / "scripts" / "embedded-pg.sh"), "start"], check=True,
                          capture_output=True, text=True).stdout.strip()


def main(argv: list[str]) -> int:
    run = Run(parse_args(argv), argv)
    with ExitStack() as stack:
        stack.callback(end_children)
        run.prepare()
        run.execute()
    run.write()
    return 0


def _stop(signum: int, frame: Any) -> None:
    # Turn SIGTERM/SIGHUP into an exception so that every child is stopped on the way out.
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    try:
        sys.exit(main(sys.argv[1:]))
    finally:
        end_children()
