"""History diffs per process scope: each event's before/after is what it changed where it happened.

A high-voltage case runs inside called processes (field_job twice, hv_delivery, hv_project,
inspection, contract, archive) and on parallel branches (contract beside the meter job). The
expectations below are written by hand from the forms and the models, not computed.
"""

from __future__ import annotations

import pytest

from engine.audit import chains as audit
from engine.audit import timetravel
from tests.process_helpers import deploy, run

# (task, nth time it was completed) -> (process scope, call activity, keys this event changed)
EXPECTED = {
    ("book_appointment", 0): ("field_job", "survey", {
        "appointment_date", "appointment_mode", "appointment_period", "booking", "booking_note",
        "customer_confirmed", "job_due_at", "job_no", "worker_options"}),
    ("report_arrival", 0): ("field_job", "survey", {"arrived_at", "arrived_on_time", "field_arrival"}),
    ("do_survey", 0): ("field_job", "survey", {
        "grid_works_needed", "load_confirmed_kw", "photos", "site_findings", "supply_point", "survey_date"}),
    ("report_completion", 0): ("field_job", "survey", {
        "completed_at", "customer_signed", "field_completion", "work_summary"}),
    ("customer_works", 0): ("hv_project", "project", {
        "construction_company", "license_level", "license_no", "works_completed_on", "works_started_on"}),
    ("inspect", 0): ("inspection", "inspection", {"inspected_on", "inspection_result", "inspectors"}),
    ("draft_contract", 0): ("contract", "contract", {
        "contract_draft_doc", "contracted_capacity_kva", "dispatch_agreement", "tariff_category"}),
    ("sign_contract", 0): ("contract", "contract", {
        "contract_no", "contract_numbering", "contract_signed_on", "signatory", "signed_contract_doc"}),
    ("do_install", 0): ("field_job", "install", {
        "initial_reading", "installed_at", "meter_asset_no", "meter_type", "seal_numbers"}),  # WeChat/prepaid: manager
    ("check_file", 0): ("archive", "archive", {"archive_no", "archive_record", "checklist", "file_complete"}),
}


@pytest.fixture
def hv_case(db, clock):
    deploy(db)
    return run("hv_single_ordinary", db, clock)


def test_each_event_inside_a_called_process_lists_only_what_it_changed(db, clock, hv_case):
    rows, _total = audit.events(db, hv_case.iid, types=["task_completed"])
    seen: dict[str, int] = {}
    checked = 0
    for row in rows:
        n = seen.get(row.task_spec, 0)
        seen[row.task_spec] = n + 1
        expected = EXPECTED.get((row.task_spec, n))
        if expected is None:
            continue
        process, call, keys = expected
        found = timetravel.as_of(db, hv_case.iid, row.seq)
        assert found.scope == {"process": process, "call_activity": call, "task_spec": row.task_spec}, row.seq
        assert set(found.changes) == keys, (row.task_spec, sorted(found.changes))
        # what was entered is "added" or "changed", never struck out; the scope's data is never empty
        assert all(c["change"] != "removed" for c in found.changes.values())
        assert len(found.data) >= 30 and "customer_name" in found.data
        checked += 1
    assert checked == len(EXPECTED)


def test_no_event_of_a_live_high_voltage_case_shows_empty_case_data(db, clock, hv_case):
    rows, _total = audit.events(db, hv_case.iid)
    for row in rows[1:]:
        found = timetravel.as_of(db, hv_case.iid, row.seq)
        assert found.data, (row.seq, row.type, row.task_spec)
        # no event strikes out or adds the whole case (the #52/#55 symptom): at most one form's worth
        # (the largest, 受理, sets 34 keys with the capacity unit fields)
        assert len(found.changes) <= 36, (row.seq, row.task_spec, sorted(found.changes))
        if row.type != "task_completed" and row.type not in ("timer_fired", "message_received"):
            assert found.changes == {}, (row.seq, row.type)


def test_contract_signing_beside_the_meter_job_does_not_list_meter_fields(db, clock, hv_case):
    rows, _total = audit.events(db, hv_case.iid, types=["task_completed"])
    [sign] = [r for r in rows if r.task_spec == "sign_contract"]
    found = timetravel.as_of(db, hv_case.iid, sign.seq)
    assert not {"meter_asset_no", "initial_reading", "seal_numbers"} & set(found.changes)
    [install] = [r for r in rows if r.task_spec == "do_install"]
    after = timetravel.as_of(db, hv_case.iid, install.seq)
    assert not {"contract_no", "signatory"} & set(after.changes)
