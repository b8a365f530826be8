"""Database connections: SQLite (embedded default) and PostgreSQL, tuned for short commands.

SQLite runs in WAL with a busy timeout. Write transactions start with `BEGIN IMMEDIATE`, so two
writers queue instead of failing with "database is locked" when one upgrades a read snapshot;
read transactions start with a plain `BEGIN` and are kept short (never across engine work).

An engine command takes one pooled connection for its read and its write (`session()`); on
PostgreSQL its read runs in autocommit — one statement needs no transaction, and each round trip
saved is a fraction of a millisecond on every command.
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


class Database:
    """One connection pool plus the per-database caches (restored specs) that go with it."""

    def __init__(self, url: str, **engine_kw: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kw)
        self.dialect = self.engine.dialect.name
        self.cache: dict[Any, Any] = {}
        self._local = threading.local()

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
        with self.engine.connect() as conn:
            self._local.session = Session(conn)
            try:
                yield self._local.session
            finally:
                self._local.session = None

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
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    kw.setdefault("pool_pre_ping", True)
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
        read_only = conn.get_execution_options().get(READ_ONLY)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Session:
    """A command's connection: `read()` and `write()` open separate, short transactions on it, so
    no read snapshot is held while the engine works in between."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """One read statement (or a few that need no common snapshot); joins an open transaction."""
        if self.conn.in_transaction():
            yield self.conn
            return
        if self.conn.dialect.name == "postgresql":
            self.conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                yield self.conn
            finally:
                if self.conn.in_transaction():
                    self.conn.rollback()  # closes SQLAlchemy's autobegun marker; nothing on the server
                self.conn.execution_options(isolation_level=self.conn.default_isolation_level)
            return
        self.conn.execution_options(**{READ_ONLY: True})
        with self.conn.begin():
            yield self.conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        if self.conn.in_transaction():  # joins a batch; the batch owns the savepoints (see engine.core.timers)
            yield self.conn
            return
        self.conn.execution_options(**{READ_ONLY: False})
        with self.conn.begin():
            yield self.conn
