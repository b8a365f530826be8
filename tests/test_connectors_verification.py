"""The meter verification platform (鉴定平台) against its simulated peer: a 现场申校 request from 95598
or a channel opens one verification field job at the dispatch centre (once per ticket or key), the
order reaches the platform once through timeouts and failures, and its result — sent twice and
with a contradicting late one — is kept once and closes the request; forged calls are 401."""

from __future__ import annotations

import datetime as dt
import logging

from engine.connectors import inbound, verification
from engine.core import history, queries
from tests import connector_support as cs
from tests import process_helpers as ph
from tests.api_support import api  # noqa: F401
from tests.test_connectors import peers  # noqa: F401

REQUEST = {"customer_name": "张伟", "mobile": "13800138000", "address": "北京市东城区安德路12号",
           "meter_no": "3300123456", "area": "urban", "reason": "客户认为电表走快"}


def test_a_95598_request_opens_one_verification_job_and_the_platform_result_closes_it(
        api, peers, clock):  # noqa: F811
    clock.set(ph.START)
    call = {"type": "meter_verification", "ticket_no": "95598-JD-1", "request": REQUEST}
    status, reply = peers["95598"].send(call, message_id="jd-1")
    assert status == 200, reply
    opened = reply["result"]
    again = peers["95598"].send(call, message_id="jd-1-again")  # the same ticket under a new message id
    assert again[1]["result"]["instance_id"] == opened["instance_id"] and again[1]["result"]["created"] is False
    iid, number = opened["instance_id"], opened["verification_no"]
    job = queries.get_instance(api.db, iid)
    assert job.key == "field_job" and set(ph.items(api.db, iid)) == {"book_appointment"}
    assert queries.task_data(api.db, ph.items(api.db, iid)["book_appointment"].id)["job_kind"] == "verify"

    peers.fault("verification", timeouts=1, failures=2, delay=1.0, duplicate_calls=True)
    for wait in (31, 61, 121, 0):
        peers.deliver(api.db)
        clock.advance(seconds=wait)
    [order] = peers["verification"].of_type("verification_order")
    assert (order["verification_no"], order["meter_no"]) == (number, "3300123456")
    late = {"type": "verification_result", "verification_no": number, "passed": False, "error_pct": 3.5,
            "certificate_ref": "JDZS-LATE"}
    peers["verification"].outbox.append(late)  # queued after the real one, sent first (reversed)
    peers["verification"].faults.reverse_calls = True
    replies = peers["verification"].flush()
    assert [r[1]["result"]["applied"] for r in replies] == [True, False]
    kept = verification.get(api.db, number)
    assert (kept["status"], kept["passed"], kept["error_pct"], kept["certificate_ref"]) == (
        "failed", False, 3.5, "JDZS-LATE")  # the first result to arrive stands; the other changes nothing
    with api.db.read() as conn:
        assert [e.type for e in history.events_of(conn, iid)].count("meter_verified") == 1
    ph.drive(api.db, iid, {"do_verify": ph.example("field-verify")})  # the worker completes the job as usual
    assert queries.get_instance(api.db, iid).status == "completed"


def test_a_channel_requests_verification_once_per_key(api):  # noqa: F811
    first = api.post("/api/v1/meter-verifications", as_="channel", json=REQUEST, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.get_json()
    again = api.post("/api/v1/meter-verifications", as_="channel", json=REQUEST, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.get_json() == {**first.get_json(), "created": False}
    bad = api.post("/api/v1/meter-verifications", as_="channel", json={**REQUEST, "mobile": "12345"},
                   headers={"Idempotency-Key": "k-2"})
    assert bad.status_code == 422
    assert api.post("/api/v1/meter-verifications", as_="auditor", json=REQUEST).status_code == 403
    assert api.post("/api/v1/meter-verifications", json=REQUEST).status_code == 401


def test_forged_stale_or_unknown_results_are_refused(api, peers, clock, caplog):  # noqa: F811
    result = {"type": "verification_result", "verification_no": "JD-NONE", "passed": True, "error_pct": 0.1,
              "certificate_ref": "X"}
    with caplog.at_level(logging.WARNING, logger="yekuo.connectors"):
        for body, headers in (cs.signed("verification", result, "v-1", secret="wrong"),
                              cs.signed("verification", result, "v-2", now=clock.now() - dt.timedelta(minutes=6))):
            r = api.client.post("/api/v1/inbound/verification", data=body, headers=headers,
                                content_type="application/json")
            assert r.status_code == 401
    assert sum("refused (401)" in m for m in caplog.messages) == 2
    assert peers["verification"].send(result, message_id="v-3")[0] == 422
    assert inbound.seen(api.db, "verification", "v-3")["http_status"] == 422
    assert peers["verification"].send({**result, "error_pct": "high"})[0] == 422
