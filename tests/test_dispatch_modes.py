"""Switchable dispatch mode (issue #15): per area and job type, central or team self-dispatch;
switched by a supervisor with a reason, on its own hash chain; the booking task follows the mode."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from engine.audit import chains, replay
from engine.core import history
from engine.core.db import Database
from engine.core.errors import InvalidData, InvalidState
from engine.core.models import dispatch_mode_event_t, event_t
from engine.dispatch import modes
from tests import process_helpers as ph
from tests.api_support import Api, api  # noqa: F401
from tests.web_support import csrf_of, sign_in

REASON = "城区勘查班组人员充足，试行班组自主派工"


def test_a_switch_needs_a_known_mode_and_a_reason(db: Database, clock) -> None:
    for bad in ("", "   ", None, "字" * (modes.MAX_REASON + 1)):
        with pytest.raises(InvalidData):
            modes.switch(db, "urban", "survey", "self", reason=bad, actor="supervisor")
    with pytest.raises(InvalidData):
        modes.switch(db, "urban", "survey", "team", reason=REASON, actor="supervisor")
    with pytest.raises(InvalidData):
        modes.switch(db, "downtown", "survey", "self", reason=REASON, actor="supervisor")
    with pytest.raises(InvalidState):  # already central: nothing to switch
        modes.switch(db, "urban", "survey", "central", reason=REASON, actor="supervisor")
    assert {(m.area, m.job_type, m.mode) for m in modes.list_modes(db)} == {
        (a, j, "central") for a in ("urban", "rural") for j in ("survey", "install", "verify")}
    assert modes.switches(db) == []


def test_switches_are_chained_and_tampering_shows(db: Database, clock) -> None:
    modes.switch(db, "urban", "survey", "self", reason=REASON, actor="supervisor")
    clock.advance(hours=1)
    modes.switch(db, "rural", "install", "self", reason="农村装表由供电所自行安排", actor="supervisor")
    clock.advance(hours=1)
    modes.switch(db, "urban", "survey", "central", reason="试行结束", actor="supervisor")
    report = modes.verify(db)
    assert report.ok and report.events == 3, str(report)
    [first, *_] = reversed(modes.switches(db))
    assert (first["area"], first["job_type"], first["mode"], first["previous"], first["reason"], first["actor"]) == \
        ("urban", "survey", "self", "central", REASON, "supervisor")
    view = {(m.area, m.job_type): m for m in modes.list_modes(db)}
    assert view[("urban", "survey")].mode == "central" and view[("rural", "install")].mode == "self"
    # an edited reason breaks the chain at that switch
    with db.write() as conn:
        row = conn.execute(select(dispatch_mode_event_t).where(dispatch_mode_event_t.c.seq == 2)).one()
        conn.execute(update(dispatch_mode_event_t).where(dispatch_mode_event_t.c.seq == 2)
                     .values(payload=row.payload.replace("自行安排", "统一安排")))
    bad = modes.verify(db)
    assert (bad.ok, bad.first_bad_seq) == (False, 2)
    with db.write() as conn:
        conn.execute(update(dispatch_mode_event_t).where(dispatch_mode_event_t.c.seq == 2).values(payload=row.payload))
        conn.execute(delete(dispatch_mode_event_t).where(dispatch_mode_event_t.c.seq == 3))  # hide the last switch
    hidden = modes.verify(db)
    assert not hidden.ok and "mode in force" in hidden.reason


@pytest.fixture
def bundle(db, clock):
    ph.deploy(db)
    clock.set(ph.START)
    return db


def _to_booking(db: Database) -> int:
    iid = ph.start_case(db)
    ph.drive(db, iid, {"accept": ph.example("accept", survey_with_install=False)}, until="book_appointment")
    return iid


def test_the_booking_task_follows_the_mode(bundle, clock) -> None:
    db = bundle
    central = _to_booking(db)
    assert ph.items(db, central)["book_appointment"].candidate_group == "dispatcher"
    modes.switch(db, "urban", "survey", "self", reason=REASON, actor="supervisor")
    self_case = _to_booking(db)
    item = ph.items(db, self_case)["book_appointment"]
    assert item.candidate_group == "lead"  # the team lead books their own team's jobs
    with db.read() as conn:
        routed = [history.payload_of(e) for e in history.events_of(conn, self_case) if e.type == "booking_routed"]
    assert routed == [{"area": "urban", "job_type": "survey", "mode": "self", "group": "lead"}]
    # the lead books; the job goes on as before (the lead dispatches it next)
    ph.complete(db, self_case, "book_appointment", ph.example("field-appointment", appointment_date="2027-03-02"))
    assert set(ph.items(db, self_case)) == {"dispatch_job"}
    # the other area and job types stay central; the earlier case keeps its dispatcher task
    assert ph.items(db, central)["book_appointment"].candidate_group == "dispatcher"
    [report] = chains.verify(db, self_case)
    assert report.ok, str(report)
    assert replay.replay(db, self_case).ok


def test_rest_switch_needs_the_supervisor_and_a_reason(api: Api) -> None:
    url = "/api/v1/dispatch/modes/urban/survey"
    assert api.request("PUT", url, as_="dispatcher", json={"mode": "self", "reason": REASON}).status_code == 403
    assert api.request("PUT", url, as_="lead", json={"mode": "self", "reason": REASON}).status_code == 403
    assert api.request("PUT", url, as_="supervisor", json={"mode": "self"}).status_code == 422
    assert api.request("PUT", url, as_="supervisor", json={"mode": "self", "reason": ""}).status_code == 422
    assert api.request("PUT", url, as_="supervisor", json={"mode": "solo", "reason": REASON}).status_code == 422
    assert api.request("PUT", "/api/v1/dispatch/modes/mars/survey", as_="supervisor",
                       json={"mode": "self", "reason": REASON}).status_code == 422
    done = api.ok("PUT", url, as_="supervisor", json={"mode": "self", "reason": REASON})
    assert (done["mode"], done["changed_by"], done["reason"]) == ("self", "supervisor", REASON)
    assert api.request("PUT", url, as_="supervisor", json={"mode": "self", "reason": REASON}).status_code == 409
    listed = {(m["area"], m["job_type"]): m["mode"] for m in api.ok("GET", "/api/v1/dispatch/modes", as_="lead")}
    assert listed[("urban", "survey")] == "self" and listed[("rural", "survey")] == "central"
    chain = api.ok("GET", "/api/v1/dispatch/modes/chain", as_="dispatcher")
    assert chain["ok"] and chain["events"] == 1 and chain["switches"][0]["reason"] == REASON


def test_the_board_shows_the_modes_and_the_supervisor_switches_there(api: Api) -> None:
    dispatcher = sign_in(api.app, "dispatcher")
    page = dispatcher.get("/dispatch")
    assert page.status_code == 200 and page.text.count('data-testid="mode-row"') == 6
    assert 'data-testid="mode-form"' not in page.text and "调度中心统一派工" in page.text
    refused = dispatcher.post("/dispatch/modes", data={"csrf_token": csrf_of(page.text), "area": "urban",
                                                       "job_type": "survey", "mode": "self", "reason": REASON})
    assert refused.status_code == 403
    supervisor = sign_in(api.app, "supervisor")
    page = supervisor.get("/dispatch")
    assert page.text.count('data-testid="mode-form"') == 6
    token = csrf_of(page.text)
    no_reason = supervisor.post("/dispatch/modes", data={"csrf_token": token, "area": "urban", "job_type": "survey",
                                                         "mode": "self", "reason": " "}, follow_redirects=True)
    assert "请填写切换原因" in no_reason.text
    assert modes.list_modes(api.db)[0].mode == "central"
    done = supervisor.post("/dispatch/modes", data={"csrf_token": token, "area": "urban", "job_type": "survey",
                                                    "mode": "self", "reason": "<b>试行</b>"}, follow_redirects=True)
    assert "班组自主派工" in done.text and "&lt;b&gt;试行&lt;/b&gt;" in done.text
    assert 'data-area="urban" data-job-type="survey" data-mode="self"' in done.text
    assert modes.verify(api.db).ok
    with api.db.read() as conn:  # the switch is not on any case's chain: it has its own
        assert conn.execute(select(event_t).where(event_t.c.type == modes.EVENT)).first() is None
