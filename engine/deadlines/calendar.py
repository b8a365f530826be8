"""Working days (工作日): the official calendar in the `calendar_day` table, and counting in it.

Time limits in 业扩报装 are counted in working days, start day excluded (README, "Working-day
calendar"). A weekday is not simply Monday–Friday: statutory holidays are off, and 调休
Saturdays/Sundays (`adjusted_workday`) are working days. The State Council publishes a year late in
the year before, so the calendar lives in a table (filled by `calendar_import`), never in code.

A year is present completely or not at all. Counting into a year without official data refuses
with `CalendarMissing` by default, because a silently wrong deadline is worse than none; with the
fallback allowed (`YEKUO_CALENDAR_FALLBACK=1` or `fallback=True`) that year counts Monday–Friday
and every result that crossed it is marked `provisional`.

Loaded years are cached per `Database` (`db.cache`) as one flag byte per day; the cache is
dropped on import in this process; for imports made by other processes a loaded year is re-read
after `CACHE_SECONDS` (5 min) and a missing one after `MISSING_CACHE_SECONDS` (5 s — short, so a
newly imported year ends refusals almost at once, yet a fallback count over a missing year does
not query for every day).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from dataclasses import dataclass

from sqlalchemy import case, func, select

from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import YekuoError
from engine.core.models import calendar_day_t

BUSINESS_OPEN, BUSINESS_CLOSE = dt.time(9, 0), dt.time(17, 0)
CACHE_SECONDS = 300.0
MISSING_CACHE_SECONDS = 5.0
MAX_WORKDAYS = 2500  # about ten years: far beyond any time limit, small enough to stop a runaway
ONE_DAY = dt.timedelta(days=1)
_CACHE_KEY = ("calendar", "years")


class CalendarMissing(YekuoError):
    """A count reached a year with no official calendar and the fallback is not allowed."""

    code, status = "calendar_missing", 409

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(f"no official working-day calendar for {year}; "
                         f"import it with `yekuo calendar import FILE`", details={"year": year})


# ---------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class WorkdayResult:
    """The day a count ended on; `provisional` when it crossed a year counted by the fallback."""

    date: dt.date
    provisional: bool = False
    fallback_years: tuple[int, ...] = ()

    def close_at(self, close: dt.time = BUSINESS_CLOSE, tz: dt.tzinfo = CHINA) -> dt.datetime:
        """The end of that business day as an aware UTC instant (what deadlines are stored as)."""
        return dt.datetime.combine(self.date, close, tzinfo=tz).astimezone(dt.timezone.utc)

    def __str__(self) -> str:
        if not self.provisional:
            return self.date.isoformat()
        years = ", ".join(map(str, self.fallback_years))
        return f"{self.date.isoformat()} (provisional: no official calendar for {years}, counted Monday–Friday)"


@dataclass(frozen=True)
class YearInfo:
    """One loaded year, for `yekuo calendar status` and admin pages."""

    year: int
    days: int
    workdays: int
    holidays: int
    adjusted_workdays: int
    source: str
    imported_at: dt.datetime | None
    imported_by: str

    @property
    def complete(self) -> bool:
        return self.days == days_in_year(self.year)


# ---------------------------------------------------------------------------------------------
# counting


@dataclass(frozen=True)
class _Year:
    year: int
    first: int  # ordinal of 1 January
    flags: bytes  # one byte per day of the year: 1 = working day
    official: bool

    def workday(self, day: dt.date) -> bool:
        return self.flags[day.toordinal() - self.first] == 1


def add_workdays(db: Database, start: dt.date, n: int, *, fallback: bool | None = None) -> WorkdayResult:
    """The n-th working day after `start` (start day excluded), as time limits count.

    `n = 0` returns `start` itself, whatever kind of day it is: adding nothing moves nothing, so
    `workdays_between(start, add_workdays(start, n).date) == n` holds for every n ≥ 0.
    `fallback=None` takes `Settings.calendar_fallback`; see the module doc for what it changes.
    """
    if isinstance(start, dt.datetime):  # its UTC date may not be the local business date
        raise YekuoError("add_workdays takes a date; use deadline() or business_date() for an instant")
    if n < 0 or n > MAX_WORKDAYS:
        raise YekuoError(f"the number of working days must be between 0 and {MAX_WORKDAYS}, not {n}")
    day, counted, cal = start, 0, None
    fallback_years: list[int] = []
    while counted < n:
        day += ONE_DAY
        if cal is None or cal.year != day.year:
            cal = _year(db, day.year, fallback)
            if not cal.official:
                fallback_years.append(cal.year)
        counted += cal.workday(day)
    return WorkdayResult(day, bool(fallback_years), tuple(fallback_years))


def add_working_hours(db: Database, start: dt.datetime, hours: float, *, fallback: bool | None = None,
                      tz: dt.tzinfo = CHINA) -> tuple[dt.datetime, bool]:
    """The instant `hours` of business time (09:00–17:00 of working days) after `start`, and whether
    a year without an official calendar was counted (provisional).

    Escalations and limits in hours count like this, so a delay after a 17:00 deadline lands the
    next working morning instead of in the evening or on a holiday."""
    if start.tzinfo is None:
        raise YekuoError("add_working_hours takes an aware instant")
    if hours < 0 or hours > MAX_WORKDAYS * 8:
        raise YekuoError(f"the number of working hours must be between 0 and {MAX_WORKDAYS * 8}, not {hours}")
    remaining, local = dt.timedelta(hours=hours), start.astimezone(tz)
    if not remaining:
        return start, False
    day, provisional = local.date(), False
    while True:
        cal = _year(db, day.year, fallback)
        provisional |= not cal.official
        if cal.workday(day):
            lo = max(local, dt.datetime.combine(day, BUSINESS_OPEN, tzinfo=tz))
            hi = dt.datetime.combine(day, BUSINESS_CLOSE, tzinfo=tz)
            if hi > lo:
                if remaining <= hi - lo:
                    return (lo + remaining).astimezone(dt.timezone.utc), provisional
                remaining -= hi - lo
        day += ONE_DAY


def workdays_between(db: Database, a: dt.date, b: dt.date, *, fallback: bool | None = None) -> int:
    """Working days in (a, b] — the elapsed working time from `a` to `b`; negative if b < a.

    The inverse of `add_workdays`. With the fallback, a year without official data counts
    Monday–Friday, so the result is an estimate.
    """
    if b < a:
        return -workdays_between(db, b, a, fallback=fallback)
    total, lo = 0, a + ONE_DAY
    while lo <= b:
        cal = _year(db, lo.year, fallback)
        hi = min(b, dt.date(lo.year, 12, 31))
        total += cal.flags[lo.toordinal() - cal.first:hi.toordinal() - cal.first + 1].count(1)
        lo = hi + ONE_DAY
    return total


def is_workday(db: Database, day: dt.date, *, fallback: bool | None = None) -> bool:
    """Whether `day` is a working day in the official calendar (weekday-only under the fallback)."""
    return _year(db, day.year, fallback).workday(day)


def has_year(db: Database, year: int) -> bool:
    """Whether the official calendar of `year` is loaded."""
    return _load_year(db, year) is not None


def business_date(instant: dt.datetime, tz: dt.tzinfo = CHINA) -> dt.date:
    """The local (China) calendar date of an instant: counting starts from the local day."""
    if instant.tzinfo is None:
        raise YekuoError("a naive datetime has no business date; give it a UTC offset")
    return instant.astimezone(tz).date()


def deadline(db: Database, start: dt.datetime, n_workdays: int, *, close: dt.time = BUSINESS_CLOSE,
             tz: dt.tzinfo = CHINA, fallback: bool | None = None) -> dt.datetime:
    """End of the business day (17:00 China time by default) of the n-th working day after the
    start's local date, as an aware UTC instant: a limit of N days is met by close of business.

    Use `add_workdays(...).close_at()` instead when the `provisional` flag is needed too.
    """
    return add_workdays(db, business_date(start, tz), n_workdays, fallback=fallback).close_at(close, tz)


def _year(db: Database, year: int, fallback: bool | None) -> _Year:
    found = _load_year(db, year)
    if found is not None:
        return found
    if fallback is None:
        from engine.core import config

        fallback = config.from_env().calendar_fallback
    if not fallback:
        raise CalendarMissing(year)
    return _weekends_only(year)


def _load_year(db: Database, year: int) -> _Year | None:
    cache: dict[int, tuple[float, _Year | None]] = db.cache.setdefault(_CACHE_KEY, {})
    hit = cache.get(year)
    if hit is not None and time.monotonic() - hit[0] < (CACHE_SECONDS if hit[1] else MISSING_CACHE_SECONDS):
        return hit[1]
    t = calendar_day_t
    with db.read() as conn:
        rows = conn.execute(select(t.c.date, t.c.is_workday).where(t.c.year == year)).all()
    if not rows:
        cache[year] = (time.monotonic(), None)
        return None
    first = dt.date(year, 1, 1).toordinal()
    flags = bytearray(days_in_year(year))
    for day, working in rows:
        flags[day.toordinal() - first] = 1 if working else 0
    if len(rows) != len(flags):  # imports and seeding never leave a partial year; a hand edit might
        raise YekuoError(f"the working-day calendar for {year} is incomplete ({len(rows)} of "
                         f"{len(flags)} days); re-import it with `yekuo calendar import FILE`")
    cal = _Year(year, first, bytes(flags), official=True)
    cache[year] = (time.monotonic(), cal)
    return cal


@functools.lru_cache(maxsize=64)
def _weekends_only(year: int) -> _Year:
    first = dt.date(year, 1, 1).toordinal()
    flags = bytes(1 if dt.date.fromordinal(first + i).weekday() < 5 else 0 for i in range(days_in_year(year)))
    return _Year(year, first, flags, official=False)


def days_in_year(year: int) -> int:
    """365 or 366."""
    return (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days


def invalidate(db: Database) -> None:
    """Forget the cached years of this database (after any change to `calendar_day`)."""
    db.cache.pop(_CACHE_KEY, None)


# ---------------------------------------------------------------------------------------------
# loaded years


def years(db: Database) -> list[YearInfo]:
    """Every year in the table with its counts and provenance, oldest first."""
    t = calendar_day_t
    q = (select(t.c.year, func.count(), func.sum(case((t.c.is_workday, 1), else_=0)),
                func.sum(case((t.c.kind == "holiday", 1), else_=0)),
                func.sum(case((t.c.kind == "adjusted_workday", 1), else_=0)),
                func.max(t.c.source), func.max(t.c.imported_at), func.max(t.c.imported_by))
         .group_by(t.c.year).order_by(t.c.year))
    with db.read() as conn:
        rows = conn.execute(q).all()
    return [YearInfo(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), r[5], _aware(r[6]), r[7]) for r in rows]


def _aware(value: dt.datetime | str | None) -> dt.datetime | None:
    """`max()` bypasses the column type on SQLite, which then hands back naive text."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def export_csv(db: Database, year: int) -> str:
    """A year in the import format: the easiest start for next year's file."""
    t = calendar_day_t
    with db.read() as conn:
        rows = conn.execute(select(t.c.date, t.c.kind, t.c.name, t.c.source)
                            .where(t.c.year == year).order_by(t.c.date)).all()
    if not rows:
        raise CalendarMissing(year)
    lines = [f"# working-day calendar {year}, exported from Yekuo (source: {rows[0].source})", "date,type,name"]
    lines += [f"{r.date.isoformat()},{r.kind},{_csv_field(r.name or '')}" for r in rows]
    return "\n".join(lines) + "\n"


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def special_days(db: Database, year: int) -> list[tuple[dt.date, str, str | None]]:
    """The holidays and adjusted working days (调休) of a loaded year: (date, kind, name), in order."""
    t = calendar_day_t
    with db.read() as conn:
        rows = conn.execute(select(t.c.date, t.c.kind, t.c.name).where(
            t.c.year == year, t.c.kind.in_(("holiday", "adjusted_workday"))).order_by(t.c.date)).all()
    return [(r.date, r.kind, r.name) for r in rows]
