"""Database connections: SQLite (embedded default) and PostgreSQL, tuned for short commands.

SQLite runs in WAL with a busy timeout. Write transactions start with `BEGIN IMMEDIATE`, so two
writers queue instead of failing with "database is locked" when one upgrades a read snapshot;
read transactions start with a plain `BEGIN` and are kept short (never across engine work).

An engine command takes one pooled connection for its read and its write (`session()`); its
read runs in autocommit — one statement needs no transaction, and each round trip saved is a
fraction of a millisecond on every command.

PostgreSQL connections are never pinged on checkout (a ping is a round trip on every request of a
hot pool): they are recycled after `pool_recycle` seconds instead, and a connection found dead
invalidates the pool; the web app retries a request once when that happens before anything was
committed (`commits()` tells). No session state and no server-side prepared statements, so a
PgBouncer in transaction mode may sit in between (`?prepare_threshold=5` in the URL opts back in
when talking to PostgreSQL directly).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url

READ_ONLY = "yekuo_read_only"
#: SQLite: run the statements without BEGIN (a command's single read; pysqlite is in autocommit)
NO_BEGIN = "yekuo_no_begin"
POOL_RECYCLE = 300


class Database:
    """One connection pool plus the per-database caches (restored specs) that go with it."""

    def __init__(self, url: str, **engine_kw: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kw)
        self.dialect = self.engine.dialect.name
        self.cache: dict[Any, Any] = {}
        self._local = threading.local()
        event.listen(self.engine, "commit", self._count_commit)

    def _count_commit(self, _conn: Connection | None) -> None:
        self._local.commits = getattr(self._local, "commits", 0) + 1

    def commits(self) -> int:
        """Transactions this thread committed so far: a request that lost its connection is retried
        only if the count did not move (nothing it did was written)."""
        return getattr(self._local, "commits", 0)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A short read-only transaction (inside a `session()`, on the session's connection)."""
        session = getattr(self._local, "session", None)
        if session is not None:
            with session.read() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{READ_ONLY: True})
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: all of it commits, or none of it."""
        session = getattr(self._local, "session", None)
        if session is not None:
            with session.write() as conn:
                yield conn
            return
        with self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def session(self) -> Iterator["Session"]:
        """One pooled connection for everything a command reads and writes in this thread."""
        current = getattr(self._local, "session", None)
        if current is not None:
            yield current
            return
        self._local.session = session = Session(self.engine)
        try:
            yield session
        finally:
            self._local.session = None
            session.close()

    @contextlib.contextmanager
    def single(self) -> Iterator[Connection]:
        """PostgreSQL only: one statement that is its own transaction (no BEGIN/COMMIT round trips).
        Counted as a commit before it runs, like a transaction's COMMIT: a write whose answer was
        lost with the connection may have happened, so the request is not retried."""
        self._count_commit(None)
        with self.session() as session, session.single() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str, **kw: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kw.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        engine = create_engine(url, **kw)
        _tune_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        threshold = parsed.query.get("prepare_threshold", "none")
        parsed = parsed.difference_update_query(["prepare_threshold"])
        kw.setdefault("connect_args", {}).setdefault(
            "prepare_threshold", None if str(threshold).lower() in ("", "none") else int(str(threshold)))
        kw.setdefault("pool_recycle", POOL_RECYCLE)
        kw.setdefault("pool_size", 5)
        kw.setdefault("max_overflow", 10)
        return create_engine(parsed, **kw)
    return create_engine(url, **kw)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "foreign_keys=ON"):
            cur.execute("PRAGMA " + pragma)
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if not options.get(NO_BEGIN):
            conn.exec_driver_sql("BEGIN" if options.get(READ_ONLY) else "BEGIN IMMEDIATE")


class Session:
    """A command's (or a request's) connection: `read()` and `write()` open separate, short
    transactions on it, so no read snapshot is held while the engine works in between."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    @property
    def conn(self) -> Connection:
        """The pooled connection, checked out on first use (a request that never asks takes none)."""
        if self._conn is None:
            self._conn = self._engine.connect()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """One read statement (or a few that need no common snapshot); joins an open transaction."""
        if self.conn.in_transaction():
            yield self.conn
            return
        if self.conn.dialect.name == "postgresql":
            with self.single() as conn:
                yield conn
            return
        self.conn.execution_options(**{READ_ONLY: True, NO_BEGIN: True})
        try:
            with self.conn.begin():
                yield self.conn
        finally:
            self.conn.execution_options(**{NO_BEGIN: False})

    @contextlib.contextmanager
    def single(self) -> Iterator[Connection]:
        """PostgreSQL: statements that are each their own transaction (autocommit) — a read, or one
        data-modifying statement that needs no BEGIN/COMMIT around it."""
        if self.conn.in_transaction():
            yield self.conn
            return
        self.conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            yield self.conn
        finally:
            if self.conn.in_transaction():
                self.conn.rollback()  # closes SQLAlchemy's autobegun marker; nothing on the server
            self.conn.execution_options(isolation_level=self.conn.default_isolation_level)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        if self.conn.in_transaction():  # joins a batch; the batch owns the savepoints (see engine.core.timers)
            yield self.conn
            return
        self.conn.execution_options(**{READ_ONLY: False, NO_BEGIN: False})
        with self.conn.begin():
            yield self.conn
