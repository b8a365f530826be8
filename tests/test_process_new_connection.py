"""The new-connection process end to end, per business type, with the forms' example data."""

from __future__ import annotations

import pytest

from engine.core import queries, worklist
from tests.process_helpers import START, deploy, drive, example, run, sms, start_case


@pytest.fixture
def models(db, clock):
    return deploy(db)


FIELD_JOB = ["book_appointment", "dispatch_job", "report_arrival"]


def test_lv_res_three_zero_case_needs_one_visit(db, clock, models):
    case = run("lv_res_merged", db, clock)
    inst = case.instance(db)
    assert inst.status == "completed"
    assert (inst.data["business_type"], inst.data["voltage_class"], inst.data["sanling"]) == ("lv_res", "lv", True)
    assert inst.data["important_path"] is False
    assert inst.data["application_no"] == "YK20270301-0001"
    assert case.done == ["accept", "sign_standard", *FIELD_JOB, "do_install", "register_services",
                         "report_completion", "job_callback", "energize", "check_file", "callback"]
    assert inst.milestone == "施工接电"
    assert inst.data["contract_no"].startswith("HT20270301-")
    assert inst.data["archive_no"] == "DA2027-000001"
    sent = sms(db, case.iid)
    assert set(sent) == {"accepted", f"appointment:{inst.data['job_no']}", "energized"}
    assert sent["accepted"]["recipient"] == "13912345678"
    assert "YK20270301-0001" in sent["accepted"]["body"] and "低压居民新装" in sent["accepted"]["body"]
    assert "安全用电" in sent["energized"]["body"]
    assert "08:30-12:00" in sent[f"appointment:{inst.data['job_no']}"]["body"]


def test_each_step_lands_in_its_role_group(db, clock, models):
    case = run("lv_res_merged", db, clock)
    done = {i.task_spec: i.candidate_group
            for i in worklist.items(db, worklist.TaskFilter(instance_id=case.iid, status="completed"))}
    assert done == {"accept": "clerk", "sign_standard": "clerk", "book_appointment": "dispatcher",
                    "dispatch_job": "lead", "report_arrival": "dispatcher", "do_install": "metering",
                    "register_services": "manager", "report_completion": "dispatcher",
                    "job_callback": "dispatcher", "energize": "metering", "check_file": "clerk",
                    "callback": "dispatcher"}


def test_surveyed_resident_and_an_overdue_survey_goes_to_the_team_lead(db, clock, models):
    case = run("lv_res_surveyed_overdue", db, clock)
    assert case.notes["fired"] == 1
    assert case.notes["open_after_timer"] == ["chase_survey"]  # the survey was taken away: interrupting
    inst = case.instance(db)
    assert inst.status == "completed"
    assert case.done.count("do_survey") == 1 and "chase_survey" in case.done
    assert case.done.index("chase_survey") < case.done.index("do_survey")
    assert inst.data["overdue_action"] == "reassign"
    # both field jobs (survey and installation) are called back, then the case's own final call-back
    assert case.done.count("job_callback") == 2 and case.done[-1] == "callback"


def test_one_id_acceptance_collects_promised_documents_with_a_reminder(db, clock, models):
    case = run("lv_nonres_one_id", db, clock)
    assert case.notes["waiting_on"] == ["collect_docs"]  # energized, but the file waits for the documents
    assert case.notes["fired"] == 1
    inst = case.instance(db)
    assert inst.status == "completed"
    assert (inst.data["business_type"], inst.data["sanling"]) == ("lv_nonres", True)
    assert "reply_scheme" not in case.done  # 三零: the scheme is settled at the survey
    assert case.done.index("energize") < case.done.index("collect_docs") < case.done.index("check_file")
    reminder = sms(db, case.iid)["docs_reminder"]
    assert "2027-03-15" in reminder["body"] and "产权证明" in reminder["body"]
    assert inst.data["documents"]["property_proof"]["ref"] == "att-8e1b2c40"
    assert inst.data["documents"]["identity"]["ref"] == "att-8e1b2c31"  # merged, not replaced


def test_non_three_zero_workshop_gets_a_scheme_reply_and_grid_works(db, clock, models):
    case = run("lv_nonres_scheme_grid", db, clock)
    inst = case.instance(db)
    assert inst.status == "completed"
    assert (inst.data["business_type"], inst.data["sanling"]) == ("lv_nonres", False)
    order = [t for t in case.done if t in ("do_survey", "reply_scheme", "grid_works", "do_install", "energize")]
    assert order == ["do_survey", "reply_scheme", "grid_works", "do_install", "energize"]
    assert case.done.count("check_file") == 2 and "supplement_file" in case.done
    assert inst.data["booking"]["time_window"] == "18:00前"  # the installation was booked 限期


def test_ordinary_high_voltage_case_skips_design_review(db, clock, models):
    case = run("hv_single_ordinary", db, clock)
    inst = case.instance(db)
    assert inst.status == "completed"
    assert (inst.data["business_type"], inst.data["important_path"]) == ("hv_single", False)
    assert not {"receive_drawings", "review_design", "intermediate_check"} & set(case.done)
    assert case.done.index("reply_scheme") < case.done.index("customer_works") < case.done.index("inspect")
    assert case.done.index("sign_contract") < case.done.index("do_install") < case.done.index("energize")
    assert inst.milestone == "装表接电"
    assert inst.data["scheme_valid_until"] == "2028-03-08"


def test_important_dual_source_case_reviews_design_and_reworks_inspection(db, clock, models):
    case = run("hv_dual_important", db, clock)
    inst = case.instance(db)
    assert inst.status == "completed"
    assert (inst.data["business_type"], inst.data["important_path"]) == ("hv_dual", True)
    assert case.done.count("review_design") == 2 and "notify_design_changes" in case.done
    assert case.done.count("inspect") == 2 and "rectify" in case.done
    assert case.done.index("intermediate_check") < case.done.index("customer_works")
    assert case.done.index("do_install") < case.done.index("sign_contract")
    # the 1-year scheme validity warning fired during the customer's works; the works went on
    assert case.notes["fired"] == 1
    assert case.notes["open_after_timer"] == ["customer_works", "extend_scheme"]
    assert inst.data["scheme_warn_at"] == "2027-03-11T09:00:00+08:00"
    assert "2027-03-25" in sms(db, case.iid)["scheme_expiry"]["body"]


def test_milestones_follow_the_customer_visible_steps(db, clock, models):
    """High voltage, important customer: 申请受理 → 供电方案答复 → 设计审核 → 中间检查 → 竣工检验 → 装表接电."""
    clock.set(START)
    iid = start_case(db)
    answers = {"accept": 2}
    seen = []
    for stop in ("book_appointment", "receive_drawings", "intermediate_check", "customer_works", "draft_contract"):
        drive(db, iid, answers, until=stop)
        seen.append(queries.get_instance(db, iid, with_data=False).milestone)
    drive(db, iid, {"book_appointment": example("field-appointment", appointment_date="2027-03-12")})
    seen.append(queries.get_instance(db, iid, with_data=False).milestone)
    assert seen == ["申请受理", "供电方案答复", "设计审核", "中间检查", "竣工检验", "装表接电"]


def test_scheme_expiry_warning_is_ten_working_days_ahead(db, clock):
    """Scripts get `workdays_before` from the working-day calendar, for the scheme-expiry warning."""
    from SpiffWorkflow.bpmn import BpmnWorkflow

    from engine.core import definitions
    from engine.core.step import Step
    from engine.deadlines import calendar_import
    from tests.process_helpers import deploy

    calendar_import.seed_from_package(db)
    deploy(db)
    definition = definitions.load(db, definitions.latest_id(db, "hv_delivery"))
    step = Step(db, definition, BpmnWorkflow(definition.spec, dict(definition.subprocess_specs)),
                instance_id=None, business_key=None)
    workdays_before = step.wf.script_engine.environment.globals["workdays_before"]
    # back from Thu 15 Oct 2026 over National Day and Mid-Autumn: 14, 13, 12, 10 (Sat, 调休), 9, 8 Oct,
    # 30, 29, 28 Sep, then 24 Sep (25–27 Sep off) — the days chinesecalendar marks as working days
    assert workdays_before("2026-10-15", 10) == "2026-09-24"
    assert workdays_before("2026-03-06", 5) == "2026-02-28"  # Sat 28 Feb is a 调休 working day
