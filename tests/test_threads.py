"""The customer thread of a case (issue #15): customer messages through the channel API, answers and
offline contacts on the case page, the manager's notice, and first response as a KPI in working
hours (over a weekend, with the official calendar)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from engine.audit import chains, kpi
from engine.core import history
from engine.core.clock import CHINA, FixedClock
from engine.core.db import Database
from engine.core.errors import InvalidData, InvalidState
from engine.core.models import event_t, notice_t, work_item_t
from engine.intake import threads
from tests.api_support import Api, api, application_example, seed_deadlines, with_documents  # noqa: F401
from tests.dispatch_support import bare_cases
from tests.web_support import csrf_of, sign_in

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=CHINA)


@pytest.fixture
def cases(db: Database, clock: FixedClock) -> list[int]:
    seed_deadlines(db)
    return bare_cases(db, 2)


def test_first_response_over_a_weekend_counts_working_hours(db: Database, clock: FixedClock, cases: list[int]) -> None:
    a, b = cases
    clock.set(_at(6, 16))  # Friday 16:00: one working hour left this week
    qa = threads.post_customer(db, a, "什么时候来勘查？", author="channel", channel="app")
    qb = threads.post_customer(db, b, "电表装在哪里？", author="channel", channel="wechat")
    # 4 working hours = 1 h on Friday + 3 h from Monday 09:00 (Saturday and Sunday do not count)
    assert qa.respond_by == _at(9, 12).astimezone(dt.timezone.utc)
    clock.set(_at(9, 11, 30))
    threads.post_staff(db, a, "周二上午上门勘查。", author="manager", kind="phone")
    clock.set(_at(9, 12, 30))
    threads.post_staff(db, b, "装在户外计量箱。", author="manager")
    found = {q.message_id: q for q in threads.questions(db)}
    assert (found[qa.id].state, found[qa.id].hours) == ("on_time", 3.5)
    assert (found[qb.id].state, found[qb.id].hours) == ("late", 4.5)
    got = threads.first_response_kpi(db)
    assert (got.questions, got.answered, got.on_time, got.on_time_rate, got.avg_hours, got.overdue_open) == \
        (2, 2, 1, 0.5, 4.0, 0)
    totals = kpi.compute(db)
    assert (totals.first_response_questions, totals.first_response_on_time_rate,
            totals.first_response_avg_hours) == (2, 0.5, 4.0)
    assert kpi.compute(db, business_type="lv_res").first_response_questions == 0  # these cases have no type


def test_a_question_stays_open_until_staff_answer_and_goes_overdue(db: Database, clock: FixedClock,
                                                                   cases: list[int]) -> None:
    iid = cases[0]
    clock.set(_at(2, 10))
    first = threads.post_customer(db, iid, "你好", author="channel", channel="app")
    clock.set(_at(2, 11))
    second = threads.post_customer(db, iid, "还在吗？", author="channel", channel="app")
    assert second.respond_by is None  # the same question: one deadline, from the first message
    clock.set(_at(2, 15))  # 09:00 + 10:00 → 14:00 was the limit
    [q] = threads.questions(db, instance_id=iid)
    assert q.state == "overdue" and q.message_id == first.id
    assert threads.first_response_kpi(db).overdue_open == 1
    threads.post_staff(db, iid, "在的，已安排。", author="manager")
    rows = threads.thread(db, iid)
    assert [m.answered_by for m in rows if m.author_kind == "customer"] == ["manager", "manager"]
    assert threads.questions(db, instance_id=iid)[0].state == "late"
    # every entry is on the case's chain, with the hash of its text
    with db.read() as conn:
        evs = conn.execute(select(event_t).where(event_t.c.instance_id == iid, event_t.c.type == "thread_message")
                           .order_by(event_t.c.seq)).all()
    assert [history.payload_of(e)["author_kind"] for e in evs] == ["customer", "customer", "staff"]
    [report] = chains.verify(db, iid)
    assert report.ok, str(report)


def test_the_manager_is_notified_of_a_question(db: Database, clock: FixedClock, cases: list[int]) -> None:
    a, b = cases
    with db.write() as conn:  # case b has a customer manager who held one of its tasks
        conn.execute(work_item_t.insert().values(
            id="wi-manager-1", instance_id=b, process_key="bare", task_spec="follow_up", name="跟进",
            candidate_group="manager", assignee="wang.manager", status="completed", created_at=clock.now()))
    threads.post_customer(db, a, "问题一", author="channel", channel="app")
    threads.post_customer(db, b, "问题二", author="channel", channel="web95598")
    threads.post_customer(db, b, "补充", author="channel", channel="web95598")  # same question: no second notice
    with db.read() as conn:
        rows = conn.execute(select(notice_t).order_by(notice_t.c.id)).all()
    assert [(n.instance_id, n.recipient_user, n.recipient_group, n.kind) for n in rows] == [
        (a, None, "manager", "留言"), (b, "wang.manager", None, "留言")]
    assert "95598网站" in rows[1].body and "2026-03-02 13:00" in rows[1].body
    assert "问题二" not in rows[1].body  # the customer's text stays on the thread


def test_hostile_text_is_cleaned_or_refused(db: Database, clock: FixedClock, cases: list[int],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    iid = cases[0]
    m = threads.post_customer(db, iid, "  正常\x00文字\u202e反转\r\n第二行 ", author="channel")
    assert m.body == "正常文字反转\n第二行"
    stored = threads.post_customer(db, iid, XSS, author="channel")
    assert stored.body == XSS  # kept as text: pages escape it
    for bad in ("", "   ", "\x00\x01", "字" * (threads.MAX_CHARS + 1), None, 42, ["a"]):
        with pytest.raises(InvalidData):
            threads.post_customer(db, iid, bad, author="channel")
    with pytest.raises(InvalidData):
        threads.post_staff(db, iid, "好", author="manager", kind="email")
    assert len(threads.thread(db, iid)) == 2
    monkeypatch.setattr(threads, "MAX_CUSTOMER_MESSAGES", 3)
    threads.post_customer(db, iid, "第三条", author="channel")
    with pytest.raises(InvalidState):  # a flooded thread takes no more
        threads.post_customer(db, iid, "第四条", author="channel")
    threads.post_staff(db, iid, "已收到，请拨打95598。", author="manager")  # staff still answer


def test_an_edited_message_breaks_the_chain(db: Database, clock: FixedClock, cases: list[int]) -> None:
    iid = cases[0]
    threads.post_customer(db, iid, "原文", author="channel")
    with db.write() as conn:  # the thread row can be edited, but the event keeps the text's hash
        ev = conn.execute(select(event_t).where(event_t.c.instance_id == iid,
                                                event_t.c.type == "thread_message")).one()
        conn.execute(update(event_t).where(event_t.c.id == ev.id)
                     .values(payload=ev.payload.replace(history.payload_of(ev)["sha256"], "0" * 64)))
    [report] = chains.verify(db, iid)
    assert not report.ok and report.first_bad_seq == ev.seq


# -- the channel API -------------------------------------------------------------------------------------


def _submit(api: Api, as_: str = "channel") -> str:
    data = with_documents(api, application_example(), as_=as_)
    r = api.post("/api/v1/applications", as_=as_, json={"channel": "wechat", "data": data})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["application_no"]


def test_the_customer_writes_and_reads_only_their_own_thread(api: Api) -> None:
    seed_deadlines(api.db)
    mine, theirs = _submit(api, "channel"), _submit(api, "channel2")
    url = f"/api/v1/applications/{mine}/messages"
    posted = api.ok("POST", url, 201, as_="channel", json={"body": "请问何时勘查？"})
    assert posted["author_kind"] == "customer" and "author" not in posted
    # another channel client: the application does not exist for it, to read or to write
    assert api.get(url, as_="channel2").status_code == 404
    assert api.post(url, as_="channel2", json={"body": "偷看"}).status_code == 404
    assert api.get(f"/api/v1/applications/{theirs}/messages", as_="channel").status_code == 404
    # staff answer (and log a call, which the customer does not see)
    api.ok("POST", url, 201, as_="manager", json={"body": "本周三上午。", "kind": "message"})
    api.ok("POST", url, 201, as_="manager", json={"body": "已电话告知客户。", "kind": "phone"})
    seen = api.ok("GET", url, as_="channel")
    assert [(m["author_kind"], m["body"]) for m in seen] == [("customer", "请问何时勘查？"), ("staff", "本周三上午。")]
    assert all("author" not in m for m in seen)
    staff = api.ok("GET", url, as_="manager")
    assert [m["kind"] for m in staff] == ["message", "message", "phone"] and staff[1]["author"] == "manager"
    # limits and roles
    assert api.post(url, as_="channel", json={"body": "字" * 1001}).status_code == 422
    assert api.post(url, as_="channel", json={"body": "a", "extra": 1}).status_code == 422
    assert api.post(url, as_="auditor", json={"body": "我来答"}).status_code == 403
    assert api.post(url, as_="dispatcher", json={"body": "我来答"}).status_code == 403


def test_case_page_shows_the_thread_escaped_and_staff_answer_there(api: Api) -> None:
    seed_deadlines(api.db)
    number = _submit(api)
    api.ok("POST", f"/api/v1/applications/{number}/messages", 201, as_="channel", json={"body": XSS})
    iid = api.ok("GET", f"/api/v1/applications/{number}", as_="channel")["instance_id"]
    client = sign_in(api.app, "manager")
    page = client.get(f"/cases/{iid}")
    assert page.status_code == 200
    assert '<script>alert("x")</script>' not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert 'data-state="open"' in page.text
    r = client.post(f"/cases/{iid}/messages", data={"csrf_token": csrf_of(page.text), "kind": "visit",
                                                    "body": "已上门说明<b>情况</b>"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/cases/{iid}#thread")
    page = client.get(f"/cases/{iid}")
    assert 'data-state="on_time"' in page.text and "已上门说明&lt;b&gt;情况&lt;/b&gt;" in page.text
    assert "上门拜访" in page.text  # Chinese labels
    # roles that may read the case but not answer see no form and are refused
    auditor = sign_in(api.app, "auditor")
    assert 'data-testid="thread-form"' not in auditor.get(f"/cases/{iid}").text
    no = auditor.post(f"/cases/{iid}/messages", data={"csrf_token": csrf_of(auditor.get(f"/cases/{iid}").text),
                                                      "body": "x"})
    assert no.status_code == 403


def test_an_unanswered_question_raises_overdue_notices_once(db: Database, clock: FixedClock,
                                                             cases: list[int]) -> None:
    from engine.core import timers

    late, answered = cases
    clock.set(_at(2, 10))
    threads.post_customer(db, late, "何时送电？", author="channel", channel="app")
    threads.post_customer(db, answered, "何时勘查？", author="channel", channel="app")
    clock.set(_at(2, 13, 59))
    threads.post_staff(db, answered, "明天上午。", author="manager")
    assert timers.fire_due(db, _at(2, 13, 59)).fired == 0  # not yet due (14:00)
    clock.set(_at(2, 14, 1))
    assert timers.fire_due(db, clock.now()).fired == 1  # the answered question's timer was closed
    assert timers.fire_due(db, clock.now()).fired == 0
    with db.read() as conn:
        rows = conn.execute(select(notice_t).where(notice_t.c.kind == "超期").order_by(notice_t.c.id)).all()
        evs = conn.execute(select(event_t.c.instance_id).where(event_t.c.type == "thread_overdue")).scalars().all()
    assert [(n.instance_id, n.recipient_user, n.recipient_group) for n in rows] == [
        (late, None, "manager"), (late, None, "supervisor")]
    assert "2026-03-02 14:00" in rows[0].body and evs == [late]
    [report] = chains.verify(db, late)
    assert report.ok, str(report)
