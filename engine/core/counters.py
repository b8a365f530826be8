"""Named counters (application numbers, field-job numbers) and the dialect's upsert.

A counter is taken with one `INSERT … ON CONFLICT DO UPDATE … RETURNING`: the first allocation of
a day creates its row and every later one increments it, in one statement. The former
UPDATE-then-INSERT let two transactions both find no row on PostgreSQL and both insert
(`UniqueViolation pk_counter`); the upsert waits on the conflicting row instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table

from engine.core.models import counter_t


def upsert(conn: Connection, table: Table) -> Any:
    """The dialect's `insert()` with `on_conflict_do_update`/`_do_nothing` (SQLite and PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def increment(conn: Connection, name: str) -> int:
    """Next value of counter `name` (1 for a new counter), in the caller's transaction."""
    stmt = upsert(conn, counter_t).values(name=name, value=1)
    stmt = stmt.on_conflict_do_update(index_elements=[counter_t.c.name],
                                      set_={"value": counter_t.c.value + 1})
    return conn.execute(stmt.returning(counter_t.c.value)).scalar_one()
