"""The dispatch centre's commands: teams, capacity, dispatch lists, appointments, the works list.

Run in-process through the shared runner (tests/cli_support.py); errors are one line and exit 1.
"""

from __future__ import annotations

import pytest

from engine.dispatch import booking
from tests import cli_support
from tests.dispatch_support import MONDAY, bare_cases, fixed


@pytest.fixture
def yekuo(db, clock):
    clock.set(MONDAY)

    def run(*argv: str, code: int = 0) -> str:
        result = cli_support.yekuo(db, *argv, check=False)
        assert result.returncode == code, result.stderr
        return result.stdout if code == 0 else result.stderr

    return run


def test_teams_and_capacity_from_the_command_line(db, yekuo):
    assert "team CQ-9 城区九班 (城区) added" in yekuo("teams", "add", "CQ-9", "城区九班", "--area", "urban")
    yekuo("teams", "member", "CQ-9", "陈强", "13700009000", "--lead", "--user", "lead")
    yekuo("teams", "member", "CQ-9", "刘洋", "13700009111")
    assert "CQ-9\t城区九班\t城区\t陈强（班组长） 13700009000 @lead, 刘洋 13700009111" in yekuo("teams", "list")
    out = yekuo("capacity", "report", "CQ-9", "--week", "2027-03-03", "--survey", "6", "--verify", "2,2,2,2,2,1,0")
    assert "week of 2027-03-01" in out and "survey v1 [6, 6, 6, 6, 6, 0, 0]" in out
    assert "(v1)" in yekuo("capacity", "adjust", "CQ-9", "2027-03-02", "survey", "0", "--note", "培训", "--by", "lead")
    shown = yekuo("capacity", "show", "--date", "2027-03-01", "--days", "2", "--type", "survey")
    assert shown.splitlines() == ["2027-03-01\tCQ-9\tsurvey\tcapacity 6\tbooked 0\tremaining 6"]
    assert "lead\tsurvey\tday 2027-03-02 v1\t[0]\t培训" in yekuo("capacity", "history", "CQ-9")
    assert "error: no team with code 'NOPE'" in yekuo("capacity", "adjust", "NOPE", "2027-03-02", "survey", "1", code=1)
    assert "Traceback" not in yekuo("capacity", "report", "CQ-9", "--survey", "a,b", code=1)


def test_dispatch_lists_appointments_and_works_from_the_command_line(db, yekuo):
    yekuo("teams", "add", "CQ-9", "城区九班", "--area", "urban")
    yekuo("teams", "member", "CQ-9", "刘洋", "13700009111")
    yekuo("capacity", "report", "CQ-9", "--week", "2027-03-01", "--survey", "4")
    [iid] = bare_cases(db, 1, customer_name="张伟")
    a = booking.book(db, iid, fixed("2027-03-02"), actor="dispatcher", case={"address": "安德路12号"})
    assert "CQ-9 2027-03-02 am: 1 job(s)" in yekuo("dispatch", "generate", "--now", "2027-03-02T07:30:00+08:00")
    listing = yekuo("dispatch", "list", "--date", "2027-03-02", "--slot", "am")
    assert "城区九班（CQ-9）2027-03-02 上午派工单，07:30 生成，1 项" in listing
    assert f"1. {a.job_no} survey 张伟 安德路12号 2027年03月02日 08:30-12:00 待派工" in listing
    text = yekuo("dispatch", "list", "--date", "2027-03-02", "--csv")
    assert text.startswith("班所,日期,时段,顺序") and a.job_no in text
    assert f"{a.job_no}\t#{iid}\tsurvey\t约时\tCQ-9\t2027-03-02 am" in yekuo("appointments", "list")
    moved = yekuo("appointments", "reschedule", a.job_no, "--date", "2027-03-04", "--period", "pm", "--reason", "改期")
    assert "CQ-9 2027-03-04 pm 2027年03月04日 14:00-18:00" in moved
    assert f"{a.job_no}: cancelled" in yekuo("appointments", "cancel", a.job_no, "--reason", "客户取消")
    assert "is cancelled; it cannot be assigned" in yekuo("dispatch", "assign", a.job_no, "刘洋", code=1)
    assert "0 entries" in yekuo("works", "list")
    assert "works list: 0 added, 0 done" in yekuo("works", "sync")
