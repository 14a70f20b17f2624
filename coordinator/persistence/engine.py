"""Engine creation for both engines: SQLite (embedded default) and PostgreSQL (psycopg 3).

SQLite runs in WAL mode with foreign keys on; transactions are started explicitly (``BEGIN``,
or ``BEGIN IMMEDIATE`` for a writer, so that a read-then-write transaction never fails to
upgrade its lock). PostgreSQL URLs without a driver get psycopg 3.

Durability on SQLite: ``synchronous=FULL`` — each commit fsyncs the write-ahead log, so a
committed (acknowledged) transaction survives a crash of the process *and* a power loss.
``NORMAL`` would skip that fsync (WAL mode stays consistent and loses nothing on a process
crash, but the last transactions can vanish on a power loss): not acceptable for acknowledged
orders; concurrent API requests share commits instead (group commit, ``endpoint.orders``).

Writers of one SQLite file queue on a lock file beside it (:func:`sqlite_writer_lock`), across
threads and processes (several ``ccp serve api``): a blocked writer sleeps in the kernel and
wakes when the lock is released, instead of SQLite's busy handler polling with sleeps of up to
100 ms (which let one process's writer starve another's for seconds).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_MS = 30_000
#: connections kept open per engine: an API process serves requests on up to 40 threads (its
#: thread pool) plus the intake writer; with SQLAlchemy's default of 5 the others were opened
#: and closed per request (a connect and four PRAGMAs each on SQLite, a new backend on
#: PostgreSQL). Beyond ``POOL_SIZE + POOL_OVERFLOW`` a request waits for a connection.
POOL_SIZE = 20
#: PostgreSQL's ``plan_cache_mode`` for every connection of the store (:func:`make_engine`)
PG_PLAN_CACHE_MODE = "force_custom_plan"
POOL_OVERFLOW = 10
#: SQLite engine -> the path of its file's writer lock (:func:`sqlite_writer_lock`)
_WRITER_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def normalise_url(url: str) -> str:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kw) -> Engine:
    url = normalise_url(url)
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or (u.database and u.database != ":memory:"):
        kw.setdefault("pool_size", POOL_SIZE)
        kw.setdefault("max_overflow", POOL_OVERFLOW)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000,
                                                  "isolation_level": None}, **kw)
        _sqlite_setup(engine)
        if u.database and u.database != ":memory:":
            _WRITER_LOCKS[engine] = str(Path(u.database)) + "-writer.lock"
        return engine
    kw.setdefault("pool_pre_ping", True)
    # Every execution of a prepared statement planned for its parameters and the tables as
    # they are now (psycopg prepares a statement after 5 executions, and PostgreSQL may then
    # keep one generic plan): a plan chosen while a table was small stays until the next
    # ANALYZE — on a fresh store taking 2,000 orders/s, the clientOrderId lookup's mean time
    # grew 2.6 → 9 ms in a minute (README, stop 25) before autovacuum had analysed anything.
    kw.setdefault("connect_args", {"options": f"-c plan_cache_mode={PG_PLAN_CACHE_MODE}"})
    return create_engine(url, **kw)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("ccp_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


_held = threading.local()


@contextmanager
def sqlite_writer_lock(engine: Engine) -> Iterator[None]:
    """Hold the writer lock of the engine's SQLite file (``<file>-writer.lock``, an exclusive
    ``flock``) for a write transaction; nothing for PostgreSQL, an in-memory database, or a
    thread that holds it already (a nested writer then meets SQLite's busy timeout as before).
    """
    path = _WRITER_LOCKS.get(engine) if fcntl is not None else None
    if path is None or getattr(_held, "path", None) == path:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held.path = path
        try:
            yield
        finally:
            _held.path = None
    finally:
        os.close(fd)  # releases the lock
