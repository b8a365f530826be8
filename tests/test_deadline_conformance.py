"""Deadline conformance: per business type a scripted case with a frozen clock and a time for every
event, checked against a table computed by hand (DOMAIN.md §2–§3; working days exclude the start
day; a deadline is 17:00 China time; pauses move it by the working days they lasted, pause day
excluded). Nothing in the EXPECTED tables comes from the engine.

The 2027 calendar is tests/data/calendar/2027.csv (test data in the usual pattern): 元旦 1–3 Jan,
Sun 31 Jan worked, 春节 5–13 Feb, Sat 20 Feb worked. Runs on SQLite and, with
YEKUO_TEST_PG_URL, on PostgreSQL (the `db` fixture).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.core import clock as engine_clock
from engine.core import history
from engine.core.clock import CHINA
from engine.core.models import event_t
from engine.deadlines import calendar, calendar_import, calendar_watch, notices, rule_versions, sla
from tests.process_helpers import complete, deploy, drive, example, items, start_case

CAL_2027 = Path(__file__).parent / "data" / "calendar" / "2027.csv"


def T(y: int, m: int, d: int, h: int = 17, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, tzinfo=CHINA)


def _next_weekday(item: Any) -> dict[str, Any]:
    """Book the field job on the next weekday after the engine's today (the examples' dates are fixed)."""
    day = engine_clock.now().astimezone(CHINA).date() + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return example("field-appointment", appointment_date=day.isoformat())


BOOK = {"book_appointment": _next_weekday}


@pytest.fixture
def setup(db, clock):
    calendar_import.seed_from_package(db)  # official through 2026
    rule_versions.seed_rule_sets(db)  # sgcc_default active
    deploy(db)
    return db


def at(clock, when: dt.datetime) -> None:
    clock.set(when)


def table(db, iid: int) -> dict[str, tuple]:
    """key -> (start, stop, paused working days, limit, deadline, status, provisional)."""
    return {c.sla_key: (c.started_at, c.ended_at, c.paused_workdays, c.limit_workdays, c.deadline_at, c.status,
                        c.provisional) for c in sla.clocks_of(db, iid)}


def check(db, iid: int, expected: dict[str, tuple]) -> None:
    got = table(db, iid)
    assert set(got) == set(expected)
    for key, row in expected.items():
        assert got[key] == row, f"{key}: expected {row}, got {got[key]}"


def finish_hv(db, clock, iid: int, *, reported: dt.datetime, passed: dt.datetime, signed: dt.datetime,
              installed: dt.datetime, energized: dt.datetime, archived: dt.datetime,
              called_back: dt.datetime) -> None:
    """A high-voltage case from the completion report on, each event at its own time: inspection
    (passed first time), contract, meter, 送电, archive, call-back."""
    at(clock, reported)
    drive(db, iid, until="inspect")
    at(clock, passed)
    drive(db, iid, until="draft_contract")
    at(clock, signed)
    complete(db, iid, "draft_contract")
    complete(db, iid, "sign_contract")
    at(clock, installed)
    drive(db, iid, BOOK, until="energize")
    at(clock, energized)
    complete(db, iid, "energize")
    at(clock, archived)
    drive(db, iid, until="callback")
    at(clock, called_back)
    drive(db, iid)


# ---------------------------------------------------------------------------------------------
# lv_res: 三零 resident, one visit; whole process 5, call-back 2 from energizing


def test_lv_res(setup, clock):
    db = setup
    calendar_import.import_year(db, CAL_2027, actor="admin")
    at(clock, T(2027, 3, 1, 9))  # Mon
    iid = start_case(db)
    drive(db, iid, BOOK, until="energize")
    at(clock, T(2027, 3, 3, 15))  # Wed: energized
    complete(db, iid, "energize")
    at(clock, T(2027, 3, 4, 10))  # Thu: archived; the call-back opens now but counts from energizing
    drive(db, iid, until="callback")
    at(clock, T(2027, 3, 5, 16, 30))  # Fri
    drive(db, iid)
    check(db, iid, {
        # 5 WD after Mon 1 Mar: 2,3,4,5,8 → Mon 8 Mar
        "whole_process": (T(2027, 3, 1, 9), T(2027, 3, 3, 15), 0, 5, T(2027, 3, 8), "met", False),
        # 2 WD after Wed 3 Mar (energizing): 4, 5 → Fri 5 Mar
        "callback": (T(2027, 3, 3, 15), T(2027, 3, 5, 16, 30), 0, 2, T(2027, 3, 5), "met", False),
    })
    assert sla.on_time(db, iid) is True


# ---------------------------------------------------------------------------------------------
# lv_nonres: not 三零 (120 kW): scheme reply 3 after the survey; whole process 6; a late call-back


def test_lv_nonres_with_a_late_callback(setup, clock):
    db = setup
    calendar_import.import_year(db, CAL_2027, actor="admin")
    accept = example("accept", 0, customer_name="北京市和平里五金加工厂", id_type="uscc", id_number="91110105MA03QWER7R",
                     customer_category="industrial", industry="金属制品业", capacity_kw=120, supply_voltage="380V",
                     survey_with_install=False)
    at(clock, T(2027, 3, 1, 9))  # Mon
    iid = start_case(db)
    drive(db, iid, {"accept": accept, **BOOK}, until="do_survey")
    at(clock, T(2027, 3, 2, 11))  # Tue: surveyed, the scheme reply opens
    drive(db, iid, {"do_survey": 1}, until="reply_scheme")
    at(clock, T(2027, 3, 5, 16))  # Fri
    drive(db, iid, BOOK, until="energize")
    at(clock, T(2027, 3, 9, 10))  # Tue
    complete(db, iid, "energize")
    at(clock, T(2027, 3, 9, 11))
    drive(db, iid, until="callback")
    at(clock, T(2027, 3, 12, 10))  # Fri: a day late
    drive(db, iid)
    check(db, iid, {
        # 6 WD after Mon 1 Mar: 2,3,4,5,8,9 → Tue 9 Mar
        "whole_process": (T(2027, 3, 1, 9), T(2027, 3, 9, 10), 0, 6, T(2027, 3, 9), "met", False),
        # 3 WD after Tue 2 Mar (survey done): 3,4,5 → Fri 5 Mar
        "scheme_reply": (T(2027, 3, 2, 11), T(2027, 3, 5, 16), 0, 3, T(2027, 3, 5), "met", False),
        # 2 WD after Tue 9 Mar (energizing): 10, 11 → Thu 11 Mar
        "callback": (T(2027, 3, 9, 10), T(2027, 3, 12, 10), 0, 2, T(2027, 3, 11), "missed", False),
    })
    assert sla.on_time(db, iid) is False  # one late assessed step makes the case late


# ---------------------------------------------------------------------------------------------
# hv_single: ordinary 10 kV customer across the Spring Festival 2027


def test_hv_single_across_the_spring_festival(setup, clock):
    db = setup
    calendar_import.import_year(db, CAL_2027, actor="admin")
    accept = example("accept", 2, power_sources=1, important_customer=False, load_level="2", capacity_kw=1600)
    scheme = example("scheme-reply-hv", source_count=1, capacity_kva=2000)
    at(clock, T(2027, 1, 25, 10))  # Mon: accepted
    iid = start_case(db)
    drive(db, iid, {"accept": accept, **BOOK}, until="do_survey")
    at(clock, T(2027, 1, 27, 15))  # Wed: surveyed; the scheme reply counts from acceptance
    drive(db, iid, until="reply_scheme")
    at(clock, T(2027, 2, 19, 11))  # Fri: scheme answered; customer's works open (paused)
    drive(db, iid, {"reply_scheme": scheme}, until="customer_works")
    finish_hv(db, clock, iid, reported=T(2027, 3, 1, 9, 30),  # Mon: completion reported; inspection opens
              passed=T(2027, 3, 3, 14), signed=T(2027, 3, 4, 10),  # Wed, Thu
              installed=T(2027, 3, 5, 15), energized=T(2027, 3, 8, 10),  # Fri: 送电 opens; Mon
              archived=T(2027, 3, 9, 10), called_back=T(2027, 3, 10, 16))  # Tue, Wed
    check(db, iid, {
        # 22 WD after Mon 25 Jan: 26–29 (4), Sun 31 (5), 1–4 Feb (9), [5–14 春节], 15–19 (14), Sat 20 (15),
        # 22–26 (20), 1, 2 Mar (22) → 2 Mar; paused Fri 19 Feb → Mon 1 Mar: Sat 20, 22–26, 1 Mar = 7 WD
        # → 3, 4, 5, 8, 9, 10, 11 Mar → Thu 11 Mar
        "whole_process": (T(2027, 1, 25, 10), T(2027, 3, 8, 10), 7, 22, T(2027, 3, 11), "met", False),
        # 15 WD from acceptance: 26–29 (4), Sun 31 (5), 1–4 Feb (9), 15–19 (14), Sat 20 Feb (15)
        "scheme_reply": (T(2027, 1, 25, 10), T(2027, 2, 19, 11), 0, 15, T(2027, 2, 20), "met", False),
        # 5 WD after Mon 1 Mar (completion report): 2, 3, 4, 5, 8 → Mon 8 Mar
        "completion_inspection": (T(2027, 3, 1, 9, 30), T(2027, 3, 3, 14), 0, 5, T(2027, 3, 8), "met", False),
        # from the later of inspection passed (Wed 3 Mar) and contract (Thu 4 Mar): 5, 8, 9, 10, 11 → Thu 11 Mar
        "connection": (T(2027, 3, 4, 10), T(2027, 3, 8, 10), 0, 5, T(2027, 3, 11), "met", False),
        # 2 WD after Mon 8 Mar (energizing): 9, 10 → Wed 10 Mar
        "callback": (T(2027, 3, 8, 10), T(2027, 3, 10, 16), 0, 2, T(2027, 3, 10), "met", False),
    })
    assert sla.on_time(db, iid) is True


# ---------------------------------------------------------------------------------------------
# hv_dual: important customer, started in December 2026 with no 2027 calendar


def test_hv_dual_into_a_year_without_calendar(setup, clock, monkeypatch):
    db = setup
    monkeypatch.delenv("YEKUO_CALENDAR_FALLBACK", raising=False)  # the production default
    at(clock, T(2026, 12, 28, 10))  # Mon: accepted; 2027 not imported
    iid = start_case(db)
    drive(db, iid, {"accept": 2, **BOOK}, until="do_survey")
    at(clock, T(2026, 12, 30, 15))  # Wed: surveyed
    drive(db, iid, until="reply_scheme")
    # Monday–Friday over 2027: 29–31 Dec (3), 1 Jan (4), 4–8 (9), 11–15 (14), 18–22 (19), 25–29 (24),
    # 1–5 Feb (29), 8 Feb (30) → 8 Feb; whole process 32: 9 (31), 10 Feb (32) → 10 Feb
    check(db, iid, {
        "whole_process": (T(2026, 12, 28, 10), None, 0, 32, T(2027, 2, 10), "running", True),
        "scheme_reply": (T(2026, 12, 28, 10), None, 0, 30, T(2027, 2, 8), "running", True),
    })
    assert items(db, iid)["reply_scheme"].due_provisional
    assert {n["recipient_group"] for n in notices.list_notices(db) if n["kind"] == calendar_watch.KIND} == {
        "admin", "supervisor"}

    at(clock, T(2026, 12, 31, 9))  # Thu: the administrator imports 2027
    calendar_import.import_year(db, CAL_2027, actor="admin")
    # official: 29–31 Dec (3), [元旦], 4–8 (8), 11–15 (13), 18–22 (18), 25–29 (23), Sun 31 (24), 1–4 Feb (28),
    # [春节 5–14], 15 (29), 16 Feb (30) → 16 Feb; whole process: 17 (31), 18 Feb (32) → 18 Feb
    check(db, iid, {
        "whole_process": (T(2026, 12, 28, 10), None, 0, 32, T(2027, 2, 18), "running", False),
        "scheme_reply": (T(2026, 12, 28, 10), None, 0, 30, T(2027, 2, 16), "running", False),
    })
    with db.read() as conn:
        moved = sorted((history.payload_of(e)["from"], history.payload_of(e)["to"])
                       for e in conn.execute(select(event_t).where(event_t.c.instance_id == iid,
                                                                   event_t.c.type == "sla_recomputed")))
    utc = lambda t: t.astimezone(dt.timezone.utc).isoformat()  # noqa: E731
    assert moved == sorted([(utc(T(2027, 2, 8)), utc(T(2027, 2, 16))), (utc(T(2027, 2, 10)), utc(T(2027, 2, 18)))])
    assert not items(db, iid)["reply_scheme"].due_provisional

    at(clock, T(2027, 1, 20, 10))  # Wed: scheme answered; waiting for the customer's drawings (paused)
    drive(db, iid, until="receive_drawings")
    at(clock, T(2027, 1, 25, 9))  # Mon: drawings received; design review opens
    drive(db, iid, until="review_design")
    at(clock, T(2027, 2, 1, 10))  # Mon: design approved; the customer builds (paused)
    drive(db, iid, until="works_to_hidden")
    at(clock, T(2027, 2, 18, 14))  # Thu: the customer asked on Wed 17 Feb for the intermediate check
    complete(db, iid, "works_to_hidden", example("intermediate-request", intermediate_requested_on="2027-02-17"))
    at(clock, T(2027, 2, 22, 10))  # Mon: checked; works go on (paused)
    drive(db, iid, until="customer_works")
    finish_hv(db, clock, iid, reported=T(2027, 3, 1, 9), passed=T(2027, 3, 2, 10),  # Mon, Tue
              signed=T(2027, 3, 3, 10), installed=T(2027, 3, 4, 10),  # Wed, Thu
              energized=T(2027, 3, 11, 10),  # Thu: a day after the connection deadline
              archived=T(2027, 3, 11, 11), called_back=T(2027, 3, 12, 10))
    check(db, iid, {
        # 32 WD → 18 Feb; paused 20→25 Jan (21, 22, 25: 3 WD), 1→18 Feb (2, 3, 4, 15–18: 7), 22 Feb→1 Mar
        # (23–26, 1 Mar: 5) = 15 WD: 19, Sat 20, 22–26, 1–5, 8–10 Mar → Wed 10 Mar; stopped Thu 11 Mar
        "whole_process": (T(2026, 12, 28, 10), T(2027, 3, 11, 10), 15, 32, T(2027, 3, 10), "missed", False),
        "scheme_reply": (T(2026, 12, 28, 10), T(2027, 1, 20, 10), 0, 30, T(2027, 2, 16), "met", False),
        # 10 WD after Mon 25 Jan (drawings received): 26–29 (4), Sun 31 (5), 1–4 Feb (9), 15 Feb (10)
        "design_review": (T(2027, 1, 25, 9), T(2027, 2, 1, 10), 0, 10, T(2027, 2, 15), "met", False),
        # 5 WD after the customer's request on Wed 17 Feb: 18, 19, Sat 20, 22, 23 → Tue 23 Feb
        "intermediate_check": (T(2027, 2, 17, 0), T(2027, 2, 22, 10), 0, 5, T(2027, 2, 23), "met", False),
        # 5 WD after Mon 1 Mar: 2, 3, 4, 5, 8 → Mon 8 Mar
        "completion_inspection": (T(2027, 3, 1, 9), T(2027, 3, 2, 10), 0, 5, T(2027, 3, 8), "met", False),
        # from the contract (Wed 3 Mar, later than inspection passed Tue 2 Mar): 4, 5, 8, 9, 10 → Wed 10 Mar
        "connection": (T(2027, 3, 3, 10), T(2027, 3, 11, 10), 0, 5, T(2027, 3, 10), "missed", False),
        # 2 WD after Thu 11 Mar (energizing): 12, 15 → Mon 15 Mar
        "callback": (T(2027, 3, 11, 10), T(2027, 3, 12, 10), 0, 2, T(2027, 3, 15), "met", False),
    })
    assert sla.on_time(db, iid) is False


# ---------------------------------------------------------------------------------------------
# today, for real: no frozen clock


def test_accepting_a_10kv_case_today_never_blocks(db, monkeypatch):
    """The clerk accepts a 10 kV case with the real date and the production default (no fallback):
    the step completes whatever calendar years are loaded; a deadline reaching a year without one
    is provisional and announced (on 2026-12-03, 22 working days reach into 2027)."""
    monkeypatch.delenv("YEKUO_CALENDAR_FALLBACK", raising=False)
    assert abs(engine_clock.now() - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(seconds=5)  # not frozen
    calendar_import.seed_from_package(db)
    rule_versions.seed_rule_sets(db)
    deploy(db)
    iid = start_case(db)
    accept = example("accept", 2, power_sources=1, important_customer=False, load_level="2", capacity_kw=1600,
                     supply_voltage="10kV")
    complete(db, iid, "accept", accept)
    [whole] = [c for c in sla.clocks_of(db, iid) if c.sla_key == "whole_process"]
    assert (whole.limit_workdays, whole.status, whole.ended_at) == (22, "running", None)
    today = dt.datetime.now(CHINA)
    assert abs(whole.started_at - today) < dt.timedelta(minutes=5)
    loaded = {y.year for y in calendar.years(db)}
    crosses_unknown = any(y not in loaded for y in range(today.year, whole.deadline_at.astimezone(CHINA).year + 1))
    assert whole.provisional is crosses_unknown
    raised = {n["recipient_group"] for n in notices.list_notices(db) if n["kind"] == calendar_watch.KIND}
    working_today = calendar.is_workday(db, today.date(), fallback=True)
    assert raised == ({"admin", "supervisor"} if crosses_unknown and working_today else set())
