"""Change of use (变更用电): each kind from acceptance to 办结, with its own on-site work."""

from __future__ import annotations

import pytest

from tests.process_helpers import CHANGE_KINDS, deploy, run, sms

FIELD = ["book_appointment", "dispatch_job", "report_arrival", "do_verify", "report_completion", "job_callback"]
OFFICE = ["update_contract", "update_billing", "check_file"]


@pytest.fixture
def models(db, clock):
    return deploy(db)


@pytest.mark.parametrize(("kind", "path"), [
    ("capacity_reduction", ["accept_change", *FIELD, "meter_work", *OFFICE]),
    ("suspend", ["accept_change", *FIELD, "meter_work", *OFFICE]),
    ("resume", ["accept_change", *FIELD, "meter_work", *OFFICE]),
    ("rename", ["accept_change", *OFFICE]),                 # same address, capacity and category: no site visit
    ("reclassify", ["accept_change", *FIELD, *OFFICE]),     # verified on site, no meter work needed
])
def test_change_of_use(db, clock, models, kind, path):
    assert kind in CHANGE_KINDS
    case = run(f"change_{kind}", db, clock)
    inst = case.instance(db)
    assert case.done == path
    assert inst.status == "completed" and inst.milestone == "办结"
    assert inst.data["change_kind"] == kind and inst.data["application_no"].startswith("BG20270301-")
    sent = sms(db, case.iid)
    assert {"change_accepted", "change_done"} <= set(sent)
    assert inst.data["account_no"] in sent["change_done"]["body"]
    if "meter_work" in path:
        assert inst.data["meter_work"] == CHANGE_KINDS[kind][1]
