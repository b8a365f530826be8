"""End to end on the simulated peers: a signed 95598 application becomes a case; at the contract
the marketing system is asked for the account number exactly once although it failed twice, and
its answer comes back signed; an urging from 95598 reaches the dispatch centre's board; the case's
milestones go back to 95598 and the archive record (with the account number) to marketing."""

from __future__ import annotations

from engine.connectors import marketing, service_center
from engine.core import queries
from tests import connector_support as cs
from tests import process_helpers as ph
from tests.api_support import api  # noqa: F401
from tests.test_connectors import peers  # noqa: F401


def test_a_95598_application_runs_with_both_systems(api, peers, clock, tmp_path):  # noqa: F811
    db = api.db
    clock.set(ph.START)
    status, reply = peers["95598"].send(cs.application_95598(db, tmp_path, "95598-E2E"), message_id="e2e-app")
    assert status == 200, reply
    iid, number = reply["result"]["instance_id"], reply["result"]["application_no"]
    ph.drive(db, iid, {"accept": ph.example("accept", channel="web95598")}, until="book_appointment")

    peers.fault("marketing", failures=2)  # the contract is signed at acceptance: the request is queued
    for wait in (31, 61, 0):
        peers.deliver(db)
        clock.advance(seconds=wait)
    [request] = peers["marketing"].of_type("account_request")
    assert [d.status for d in peers["marketing"].deliveries if d.type == "account_request"] == [503, 503, 200]
    assert (request["application_no"], request["customer"]["customer_name"]) == (number, "张伟")
    assert [r[0] for r in peers["marketing"].flush()] == [200]
    account = marketing.account_of(db, iid)
    assert account and account.startswith("30")

    peers["95598"].send({"type": "urging", "ticket_no": "95598-E2E", "text": "客户催办：请尽快安排装表"})
    [contact] = service_center.open_contacts(db)
    assert (contact["instance_id"], contact["kind"]) == (iid, "95598催办")
    from api.web import dispatch_pages
    with api.app.test_request_context():
        board = dispatch_pages.board_data(ph.START.date(), None)
    assert [c["instance_id"] for c in board["contacts"]] == [iid]

    ph.drive(db, iid)
    for wait in (31, 61, 0):  # the marketing peer still fails each message twice
        peers.deliver(db)
        clock.advance(seconds=wait)
    assert queries.get_instance(db, iid).status == "completed"
    [archive] = peers["marketing"].of_type("archive_record")
    assert archive["account_no"] == account
    assert len(peers["marketing"].of_type("account_request")) == 1
    milestones = [d["milestone"] for d in peers["95598"].of_type("milestone")]
    assert "受理签约" in milestones and "施工接电" in milestones
    assert [d["status"] for d in peers["95598"].of_type("case_closed")] == ["completed"]


def test_the_call_centre_rates_a_cases_call_back(api, peers, clock, tmp_path):  # noqa: F811
    """The case's own 回访 opens, goes to the call centre as a call task, the first call is unreached
    and the second answered with 4 points: the call-back register has the case's call-back rated 4
    and the case goes on to its end."""
    from engine.connectors import call_center
    from engine.dispatch import field

    db = api.db
    clock.set(ph.START)
    status, reply = peers["95598"].send(cs.application_95598(db, tmp_path, "95598-HF"), message_id="hf-app")
    assert status == 200, reply
    iid = reply["result"]["instance_id"]
    ph.drive(db, iid, {"accept": ph.example("accept", channel="web95598")}, until="callback")
    peer = peers["callcenter"]
    peer.script += [{"result": "unreached", "duration_s": 0}, {"satisfaction": 4, "duration_s": 75}]
    peers.deliver(db)
    assert [r[0] for r in peer.flush()] == [200]  # unreached: the call-back stays open
    assert "callback" in ph.items(db, iid)
    clock.advance(hours=2, seconds=1)
    peers.deliver(db)
    assert [r[0] for r in peer.flush()] == [200]
    [record] = field.callbacks(db, instance_id=iid)
    assert (record["reachable"], record["satisfaction"], record["recorded_by"]) == (True, 4, "process")
    assert [(t["attempt"], t["status"]) for t in call_center.calls(db, instance_id=iid)] == [(2, "answered"),
                                                                                           (1, "unreached")]
    ph.drive(db, iid)
    assert queries.get_instance(db, iid).status == "completed"
