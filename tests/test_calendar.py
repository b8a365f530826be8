"""Working days (README.md, "Working-day calendar"): the official calendar table, counting in it, importing a year, the CLI.

Dates used below, from the official 2026 calendar (chinesecalendar 1.11.0):
- Spring Festival: 15–23 Feb off; Sat 14 Feb and Sat 28 Feb are 调休 working days.
- Mid-Autumn 25–27 Sep and National Day 1–7 Oct off; Sun 20 Sep and Sat 10 Oct are 调休 working days.
tests/data/calendar/2027.csv is *test data* in the usual pattern (1–3 Jan off, 5–13 Feb off, …).
"""

from __future__ import annotations

import datetime as dt
import json

import chinese_calendar
import pytest
from sqlalchemy import func, select

from engine.core import config
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import YekuoError
from engine.core.models import calendar_day_t
from engine.deadlines import calendar, calendar_import
from tests.cli_support import yekuo
from tests.conftest import DATA

D = dt.date.fromisoformat
FILE_2027 = DATA / "calendar" / "2027.csv"


def line_of(day: str) -> int:
    """Line of a date in 2027.csv: two comment lines and the header come first."""
    return 3 + D(day).timetuple().tm_yday


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Database, int]]:
    """Isolate `after_import` from other modules' hooks and record the calls."""
    calls: list[tuple[Database, int]] = []
    monkeypatch.setattr(calendar_import, "after_import", [lambda db, year: calls.append((db, year))])
    return calls


# ---------------------------------------------------------------------------------------------
# the seeded calendar


def test_seeding_copies_the_package_and_is_repeatable(db, hooks):
    added = calendar_import.seed_from_package(db)
    years = calendar_import.package_years()
    assert years[0] == 2004 and years[-1] >= 2026
    assert added == sum(calendar.days_in_year(y) for y in years)
    assert calendar_import.seed_from_package(db) == 0
    assert sorted({y for _, y in hooks}) == years  # provisional deadlines may be recomputed for them
    info = {y.year: y for y in calendar.years(db)}
    assert info[2026].source == calendar_import.package_source() and info[2026].source.startswith("chinesecalendar 1.")
    assert (info[2026].days, info[2026].adjusted_workdays) == (365, 6) and info[2026].complete
    for day in (D("2026-01-01") + dt.timedelta(days=i) for i in range(365)):
        assert calendar.is_workday(db, day) == chinese_calendar.is_workday(day), day
    with db.read() as conn:
        kinds = dict(conn.execute(select(calendar_day_t.c.date, calendar_day_t.c.kind + ":" + func.coalesce(
            calendar_day_t.c.name, ""))
            .where(calendar_day_t.c.date.in_([D("2026-02-14"), D("2026-02-17"), D("2026-03-07"),
                                               D("2026-03-09"), D("2026-10-01")]))).all())
    assert kinds == {D("2026-02-14"): "adjusted_workday:春节", D("2026-02-17"): "holiday:春节",
                     D("2026-03-07"): "weekend:", D("2026-03-09"): "workday:", D("2026-10-01"): "holiday:国庆节"}


def test_spring_festival_2026(calendar_db):
    db = calendar_db
    result = calendar.add_workdays(db, D("2026-02-13"), 5)
    assert (result.date, result.provisional, str(result)) == (D("2026-02-27"), False, "2026-02-27")
    steps = [calendar.add_workdays(db, D("2026-02-13"), n).date for n in range(1, 7)]
    assert steps == [D("2026-02-14"), D("2026-02-24"), D("2026-02-25"), D("2026-02-26"), D("2026-02-27"),
                     D("2026-02-28")]  # Saturdays 14 and 28 Feb are 调休 working days
    assert calendar.workdays_between(db, D("2026-02-13"), D("2026-02-27")) == 5
    assert calendar.workdays_between(db, D("2026-02-27"), D("2026-02-13")) == -5
    assert calendar.workdays_between(db, D("2026-02-15"), D("2026-02-23")) == 0


def test_national_day_2026(calendar_db):
    db = calendar_db
    assert calendar.add_workdays(db, D("2026-09-19"), 1).date == D("2026-09-20")  # Sunday, 调休
    after = [calendar.add_workdays(db, D("2026-09-29"), n).date for n in range(1, 6)]
    assert after == [D("2026-09-30"), D("2026-10-08"), D("2026-10-09"), D("2026-10-10"), D("2026-10-12")]
    assert calendar.add_workdays(db, D("2026-09-24"), 1).date == D("2026-09-28")  # Mid-Autumn 25–27 Sep
    assert [calendar.is_workday(db, D(d)) for d in ("2026-10-03", "2026-10-07", "2026-10-10", "2026-10-11")] \
        == [False, False, True, False]


def test_counting_is_consistent_across_the_year(calendar_db):
    db = calendar_db
    for offset in range(0, 330, 3):
        start = D("2026-01-01") + dt.timedelta(days=offset)
        assert calendar.add_workdays(db, start, 0).date == start  # n = 0: the start itself, whatever it is
        for n in (1, 5, 22):
            end = calendar.add_workdays(db, start, n).date
            assert calendar.is_workday(db, end) and calendar.workdays_between(db, start, end) == n
    assert calendar.add_workdays(db, D("2025-12-30"), 2).date == D("2026-01-04")  # across years, Sun 调休
    with pytest.raises(YekuoError, match="between 0 and"):
        calendar.add_workdays(db, D("2026-03-02"), -1)


def test_deadline_is_close_of_business_china_time(calendar_db):
    db = calendar_db
    assert calendar.deadline(db, dt.datetime(2026, 2, 13, 15, 0, tzinfo=CHINA), 5) == \
        dt.datetime(2026, 2, 27, 17, 0, tzinfo=CHINA)
    # 20:00 UTC on the 13th is already Saturday the 14th in Beijing: counting starts from there
    late = dt.datetime(2026, 2, 13, 20, 0, tzinfo=dt.timezone.utc)
    assert calendar.deadline(db, late, 5) == dt.datetime(2026, 2, 28, 17, 0, tzinfo=CHINA)
    assert calendar.deadline(db, late, 5, close=dt.time(18, 30)) == dt.datetime(2026, 2, 28, 18, 30, tzinfo=CHINA)
    assert calendar.deadline(db, late, 5).tzinfo == dt.timezone.utc
    with pytest.raises(YekuoError, match="naive"):
        calendar.deadline(db, dt.datetime(2026, 2, 13, 15, 0), 5)


# ---------------------------------------------------------------------------------------------
# a year without official data


def test_2027_is_refused_by_default(calendar_db, monkeypatch):
    monkeypatch.delenv("YEKUO_CALENDAR_FALLBACK", raising=False)
    db = calendar_db
    with pytest.raises(calendar.CalendarMissing) as err:
        calendar.add_workdays(db, D("2026-12-28"), 5)
    assert err.value.message == "no official working-day calendar for 2027; import it with `yekuo calendar import FILE`"
    assert (err.value.year, err.value.code) == (2027, "calendar_missing")
    assert isinstance(err.value, YekuoError)
    with pytest.raises(calendar.CalendarMissing):
        calendar.is_workday(db, D("2027-01-04"))
    with pytest.raises(calendar.CalendarMissing, match="2023"):
        calendar.workdays_between(db, D("2023-12-01"), D("2024-01-10"))
    assert calendar.add_workdays(db, D("2026-12-28"), 3).date == D("2026-12-31")  # not reaching 2027 is fine


def test_fallback_is_provisional_until_the_year_is_imported(calendar_db, hooks, monkeypatch):
    db = calendar_db
    provisional = calendar.add_workdays(db, D("2026-12-28"), 5, fallback=True)
    assert (provisional.date, provisional.provisional, provisional.fallback_years) == (D("2027-01-04"), True, (2027,))
    assert "provisional" in str(provisional)
    monkeypatch.setenv("YEKUO_CALENDAR_FALLBACK", "1")  # the configured default
    assert calendar.add_workdays(db, D("2026-12-28"), 5).provisional
    assert calendar.add_workdays(db, D("2026-12-28"), 3).provisional is False  # never crossed 2027

    report = calendar_import.import_year(db, FILE_2027, actor="admin")
    assert (report.year, report.changed, report.previous_source, report.source) == (2027, True, None, "import:2027.csv")
    assert (report.days, report.workdays, report.holidays, report.adjusted_workdays) == (365, 248, 29, 5)
    assert hooks == [(db, 2027)]
    official = calendar.add_workdays(db, D("2026-12-28"), 5)
    assert (official.date, official.provisional) == (D("2027-01-05"), False)  # 1 Jan 2027 is 元旦
    info = calendar.years(db)[-1]
    assert (info.year, info.source, info.imported_by, info.complete) == (2027, "import:2027.csv", "admin", True)
    assert info.imported_at is not None and info.imported_at.tzinfo is not None

    again = calendar_import.import_year(db, FILE_2027, actor="admin")
    assert (again.changed, again.changed_days, again.source) == (False, 0, "import:2027.csv")
    assert hooks == [(db, 2027)]  # identical content: no write, no recomputation


def test_fallback_setting_reads_the_environment():
    assert config.from_env({}).calendar_fallback is False
    assert config.from_env({"YEKUO_CALENDAR_FALLBACK": "1"}).calendar_fallback is True
    assert config.from_env({"YEKUO_CALENDAR_FALLBACK": "true"}).calendar_fallback is True
    assert config.from_env({"YEKUO_CALENDAR_FALLBACK": "0"}).calendar_fallback is False


# ---------------------------------------------------------------------------------------------
# importing


def _json_2027() -> bytes:
    days = []
    for line in FILE_2027.read_text(encoding="utf-8").splitlines()[3:]:
        date, kind, name = line.split(",")
        days.append({"date": date, "type": kind, "name": name})
    return json.dumps({"year": 2027, "days": days}, ensure_ascii=False, indent=1).encode()


def test_json_and_csv_are_the_same_calendar(calendar_db, hooks):
    db = calendar_db
    report = calendar_import.import_year(db, _json_2027(), actor="admin", name="2027.json")
    assert (report.changed, report.holidays, report.source) == (True, 29, "import:2027.json")
    assert calendar_import.import_year(db, FILE_2027, actor="admin").changed is False
    assert calendar.is_workday(db, D("2027-02-20")) and not calendar.is_workday(db, D("2027-02-08"))


def test_replacing_a_year_is_atomic_and_recorded(calendar_db, hooks):
    db = calendar_db
    calendar_import.import_year(db, FILE_2027, actor="admin")
    fixed = FILE_2027.read_bytes().replace("2027-06-09,holiday,端午".encode(), b"2027-06-09,workday,")
    report = calendar_import.import_year(db, fixed, actor="admin", name="2027-fix.csv")
    assert (report.changed, report.changed_days, report.previous_source) == (True, 1, "import:2027.csv")
    assert calendar.is_workday(db, D("2027-06-09"))
    broken = fixed.replace(b"2027-06-10,workday,", b"2027-06-10,weekend,")
    with pytest.raises(calendar_import.CalendarImportError):
        calendar_import.import_year(db, broken, actor="admin", name="2027-bad.csv")
    assert calendar.years(db)[-1].source == "import:2027-fix.csv"  # the refused file changed nothing
    assert len(hooks) == 2


def test_seeding_never_overwrites_an_imported_year(calendar_db, hooks):
    db = calendar_db
    exported = calendar.export_csv(db, 2026)
    assert exported.splitlines()[1] == "date,type,name" and "2026-02-14,adjusted_workday,春节" in exported
    same = calendar_import.import_year(db, exported.encode(), actor="admin", name="2026.csv")
    assert (same.changed, same.source) == (False, f"{calendar_import.package_source()}")  # identical content: no-op
    edited = exported.replace("2026-12-31,workday,", "2026-12-31,holiday,地方假日")
    assert calendar_import.import_year(db, edited.encode(), actor="admin", name="2026-local.csv").changed_days == 1
    assert calendar_import.seed_from_package(db, only=[2026]) == 0
    assert not calendar.is_workday(db, D("2026-12-31"))
    assert [y.source for y in calendar.years(db) if y.year == 2026] == ["import:2026-local.csv"]


def _edit(replace: dict[str, str | None] | None = None, append: str | None = None) -> bytes:
    """2027.csv with lines replaced (None deletes), found by their date."""
    out = []
    for line in FILE_2027.read_text(encoding="utf-8").splitlines():
        key = line.split(",")[0]
        if replace and key in replace:
            if replace[key] is not None:
                out.append(replace[key])
        else:
            out.append(line)
    if append:
        out.append(append)
    return ("\n".join(out) + "\n").encode()


MARCH = {f"2027-03-{d:02d}": None for d in range(1, 32)}
REFUSALS = {
    "missing dates": (_edit(MARCH), f"2027.csv:{line_of('2027-02-28')}: missing 2027-03-01 … 2027-03-31 (31 days) "
                                    f"after 2027-02-28"),
    "duplicate date": (_edit(append="2027-01-05,workday,"),
                       f"2027.csv:369: 2027-01-05 listed twice: first on line {line_of('2027-01-05')}"),
    "conflicting duplicate": (_edit(append="2027-01-05,holiday,假日"),
                              "2027.csv:369: 2027-01-05 listed twice with conflicting types (workday there, holiday "
                              f"here): first on line {line_of('2027-01-05')}"),
    "weekend on a Tuesday": (_edit({"2027-01-05": "2027-01-05,weekend,"}),
                             f"2027.csv:{line_of('2027-01-05')}: 2027-01-05 is a Tuesday, not a weekend day"),
    "adjusted_workday on a Wednesday": (_edit({"2027-01-06": "2027-01-06,adjusted_workday,春节"}),
                                        f"2027.csv:{line_of('2027-01-06')}: 2027-01-06 is a Wednesday: "
                                        "adjusted_workday (调休) is only for a Saturday or Sunday"),
    "workday on a Saturday": (_edit({"2027-01-09": "2027-01-09,workday,"}),
                              f"2027.csv:{line_of('2027-01-09')}: 2027-01-09 is a Saturday: a working Saturday is "
                              "type adjusted_workday"),
    "wrong year mix": (_edit({"2027-12-31": "2028-01-01,holiday,元旦"}),
                       f"2027.csv:{line_of('2027-12-31')}: 2028-01-01 is not in 2027: a file holds exactly one year"),
    "malformed line": (_edit({"2027-01-07": "2027-01-07;workday"}),
                       f"2027.csv:{line_of('2027-01-07')}: expected 3 fields `date,type,name`, found 1"),
    "not a date": (_edit({"2027-01-07": "07/01/2027,workday,"}),
                   f"2027.csv:{line_of('2027-01-07')}: '07/01/2027' is not a date like 2027-01-01"),
    "impossible date": (_edit(append="2027-02-30,workday,"), "2027.csv:369: 2027-02-30 is not a real date"),
    "unknown type": (_edit({"2027-01-07": "2027-01-07,holyday,"}),
                     f"2027.csv:{line_of('2027-01-07')}: 2027-01-07: unknown type 'holyday'"),
    "no header": (b"2027-01-01,holiday,\n", "2027.csv:1: expected the header `date,type,name`"),
    "empty": (b"# nothing here\n", "2027.csv:1: empty file"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_import_refusals_name_the_line(calendar_db, hooks, case):
    content, expected = REFUSALS[case]
    with pytest.raises(calendar_import.CalendarImportError) as err:
        calendar_import.import_year(calendar_db, content, actor="admin", name="2027.csv")
    problems = err.value.problems
    assert any(p.startswith(expected) for p in problems), problems
    assert all(p.split(":")[0] == "2027.csv" and p.split(":")[1].isdigit() for p in problems), problems
    assert err.value.message == f"{len(problems)} problem(s) in calendar file 2027.csv"
    assert [y.year for y in calendar.years(calendar_db)] == [2024, 2025, 2026] and hooks == []


def test_json_refusals_name_the_line(calendar_db):
    text = _json_2027().decode()
    bad = text.replace('"type": "weekend"', '"type": "weekday"', 1)
    with pytest.raises(calendar_import.CalendarImportError) as err:
        calendar_import.import_year(calendar_db, bad.encode(), actor="admin", name="2027.json")
    lines = bad.splitlines()
    starts = {day: lines.index(f'   "date": "{day}",') for day in ("2027-01-08", "2027-01-09")}  # the "{" line
    assert err.value.problems == [f"2027.json:{starts['2027-01-08']}: missing 2027-01-09 after 2027-01-08",
                                  f"2027.json:{starts['2027-01-09']}: 2027-01-09: unknown type 'weekday'; use one "
                                  "of workday, weekend, holiday, adjusted_workday"]
    with pytest.raises(calendar_import.CalendarImportError) as err:
        calendar_import.import_year(calendar_db, b'{"year": 2027,\n "days": [\n oops]}', actor="admin", name="x.json")
    assert err.value.problems[0].startswith("x.json:3: not valid JSON")


def test_gb18030_csv_from_excel_is_read(calendar_db, hooks):
    content = FILE_2027.read_text(encoding="utf-8").encode("gb18030")
    report = calendar_import.import_year(calendar_db, content, actor="admin", name="2027.csv")
    assert report.changed
    assert calendar.add_workdays(calendar_db, D("2027-02-04"), 1).date == D("2027-02-15")  # 5–14 Feb off
    with calendar_db.read() as conn:
        assert conn.execute(select(calendar_day_t.c.name).where(calendar_day_t.c.date == D("2027-02-05"))).scalar() == "春节"


def test_other_processes_see_imports(calendar_db, hooks, monkeypatch):
    """Each Database caches what it read: missing years for MISSING_CACHE_SECONDS, loaded ones for
    CACHE_SECONDS; an import drops the importing process's cache at once."""
    other = Database(calendar_db.url)  # another process's pool and cache
    try:
        assert calendar.add_workdays(other, D("2026-12-28"), 5, fallback=True).provisional
        calendar_import.import_year(calendar_db, FILE_2027, actor="admin")
        assert calendar.add_workdays(other, D("2026-12-28"), 5, fallback=True).provisional  # seen as missing 5 s
        monkeypatch.setattr(calendar, "MISSING_CACHE_SECONDS", 0.0)
        assert calendar.add_workdays(other, D("2026-12-28"), 5, fallback=True).date == D("2027-01-05")
        calendar_import.import_year(calendar_db, _edit({"2027-01-04": "2027-01-04,holiday,元旦"}), actor="admin", name="fix.csv")
        assert calendar.add_workdays(other, D("2026-12-28"), 5).date == D("2027-01-05")  # cached, still fresh
        monkeypatch.setattr(calendar, "CACHE_SECONDS", 0.0)
        assert calendar.add_workdays(other, D("2026-12-28"), 5).date == D("2027-01-06")
    finally:
        other.dispose()


def test_a_failing_hook_is_reported_not_fatal(calendar_db, monkeypatch):
    def broken(db: Database, year: int) -> None:
        raise RuntimeError("recompute failed")

    monkeypatch.setattr(calendar_import, "after_import", [])
    calendar_import.on_year_imported(broken)
    report = calendar_import.import_year(calendar_db, FILE_2027, actor="admin")
    assert report.hook_errors and "RuntimeError: recompute failed" in report.hook_errors[0]
    assert calendar.is_workday(calendar_db, D("2027-01-04"))


# ---------------------------------------------------------------------------------------------
# the command line


def test_cli_workdays_and_calendar(db, tmp_path):
    assert yekuo(db, "init").returncode == 0  # seeds the packaged years
    out = yekuo(db, "workdays", "add", "2026-02-13", "5")
    assert (out.returncode, out.stdout, out.stderr) == (0, "2026-02-27\n", "")
    refused = yekuo(db, "workdays", "add", "2026-12-28", "5", check=False)
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        1, "", "error: no official working-day calendar for 2027; import it with `yekuo calendar import FILE`\n")
    provisional = yekuo(db, "workdays", "add", "2026-12-28", "5", env={"YEKUO_CALENDAR_FALLBACK": "1"})
    assert (provisional.returncode, provisional.stdout) == (0, "2027-01-04\n")
    assert provisional.stderr.startswith("warning: provisional") and "2027" in provisional.stderr

    bad = tmp_path / "2027.csv"
    bad.write_bytes(REFUSALS["weekend on a Tuesday"][0])
    refused = yekuo(db, "calendar", "import", str(bad), check=False)
    lines = refused.stderr.splitlines()
    assert refused.returncode == 1 and lines == [
        "error: 1 problem(s) in calendar file 2027.csv",
        f"  2027.csv:{line_of('2027-01-05')}: 2027-01-05 is a Tuesday, not a weekend day: use workday or holiday"]

    imported = yekuo(db, "calendar", "import", str(FILE_2027), "--by", "admin")
    assert imported.returncode == 0 and imported.stdout.startswith("2027 imported from import:2027.csv: 365 days")
    status = yekuo(db, "calendar", "status")
    assert status.returncode == 0
    assert "2027  365 days  248 working  29 holidays  5 adjusted  source: import:2027.csv" in status.stdout
    assert "2026  365 days" in status.stdout and "source: chinesecalendar 1.11" in status.stdout
    assert "year(s) loaded (2004–2027)" in status.stdout
    exported = yekuo(db, "calendar", "export", "2027").stdout.splitlines()
    assert exported[1:3] == ["date,type,name", "2027-01-01,holiday,元旦"] and len(exported) == 2 + 365
    arg = yekuo(db, "workdays", "add", "13.02.2026", "5", check=False)
    assert (arg.returncode, arg.stderr) == (1, "error: not a date: '13.02.2026' (e.g. 2026-02-13)\n")
