"""A throwaway PostgreSQL cluster for the tests: `initdb` + `pg_ctl` on a free loopback port.

The server refuses to run as root, and the tests (and CI) run as root here, so the cluster is
made and run as an unprivileged user (`postgres`, else `nobody`) in a folder that user owns.
Every test gets its own database, cloned from a template that already holds ftui's schema.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

BINARIES = ("initdb", "pg_ctl", "postgres")
UNPRIVILEGED_USERS = ("postgres", "nobody")
TEMPLATE_DB = "ftui_template"
_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"


class ClusterUnavailable(Exception):
    """No PostgreSQL server can be started on this machine; the message says why."""


def find_bindir() -> Path:
    """The folder of PostgreSQL's server binaries: `pg_config --bindir`, what `initdb` on PATH
    points to, or Debian's versioned folder (not on PATH by default)."""
    candidates: list[Path] = []
    if os.environ.get("FTUI_TEST_PG_BINDIR"):
        candidates.append(Path(os.environ["FTUI_TEST_PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if all((folder / name).is_file() for name in BINARIES):
            return folder
    raise ClusterUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them "
        "(apt-get install postgresql) or set FTUI_TEST_PG_BINDIR")


def _run_as() -> dict:
    """subprocess arguments that run the server as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return {}
    for name in UNPRIVILEGED_USERS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    raise ClusterUnavailable(
        "running as root and no unprivileged user (postgres or nobody) exists to run the "
        "PostgreSQL server, which refuses to run as root")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgCluster:
    def __init__(self) -> None:
        self.bindir = find_bindir()
        self._as = _run_as()
        # Not pytest's tmp_path: /tmp/pytest-of-root is 0700, which the server's user can't enter.
        self.root = Path(tempfile.mkdtemp(prefix="ftui-pg-"))
        if self._as:
            os.chown(self.root, self._as["user"], self._as["group"])
        self.data = self.root / "data"
        self.port = 0
        self._started = False
        self._count = 0

    def _cmd(self, name: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bindir / name), *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, cwd=self.root, env=_server_env(),
                              timeout=60, **self._as)

    def start(self) -> PgCluster:
        made = self._cmd("initdb", "-D", str(self.data), "-A", "trust", "-U", "ftui",
                         "-E", "UTF8", "--locale=C", "--no-sync")
        if made.returncode != 0:
            self.remove()
            raise ClusterUnavailable(f"initdb failed: {made.stderr.strip()[-500:]}")
        # Throwaway data: no fsync, no full-page writes; a few tries in case the port is taken.
        for _ in range(3):
            self.port = _free_port()
            opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
            started = self._cmd("pg_ctl", "-D", str(self.data), "-o", opts, "-w",
                                "-l", str(self.root / "server.log"), "start")
            if started.returncode == 0:
                self._started = True
                atexit.register(self.stop)  # also when the session ends before teardown
                self._watchdog = self._watch()
                return self
        log = (self.root / "server.log")
        detail = log.read_text()[-800:] if log.is_file() else started.stderr
        self.remove()
        raise ClusterUnavailable(f"pg_ctl could not start the server: {detail.strip()}")

    def _watch(self) -> subprocess.Popen:
        """A sidecar that stops the server and removes its folder if this process dies without
        cleaning up (kill -9, a crash): no server is left running behind a test session."""
        stop = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
        ids = (self._as.get("user", -1), self._as.get("group", -1))
        return subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()), json.dumps(stop), str(self.root),
             json.dumps(ids)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://ftui@127.0.0.1:{self.port}/{database}"

    def _connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user="ftui", dbname=database,
                               autocommit=True)

    def _admin(self, sql: str) -> None:
        with self._connect() as conn:
            conn.execute(sql)

    def prepare_template(self) -> None:
        """A database holding ftui's schema: new test databases are copies of it."""
        from ftui.store import open_store

        self._admin(f"CREATE DATABASE {TEMPLATE_DB}")
        open_store(self.url(TEMPLATE_DB)).close()
        with self._connect(TEMPLATE_DB) as conn:
            self._tables = sorted(r[0] for r in conn.execute(_TABLES))
            self._meta = conn.execute("SELECT key, value FROM store_meta").fetchall()
        self._spare: list[str] = []

    def new_database(self) -> str:
        """An empty database with ftui's schema; returns its URL. A database a finished test
        gave back (emptied) is reused: emptying takes a fraction of a CREATE DATABASE."""
        if self._spare:
            return self.url(self._spare.pop())
        self._count += 1
        name = f"t{self._count}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
        return self.url(name)

    def give_back(self, url: str) -> None:
        """After a test: empty its database for the next one, or drop it if that fails."""
        name = url.rsplit("/", 1)[1]
        try:
            with self._connect() as admin:  # connections the test left open
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            with self._connect(name) as conn:
                if sorted(r[0] for r in conn.execute(_TABLES)) != self._tables:
                    raise RuntimeError("the test changed the schema")
                conn.execute("SET lock_timeout = '5s'")
                with conn.transaction():
                    # alembic_version stays: the copy is at the template's revision
                    data = [t for t in self._tables if t != "alembic_version"]
                    conn.execute(f"TRUNCATE {', '.join(data)} RESTART IDENTITY CASCADE")
                    for row in self._meta:
                        conn.execute("INSERT INTO store_meta (key, value) VALUES (%s, %s)", row)
            self._spare.append(name)
        except Exception:  # noqa: BLE001 - a database we cannot vouch for is not reused
            with contextlib.suppress(Exception):
                self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        if self._started:
            self._started = False
            try:
                self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except subprocess.TimeoutExpired:
                return  # the watchdog stops it and removes the folder once this process ends
            self._watchdog.kill()
            self._watchdog.wait()
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


_WATCHDOG = """
import json, os, shutil, subprocess, sys, time
parent, stop, root, (uid, gid) = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
while True:
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        break
    time.sleep(1)
as_user = {"user": uid, "group": gid, "extra_groups": []} if uid >= 0 else {}
subprocess.run(stop, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **as_user)
shutil.rmtree(root, ignore_errors=True)
"""


def _server_env() -> dict[str, str]:
    # The server's user may not read root's home or locale settings; keep it minimal.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}


def start_cluster() -> PgCluster:
    """Start a cluster with the template database ready, or raise ClusterUnavailable."""
    try:
        import psycopg  # noqa: F401
    except ImportError as err:
        raise ClusterUnavailable(
            "the PostgreSQL driver is not installed: pip install 'ftui[postgres]'") from err
    cluster = PgCluster().start()
    try:
        cluster.prepare_template()
    except BaseException:
        cluster.stop()
        raise
    return cluster
