"""The call centre (话务平台) and the SMS platform (短信平台) against their simulated peers: call tasks
and SMS delivered once through a peer that times out and fails twice; results and receipts arriving
twice and out of order applied once; unreached calls retried per the rule; failed SMS resent then
given up; forged or stale calls refused with 401 and logged. The end-to-end run (a case's call-back
rated by the call centre) is in tests/test_connectors_e2e.py."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from engine.connectors import call_center, inbound, sms_platform
from engine.core import clock as engine_clock
from engine.core import history, store, worklist
from engine.core.models import outbox_t
from engine.core.services import Effects
from engine.dispatch import appointments, field
from tests import connector_support as cs
from tests import process_helpers as ph
from tests.api_support import api  # noqa: F401
from tests.test_connectors import peers  # noqa: F401


def _post(api, system, body, headers):  # noqa: F811
    return api.client.post(f"/api/v1/inbound/{system}", data=body, headers=headers, content_type="application/json")


def _case_until(api, peers, tmp_path, clock, spec, ticket="95598-CALL"):  # noqa: F811
    """A 95598 case driven until `spec` is open."""
    clock.set(ph.START)
    status, reply = peers["95598"].send(cs.application_95598(api.db, tmp_path, ticket), message_id=f"app-{ticket}")
    assert status == 200, reply
    iid = reply["result"]["instance_id"]
    ph.drive(api.db, iid, {"accept": ph.example("accept", channel="web95598")}, until=spec)
    return iid


def _open(api, iid, spec):  # noqa: F811
    return [i for i in worklist.items(api.db, worklist.TaskFilter(instance_id=iid)) if i.task_spec == spec]


def _deliver(api, peers, clock, rounds=(31, 61, 121, 0)):  # noqa: F811
    for wait in rounds:
        peers.deliver(api.db)
        clock.advance(seconds=wait)


def test_forged_or_stale_calls_of_both_systems_are_refused_and_logged(api, peers, clock, caplog):  # noqa: F811
    calls = {"callcenter": {"type": "call_result", "task_no": "CA-x-1", "result": "answered", "satisfaction": 5},
             "sms": {"type": "delivery_receipt", "message_id": "sms:1:x", "status": "delivered"}}
    with caplog.at_level(logging.WARNING, logger="yekuo.connectors"):
        for system, payload in calls.items():
            forged = cs.signed(system, payload, f"{system}-1", secret="secret-95598")  # another system's secret
            stale = cs.signed(system, payload, f"{system}-2", now=clock.now() - dt.timedelta(minutes=6))
            for body, headers in (forged, stale):
                r = _post(api, system, body, headers)
                assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
            assert inbound.seen(api.db, system, f"{system}-1") is None
    assert sum("refused (401)" in m for m in caplog.messages) == 4
    r = _post(api, "callcenter", *cs.signed("callcenter", calls["callcenter"], "cc-3"))
    assert r.status_code == 422  # signed and timely: read, and refused for what it says (no such task)


def test_a_call_back_is_called_once_through_a_failing_peer_and_its_result_recorded_once(
        api, peers, clock, tmp_path):  # noqa: F811
    iid = _case_until(api, peers, tmp_path, clock, "callback")
    [task] = call_center.calls(api.db, instance_id=iid)
    assert (task["kind"], task["status"], task["attempt"]) == ("callback", "open", 1)
    peers.fault("callcenter", timeouts=1, failures=2, delay=1.0, duplicate_calls=True)
    peers["callcenter"].script.append({"satisfaction": 4, "problems": "希望提前电话联系", "duration_s": 130})
    _deliver(api, peers, clock)
    assert [d.status for d in peers["callcenter"].deliveries] == [200, 503, 503, 200]  # answer lost, 2 × 5xx
    [sent] = peers["callcenter"].of_type("call_task")  # applied once
    assert (sent["task_no"], sent["call_kind"], sent["customer_name"]) == (task["task_no"], "callback", "张伟")
    [(status, reply)] = peers["callcenter"].flush()
    assert status == 200 and reply["result"]["callback_recorded"] is True
    assert len(peers["callcenter"].replies) == 2  # sent twice: the repeat answered with the first result
    [record] = field.callbacks(api.db, instance_id=iid)
    assert (record["reachable"], record["satisfaction"], record["follow_up"]) == (True, 4, True)
    [task] = call_center.calls(api.db, instance_id=iid)
    assert (task["status"], task["duration_s"], task["recording_ref"]) == ("answered", 130,
                                                                          f"rec/{task['task_no']}.mp3")
    again = peers["callcenter"].send({"type": "call_result", "task_no": task["task_no"], "result": "unreached"})
    assert again[0] == 200 and again[1]["result"]["applied"] is False  # a late result under a new id: nothing
    assert len(field.callbacks(api.db, instance_id=iid)) == 1 and _open(api, iid, "callback") == []
    with api.db.read() as conn:
        results = [e for e in history.events_of(conn, iid) if e.type == "call_result"]
    assert len(results) == 1


def test_an_unreached_call_back_stays_open_and_is_called_again_per_the_rule(api, peers, clock, tmp_path):  # noqa: F811
    iid = _case_until(api, peers, tmp_path, clock, "callback")
    peer = peers["callcenter"]
    peer.script += [{"result": "unreached", "duration_s": 0}] * call_center.RETRY_RULE.attempts
    for attempt in range(1, call_center.RETRY_RULE.attempts + 1):
        peers.deliver(api.db)
        assert len(peer.of_type("call_task")) == attempt  # the next call waits for the rule's interval
        [(status, reply)] = peer.flush()
        assert status == 200 and reply["result"]["status"] == "unreached"
        last = attempt == call_center.RETRY_RULE.attempts
        assert bool(_open(api, iid, "callback")) is not last  # open until the last call
        peers.deliver(api.db)
        assert len(peer.of_type("call_task")) == attempt  # not due yet
        clock.advance(hours=2, seconds=1)
    assert [t["status"] for t in call_center.calls(api.db, instance_id=iid)] == ["unreached"] * 3
    [record] = field.callbacks(api.db, instance_id=iid)
    assert (record["reachable"], record["satisfaction"]) == (False, None)


def test_phone_reports_move_the_field_job_and_a_report_that_overtakes_its_arrival_is_applied_later(
        api, peers, clock, tmp_path):  # noqa: F811
    iid = _case_until(api, peers, tmp_path, clock, "report_arrival")
    [job] = appointments.list_appointments(api.db, instance_id=iid)
    peer = peers["callcenter"]
    peer.faults = cs.Faults(duplicate_calls=True, reverse_calls=True)
    at = job.window_start.isoformat()
    peer.outbox += [{"type": "field_report", "job_no": job.job_no, "report": "arrival", "at": at},
                    {"type": "field_report", "job_no": job.job_no, "report": "completion", "at": at,
                     "work_summary": "装表完毕", "customer_signed": True}]
    replies = peer.flush()  # newest first: the completion overtakes the arrival
    assert [r[0] for r in replies] == [409, 200]
    assert appointments.get(api.db, job.job_no).status == "arrived"
    ph.complete(api.db, iid, "do_install")
    assert [r[0] for r in peer.flush()] == [200]  # the completion, sent again
    assert appointments.get(api.db, job.job_no).status == "completed"
    assert _open(api, iid, "report_completion") == []
    late = peer.send({"type": "field_report", "job_no": job.job_no, "report": "arrival", "at": at})
    assert late[0] == 200 and late[1]["result"]["applied"] is False
    bad = peer.send({"type": "field_report", "job_no": job.job_no, "report": "lunch"})
    assert bad[0] == 422


def test_an_arrival_cuiban_becomes_a_call_to_the_worker(api, peers, clock, tmp_path):  # noqa: F811
    iid = _case_until(api, peers, tmp_path, clock, "report_arrival")
    [job] = appointments.list_appointments(api.db, instance_id=iid)
    ph.fire_at(api.db, clock, job.window_end + dt.timedelta(minutes=1))
    [task] = [t for t in call_center.calls(api.db, instance_id=iid) if t["kind"] == "urging"]
    peers.deliver(api.db)
    [sent] = peers["callcenter"].of_type("call_task")
    assert sent["task_no"] == task["task_no"] and job.job_no in sent["subject"]
    assert sent.get("callee") == job.worker_name


def _sms(api, iid, purpose="test"):  # noqa: F811
    step = SimpleNamespace(instance_id=iid, effects=Effects())
    key = f"sms:{iid}:{purpose}"
    step.effects.send("sms", "13800000000", "【国网】您的用电申请已受理。", key=key, template="accepted")
    with api.db.write() as conn:
        store.queue_outbox(conn, SimpleNamespace(instance_id=iid, effects=step.effects, now=engine_clock.now()))
    return key


def _state(api, key):  # noqa: F811
    with api.db.read() as conn:
        return conn.execute(select(outbox_t.c.status, outbox_t.c.delivery_state)
                            .where(outbox_t.c.idempotency_key == key)).one()


def test_an_sms_reaches_the_platform_once_and_its_receipt_is_kept(api, peers, clock):  # noqa: F811
    key = _sms(api, 51)
    peers.fault("sms", timeouts=1, failures=2, delay=1.0, duplicate_calls=True)
    _deliver(api, peers, clock)
    [sent] = peers["sms"].of_type("sms")
    assert (sent["message_id"], sent["mobile"]) == (key, "13800000000")
    assert tuple(_state(api, key)) == ("sent", None)
    assert [r[0] for r in peers["sms"].flush()] == [200]
    assert tuple(_state(api, key)) == ("sent", "delivered")
    late = peers["sms"].send({"type": "delivery_receipt", "message_id": key, "status": "failed"})
    assert late[1]["result"]["applied"] is False and tuple(_state(api, key)) == ("sent", "delivered")
    [listed] = sms_platform.messages(api.db, instance_id=51)
    assert listed["delivery_state"] == "delivered"


def test_a_failed_sms_is_resent_up_to_the_limit_then_given_up(api, peers, clock):  # noqa: F811
    key = _sms(api, 52)
    peer = peers["sms"]
    peer.script += [{"status": "failed", "error": "用户关机"}] * (sms_platform.RESENDS + 1)
    for _ in range(sms_platform.RESENDS + 1):
        peers.deliver(api.db)
        peer.faults.duplicate_calls = True  # each receipt twice: one resend per failure
        assert all(r[0] == 200 for r in peer.flush())
        peer.faults.duplicate_calls = False
    rows = sms_platform.messages(api.db, instance_id=52)
    assert [r["idempotency_key"] for r in reversed(rows)] == [key, f"{key}#r1", f"{key}#r2"]
    assert [r["delivery_state"] for r in reversed(rows)] == ["given_up", "failed", "given_up"]
    peers.deliver(api.db)
    assert len(peer.of_type("sms")) == 3  # nothing more is sent


def test_receipts_out_of_order_keep_the_final_state(api, peers, clock):  # noqa: F811
    key = _sms(api, 53)
    peers.deliver(api.db)
    peer = peers["sms"]
    peer.outbox.clear()
    peer.faults.reverse_calls = True
    peer.outbox += [{"type": "delivery_receipt", "message_id": key, "status": "unknown"},
                    {"type": "delivery_receipt", "message_id": key, "status": "delivered"}]
    replies = peer.flush()  # delivered first, then the older "unknown"
    assert [r[1]["result"]["applied"] for r in replies] == [True, False]
    assert tuple(_state(api, key)) == ("sent", "delivered")
    assert peer.send({"type": "delivery_receipt", "message_id": "sms:0:nope", "status": "failed"})[0] == 422


@pytest.mark.parametrize("system", ["callcenter", "sms"])
def test_a_switched_off_peer_holds_its_messages_and_never_blocks_the_case(api, peers, clock, monkeypatch,
                                                                          tmp_path, system):  # noqa: F811
    monkeypatch.setenv(f"YEKUO_CONNECTOR_{system.upper()}_ENABLED", "0")
    if system == "sms":
        _sms(api, 54)
    else:
        iid = _case_until(api, peers, tmp_path, clock, "callback")
        ph.complete(api.db, iid, "callback")  # the dispatcher calls by hand meanwhile
    report = peers.deliver(api.db)
    assert report.deferred >= 1 and peers[system].deliveries == []
    r = _post(api, system, *cs.signed(system, {"type": "x"}, "off-1"))
    assert r.status_code == 503
