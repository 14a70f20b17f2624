"""A throwaway PostgreSQL server for tests, started from the machine's binaries.

``PgServer.start()`` runs ``initdb`` and ``pg_ctl start`` in a temporary directory, listening on
127.0.0.1 on a free port (fsync off: it is thrown away). As root the binaries refuse to run, so
they run as the ``postgres`` user through ``runuser``. Missing binaries are an error, never a
skip: CI installs PostgreSQL (``.ci/run`` → ``scripts/install``) so these tests always run.

The binaries are looked up in ``$CCP_PG_BIN``, then ``/usr/lib/postgresql/<newest>/bin``,
then ``PATH``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

# Every store test runs on both engines; PostgreSQL ones carry the `postgres` mark.
ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


class PgUnavailable(RuntimeError):
    """The PostgreSQL binaries are missing or the server did not start."""


def find_bin_dir() -> Path:
    env = os.environ.get("CCP_PG_BIN")
    if env:
        if not (Path(env) / "pg_ctl").exists():
            raise PgUnavailable(f"CCP_PG_BIN={env} has no pg_ctl")
        return Path(env)
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    for d in reversed(dirs):
        if (Path(d) / "pg_ctl").exists() and (Path(d) / "initdb").exists():
            return Path(d)
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    raise PgUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL "
        "(apt-get install postgresql; scripts/install does it) or set CCP_PG_BIN")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    bin_dir: Path
    root: Path
    port: int
    as_user: str | None  # "postgres" when we are root

    @classmethod
    def start(cls, durable: bool = False, options: str = "") -> PgServer:
        """``durable``: keep PostgreSQL's defaults (fsync, synchronous_commit on) — for
        benchmarks whose figures must include a durable commit; tests run without.
        ``options``: more ``-c name=value`` settings for the server."""
        bin_dir = find_bin_dir()
        as_user = "postgres" if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="ccp-pg-"))
        if as_user:
            shutil.chown(root, user=as_user)
            os.chmod(root, 0o700)
        server = cls(bin_dir, root, _free_port(), as_user)
        server._run("initdb", "-D", str(root / "data"), "-A", "trust", "-U", "postgres",
                    "-E", "UTF8", "--no-sync", "--locale=C")
        server._run("pg_ctl", "-D", str(root / "data"), "-l", str(root / "log"), "-w",
                    "-t", "60", "-o",
                    f"-p {server.port} -c listen_addresses=127.0.0.1 -k {root} "
                    + ("" if durable else "-c fsync=off -c synchronous_commit=off "
                       "-c full_page_writes=off ")
                    + f"-c max_connections=200 {options}", "start")
        return server

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin_dir / tool), *args]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.root)
        if proc.returncode != 0:
            log = (self.root / "log")
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise PgUnavailable(f"{tool} failed ({proc.returncode}): {proc.stderr.strip()}\n"
                                f"{tail}")

    def recycle_wal(self, segments: int) -> None:
        """Leave ``segments`` WAL segments written, then recycled by two checkpoints (as on a
        server that has been running: with ``min_wal_size`` large enough to keep them, a
        segment switch then renames a recycled file instead of creating and zero-filling a
        new 16 MB one while every commit waits)."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS wal_warm (x int)")
            for _ in range(segments):
                conn.execute("INSERT INTO wal_warm VALUES (1)")
                conn.execute("SELECT pg_switch_wal()")
            conn.execute("DROP TABLE wal_warm")
            conn.execute("CHECKPOINT")
            conn.execute("SELECT pg_switch_wal()")
            conn.execute("CHECKPOINT")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
