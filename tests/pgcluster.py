"""A throwaway PostgreSQL cluster in a temporary folder, on a loopback port of its own.

For tests that stop and restart the server: they must never touch the shared cluster
(scripts/embedded-pg.sh, from port 54329) that other tests use. PostgreSQL refuses to run as
root, so under root the server runs as the `postgres` account, which owns the folder.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

# scripts/embedded-pg.sh takes the first free port from 54329 for the shared cluster.
SHARED_CLUSTER_PORTS = range(54329, 54429)


def find_bindir() -> Path:
    """Where initdb and pg_ctl live: PG_BINDIR, else the newest Debian-style install, else PATH."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                       key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0)
    if installed:
        return installed[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("no PostgreSQL server binaries found; install them or set PG_BINDIR")


def free_port() -> int:
    """A loopback port nothing listens on now, never one the shared cluster may use."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in SHARED_CLUSTER_PORTS:
            return port
    raise RuntimeError("no free port found")


class PgCluster:
    """initdb, start, stop (fast or immediate), start again, destroy."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="schema-joins-pgcluster-"))
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self._owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._owner is not None:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr.strip()}\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def init(self) -> None:
        if self._owner is not None:
            os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
        os.chmod(self.root, 0o700)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-locale", "--no-sync")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": "''",
            "max_connections": "100",
            "shared_buffers": "32MB",
            # Durability is not under test and a slow disk must not slow the tests down.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "log_min_messages": "warning",
        }
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# throwaway test cluster\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start(self, timeout: int = 30) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", str(timeout), "start",
                  timeout=timeout + 10)

    def stop(self, mode: str = "fast", timeout: int = 30) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(timeout), "stop",
                  timeout=timeout + 10)

    def running(self) -> bool:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"]
        if self._owner is not None:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def destroy(self) -> None:
        """Stop the server if it runs and remove every file of the cluster."""
        try:
            if self.data.exists() and self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        self.init()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
