"""Connectors against their simulated peers: signed calls refused when forged or stale (401,
logged), each inbound message id applied once, the outbox riding out a peer that times out, fails
or is switched off (dead letters, redelivery by hand), and account numbers arriving twice and out
of order. The end-to-end run is in tests/test_connectors_e2e.py."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from engine.connectors import inbound, marketing, outbound, service_center
from engine.core import clock as engine_clock
from engine.core import history, store
from engine.core.models import notice_t, outbox_t
from engine.core.services import Effects
from engine.messages import outbox
from tests import connector_support as cs
from tests.api_support import api  # noqa: F401


@pytest.fixture
def peers(api, monkeypatch, tmp_path):  # noqa: F811
    found = cs.Peers(api.app, monkeypatch, tmp_path)
    yield found
    found.close()


def _post(api, system, body, headers):  # noqa: F811
    return api.client.post(f"/api/v1/inbound/{system}", data=body, headers=headers, content_type="application/json")


def _submit(api, peers, tmp_path, ticket="95598-0001"):  # noqa: F811
    status, reply = peers["95598"].send(cs.application_95598(api.db, tmp_path, ticket), message_id=f"app-{ticket}")
    assert status == 200, reply
    return reply["result"]


def test_forged_stale_or_unsigned_calls_are_refused_and_logged(api, peers, clock, caplog):  # noqa: F811
    payload = {"type": "urging", "application_no": "YK1", "text": "催"}
    cases = {"bad signature": cs.signed("95598", payload, "m-1", secret="wrong"),
             "stale": cs.signed("95598", payload, "m-2", now=clock.now() - dt.timedelta(minutes=6)),
             "future": cs.signed("95598", payload, "m-3", now=clock.now() + dt.timedelta(minutes=6))}
    body, headers = cs.signed("95598", payload, "m-4")
    cases["tampered"] = (body.replace("催".encode(), "改".encode()), headers)
    cases["unsigned"] = (body, {})
    with caplog.at_level(logging.WARNING, logger="yekuo.connectors"):
        for why, (body, headers) in cases.items():
            r = _post(api, "95598", body, headers)
            assert r.status_code == 401, why
            assert r.get_json()["error"]["code"] == "unauthorized"
    assert sum("refused (401)" in m for m in caplog.messages) == len(cases)
    assert inbound.seen(api.db, "95598", "m-1") is None  # nothing remembered, nothing applied
    body, headers = cs.signed("95598", payload, "m-5", now=clock.now() - dt.timedelta(minutes=4))
    assert _post(api, "95598", body, headers).status_code == 404  # within the window: read (no such case)


def test_an_inbound_message_id_is_applied_once(api, peers, tmp_path):  # noqa: F811
    case = _submit(api, peers, tmp_path)
    again = peers["95598"].send(cs.application_95598(api.db, tmp_path, "95598-0001"), message_id="app-95598-0001")
    assert again == (200, {"message_id": "app-95598-0001", "status": "accepted", "result": case})
    peers["95598"].faults.duplicate_calls = True
    urging = {"type": "urging", "ticket_no": "95598-0001", "text": "客户催办：何时勘查？"}
    first, second = (peers["95598"].send(urging, message_id="urge-1"), peers["95598"].replies[-1])
    assert first == second and first[0] == 200
    r = _post(api, "95598", *cs.signed("95598", urging, "urge-1"))
    assert r.headers["X-Yekuo-Duplicate"] == "1" and r.get_json() == first[1]
    assert [c["kind"] for c in service_center.open_contacts(api.db)] == ["95598催办"]
    with api.db.read() as conn:
        types = [e.type for e in history.events_of(conn, case["instance_id"])]
    assert types.count("customer_urging") == 1


def test_an_urging_that_overtakes_its_application_is_applied_when_sent_again(api, peers, tmp_path):  # noqa: F811
    urging = {"type": "complaint", "ticket_no": "95598-0009", "text": "投诉：无人受理"}
    assert peers["95598"].send(urging, message_id="c-1")[0] == 404
    assert inbound.seen(api.db, "95598", "c-1") is None  # not remembered: the retry counts
    _submit(api, peers, tmp_path, "95598-0009")
    assert peers["95598"].send(urging, message_id="c-1")[0] == 200
    assert [c["kind"] for c in service_center.open_contacts(api.db)] == ["95598投诉"]


def test_an_invalid_payload_is_refused_once_and_remembered(api, peers):  # noqa: F811
    bad = {"type": "account_number", "application_no": "YK1"}
    r1 = peers["marketing"].send(bad, message_id="bad-1")
    r2 = peers["marketing"].send(bad, message_id="bad-1")
    assert r1[0] == r2[0] == 422 and r1[1] == r2[1]
    assert inbound.seen(api.db, "marketing", "bad-1")["http_status"] == 422


def _queue(api, iid, kind="account_request"):  # noqa: F811
    """A document queued as a step's write queues it (the step reduced to what `push` reads)."""
    step = SimpleNamespace(instance_id=iid, business_key=f"YK-{iid}", now=engine_clock.now(), effects=Effects())
    outbound.push(step, "marketing", kind, kind, customer={"customer_name": "张伟"})
    with api.db.write() as conn:
        store.queue_outbox(conn, step)


def _row(api, key):  # noqa: F811
    with api.db.read() as conn:
        return conn.execute(select(outbox_t).where(outbox_t.c.idempotency_key == key)).one()


def test_a_peer_that_times_out_gets_the_message_again_and_applies_it_once(api, peers, clock):  # noqa: F811
    peers.fault("marketing", timeouts=1, delay=1.0)
    _queue(api, 41)
    assert peers.deliver(api.db).retrying == 1
    clock.advance(seconds=31)
    assert peers.deliver(api.db).sent == 1
    assert [d.status for d in peers["marketing"].deliveries] == [200, 200]  # applied, answer lost; repeat
    assert len(peers["marketing"].of_type("account_request")) == 1
    assert _row(api, "marketing:41:account_request").status == "sent"


def test_failures_back_off_end_as_a_dead_letter_and_are_redelivered_by_hand(api, peers, clock):  # noqa: F811
    peers.fault("marketing", failures=10)
    _queue(api, 42)
    for _ in range(cs.POLICY.max_attempts):
        peers.deliver(api.db)
        clock.advance(hours=1)
    row = _row(api, "marketing:42:account_request")
    assert (row.status, row.attempts) == ("failed", cs.POLICY.max_attempts) and "503" in row.last_error
    assert [m.id for m in outbox.list_messages(api.db, "failed")] == [row.id]
    peers.fault("marketing")
    assert outbox.retry_failed(api.db, [row.id]) == 1
    assert peers.deliver(api.db).sent == 1
    assert len(peers["marketing"].of_type("account_request")) == 1


def test_a_switched_off_connector_holds_its_messages_without_using_attempts(api, peers, clock, monkeypatch):  # noqa: F811
    monkeypatch.setenv("YEKUO_CONNECTOR_MARKETING_ENABLED", "0")
    _queue(api, 43)
    report = peers.deliver(api.db)
    assert (report.deferred, report.sent) == (1, 0)
    assert (_row(api, "marketing:43:account_request").attempts, peers["marketing"].deliveries) == (0, [])
    monkeypatch.setenv("YEKUO_CONNECTOR_MARKETING_ENABLED", "1")
    clock.advance(hours=2)
    assert peers.deliver(api.db).sent == 1


def test_account_numbers_sent_twice_and_out_of_order_keep_the_newest(api, peers, tmp_path, clock):  # noqa: F811
    case = _submit(api, peers, tmp_path)
    no, iid = case["application_no"], case["instance_id"]
    older = {"type": "account_number", "application_no": no, "account_no": "3000000001",
             "issued_at": "2026-03-02T09:00:00+08:00"}
    newer = {**older, "account_no": "3000000002", "issued_at": "2026-03-02T09:05:00+08:00"}
    peer = peers["marketing"]
    peer.faults = cs.Faults(duplicate_calls=True, reverse_calls=True)
    peer.outbox += [older, newer]
    replies = peer.flush()
    assert [r[1]["result"]["applied"] for r in replies] == [True, False]  # newest first; the older changes nothing
    assert len(peer.replies) == 4 and marketing.account_of(api.db, iid) == "3000000002"
    with api.db.read() as conn:
        assigned = [history.payload_of(e) for e in history.events_of(conn, iid) if e.type == "account_assigned"]
    assert [a["account_no"] for a in assigned] == ["3000000002"]


def test_dispatch_notices_for_urgings_are_for_the_dispatch_centre(api, peers, tmp_path):  # noqa: F811
    case = _submit(api, peers, tmp_path)
    peers["95598"].send({"type": "urging", "application_no": case["application_no"], "text": "催"})
    with api.db.read() as conn:
        groups = conn.execute(select(notice_t.c.recipient_group).where(notice_t.c.kind == "95598催办")).scalars().all()
    assert groups == ["dispatcher"]
