"""gunicorn settings, each read from the environment (docs/OPERATIONS.md explains each).

Sizing: every worker holds up to DB_POOL_MAX_SIZE connections (one per thread is enough),
so the fleet needs hosts x GUNICORN_WORKERS x DB_POOL_MAX_SIZE connections of the database's
budget (max_connections less superuser and maintenance slots, or PgBouncer's pool).
"""
import atexit
import glob
import os
import shutil
import tempfile


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Loopback by default: exposing the port is a deployment decision, not a default.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Processes: about one per core for this mostly-waiting-on-PostgreSQL workload.
workers = _int("GUNICORN_WORKERS", 2)
# Threads per worker overlap database waits; the pool is sized to match.
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)
os.environ.setdefault("DB_POOL_MAX_SIZE", str(threads))
# A worker whose main loop is stuck this long is killed; statement and pool timeouts sit
# below it (checked in on_starting) so a stuck query ends as a 503, not a killed worker.
timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM, requests in flight get this long to finish before workers are killed.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 20)
# A short keep-alive frees threads held by idle clients; keep it below the load balancer's
# idle timeout so the balancer never reuses a connection gunicorn has just closed.
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Connections (open and kept-alive) one worker takes on before it stops accepting, so a
# flood queues in the kernel backlog instead of in one worker's memory.
worker_connections = _int("GUNICORN_WORKER_CONNECTIONS", 1000)
# Pending connections the kernel holds for the workers; beyond it clients are refused fast.
backlog = _int("GUNICORN_BACKLOG", 2048)
# Recycle a worker after this many requests (0: never) so slow leaks cannot accumulate; the
# jitter keeps workers from restarting together. Each new worker adds metric files (see
# docs/OPERATIONS.md), so this is off unless a leak calls for it.
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 0)
# Header limits: refuse oversized request lines and headers before the app sees them.
limit_request_line = _int("GUNICORN_LIMIT_REQUEST_LINE", 8190)
limit_request_field_size = _int("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", 8190)
# Load the app in the master so a broken configuration fails the boot once, loudly;
# the pool is created closed and opened per worker below.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") == "1"
# Workers' heartbeat files; point at a memory-backed folder (/dev/shm) in containers whose
# /tmp sits on a slow or overlay disk, where a stalled write would look like a hung worker.
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or None
# gunicorn's control socket sits at one path per user; several instances on a host would collide.
control_socket_disable = os.environ.get("GUNICORN_CONTROL_SOCKET", "0") != "1"
# The app writes one JSON line per request itself (joins/ops.py); gunicorn's own access log
# would duplicate it, so it is off unless asked for.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")


def _remove_metrics_dir(path: str, master_pid: int) -> None:
    """Remove the temporary metrics folder when the master exits, however it exits.

    Forked workers inherit this exit hook too, hence the pid check.
    """
    if os.getpid() == master_pid:
        shutil.rmtree(path, ignore_errors=True)


# Prometheus multiprocess mode: each worker writes its samples to files in this folder and
# /metrics sums them. It must be set before the app (and prometheus_client) is imported,
# which is why it is here. Unset, each gunicorn instance gets a private temporary folder,
# so two instances on one host never mix their numbers.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="schema-joins-metrics-")
    atexit.register(_remove_metrics_dir, os.environ["PROMETHEUS_MULTIPROC_DIR"], os.getpid())
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def _database(worker):
    return worker.wsgi.extensions["schema_joins.db"]


def _check_timeouts(server) -> None:
    """Refuse to start when a request's database waits could outlast gunicorn's limits."""
    config = server.app.wsgi().config if server.cfg.preload_app else None
    if config is None:
        return
    longest = float(config["DB_POOL_TIMEOUT"]) + int(config["DB_STATEMENT_TIMEOUT_MS"]) / 1000
    limit = min(server.cfg.timeout, server.cfg.graceful_timeout)
    if longest >= limit:
        raise RuntimeError(
            f"DB_POOL_TIMEOUT + DB_STATEMENT_TIMEOUT_MS ({longest:g} s) must stay below "
            f"GUNICORN_TIMEOUT and GUNICORN_GRACEFUL_TIMEOUT ({limit} s)"
        )


def on_starting(server):
    """Check the timeouts, and start the metrics from zero: samples of an earlier run are stale."""
    _check_timeouts(server)
    for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(path)


def post_worker_init(worker):
    """Open this worker's pool after fork: connections are never shared across processes."""
    _database(worker).open()
    from joins import ops

    ops.observe_pool(worker.wsgi)


def worker_exit(server, worker):
    """Close this worker's connections cleanly when it stops."""
    wsgi = getattr(worker, "wsgi", None)
    if wsgi is not None:
        _database(worker).close()


def child_exit(server, worker):
    """Drop a dead worker's gauges; its counters stay in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

