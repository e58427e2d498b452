"""gunicorn settings, each read from the environment.

Sizing: every worker holds up to DB_POOL_MAX_SIZE connections (one per thread is enough),
so the fleet needs hosts x GUNICORN_WORKERS x DB_POOL_MAX_SIZE connections of the database's
budget (max_connections less superuser and maintenance slots, or PgBouncer's pool).
"""
import os

# Loopback by default: exposing the port is a deployment decision, not a default.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Processes: about one per core for this mostly-waiting-on-PostgreSQL workload.
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Threads per worker overlap database waits; the pool is sized to match.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
os.environ.setdefault("DB_POOL_MAX_SIZE", str(threads))
# Kill a worker stuck this long; statement (5 s) and pool (3 s) timeouts sit well below it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM, requests in flight get this long to finish before workers are killed.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
# A short keep-alive frees threads held by idle clients.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then so slow leaks cannot accumulate (jitter avoids all at once).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
# Header limits: refuse oversized request lines and headers before the app sees them.
limit_request_line = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", "8190"))
limit_request_field_size = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", "8190"))
# Load the app in the master so a broken configuration fails the boot once, loudly;
# the pool is created closed and opened per worker below.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") == "1"
# gunicorn's control socket sits at one path per user; several instances on a host would collide.
control_socket_disable = os.environ.get("GUNICORN_CONTROL_SOCKET", "0") != "1"
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")


def _database(worker):
    return worker.wsgi.extensions["schema_joins.db"]


def post_worker_init(worker):
    """Open this worker's pool after fork: connections are never shared across processes."""
    _database(worker).open()


def worker_exit(server, worker):
    """Close this worker's connections cleanly when it stops."""
    wsgi = getattr(worker, "wsgi", None)
    if wsgi is not None:
        _database(worker).close()
