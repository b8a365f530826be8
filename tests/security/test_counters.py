"""Finding 6: 20 concurrent intakes at the first application of the day raced on the counter row.

UPDATE-then-INSERT let two transactions both see no row and both insert (`UniqueViolation
pk_counter` on PostgreSQL); one upsert per allocation cannot. Runs on SQLite and, when
YEKUO_TEST_PG_URL is set, on PostgreSQL, where the race is real.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from engine.core import step
from engine.core.clock import CHINA
from engine.dispatch import booking

THREADS = 20


def _race(fn: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    barrier = threading.Barrier(THREADS)
    values: list[Any] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            values.append(fn(i))
        except BaseException as exc:  # noqa: BLE001 - the test reports every failure
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return values, errors


def test_first_allocation_of_the_day_from_20_threads(db):
    for day in ("20260302", "20260303", "20260304"):  # a few first-of-the-day races
        values, errors = _race(lambda i: step.allocate(db, f"number:YK:{day}"))  # noqa: B023
        assert errors == []
        assert sorted(values) == list(range(1, THREADS + 1))


def test_field_job_numbers_from_20_threads(db):
    now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=CHINA)

    def book(i: int) -> str:
        with db.write() as conn:
            return booking._next_number(conn, now)

    values, errors = _race(book)
    assert errors == []
    assert sorted(values) == [f"ZY20260302-{n:04d}" for n in range(1, THREADS + 1)]
