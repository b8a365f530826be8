"""Round trips per request (issue 17): a claim and a complete through the REST API with a bearer
token, every statement the pool sends counted (BEGIN/COMMIT included, SQLite's PRAGMAs not)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, update

from engine.core import definitions, users
from engine.core.clock import FixedClock
from engine.core.db import Database
from engine.core.models import user_t
from tests.api_support import Api, accept_example, api  # noqa: F401  (fixture)

#: issue 17's targets, on PostgreSQL (where each statement is a network round trip); SQLite's claim
#: needs BEGIN IMMEDIATE + instance, item and event writes + COMMIT = 6 in-process calls
CLAIM_MAX = {"postgresql": 5, "sqlite": 6}
COMPLETE_MAX = 12


def _in_transaction(dbapi: Any) -> bool:
    """Whether the driver's connection has a transaction open on the server (so COMMIT is sent)."""
    if hasattr(dbapi, "info"):  # psycopg
        import psycopg

        return dbapi.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    return bool(dbapi.in_transaction)  # sqlite3


@contextmanager
def counted(db: Database) -> Iterator[dict[str, list[str]]]:
    """What reaches the server: statements (with the BEGIN psycopg sends before the first one of a
    transaction), the COMMITs and ROLLBACKs that end a real transaction, and pool checkouts."""
    seen: dict[str, list[str]] = {"statements": [], "checkouts": []}

    def on_execute(conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        if hasattr(dbapi, "info") and not dbapi.autocommit and not _in_transaction(dbapi):
            seen["statements"].append("BEGIN")
        seen["statements"].append(statement.split(None, 1)[0].upper())

    def on_end(name: str) -> Any:
        def listener(conn: Any) -> None:
            if _in_transaction(conn.connection.dbapi_connection):
                seen["statements"].append(name)
        return listener

    def on_checkout(*_: Any) -> None:
        seen["checkouts"].append("checkout")

    listeners = ((db.engine, "before_cursor_execute", on_execute), (db.engine, "commit", on_end("COMMIT")),
                 (db.engine, "rollback", on_end("ROLLBACK")), (db.engine.pool, "checkout", on_checkout))
    for target, name, fn in listeners:
        event.listen(target, name, fn)
    try:
        yield seen
    finally:
        for target, name, fn in listeners:
            event.remove(target, name, fn)


def test_claim_and_complete_stay_within_their_round_trips(api: Api) -> None:  # noqa: F811
    started = api.ok("POST", "/api/v1/process-instances", 201, json={"key": "new_connection", "data": {}},
                     as_="clerk")
    [task] = started["new_items"]
    api.ok("GET", "/api/v1/tasks?assignee=me", as_="clerk")  # warm: token user, specs, compiled statements
    for definition_id in definitions.latest_ids(api.db).values():  # called versions' specs load once per
        definitions.load(api.db, definition_id)                    # process too; "latest" is read per command
    with counted(api.db) as claim:
        api.ok("POST", f"/api/v1/tasks/{task['id']}/claim", as_="clerk")
    with counted(api.db) as complete:
        done = api.ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": accept_example()}, as_="clerk")
    assert done["status"] == "running", done
    print(f"\n{api.db.dialect}: claim {claim}\ncomplete {complete}")
    assert len(claim["statements"]) <= CLAIM_MAX[api.db.dialect], claim
    assert len(complete["statements"]) <= COMPLETE_MAX, complete
    assert len(claim["checkouts"]) == len(complete["checkouts"]) == 1


def test_a_deactivated_user_is_locked_out_within_seconds(api: Api, clock: FixedClock) -> None:  # noqa: F811
    """The signed-in user is cached per process; a change made elsewhere (another process, straight
    in the database) takes effect once the cache entry is older than `users.SIGNED_IN_TTL`."""
    api.ok("GET", "/api/v1/tasks", as_="clerk")
    with api.db.write() as conn:
        conn.execute(update(user_t).where(user_t.c.username == "clerk").values(active=False))
    with counted(api.db) as seen:
        api.ok("GET", "/api/v1/tasks", as_="clerk")  # still cached
    assert "SELECT" in seen["statements"]  # the list itself; the user came from the cache
    clock.advance(seconds=users.SIGNED_IN_TTL)
    assert api.get("/api/v1/tasks", as_="clerk").status_code == 401
