"""Issue 14: staff finish every case in the browser, as real people do — one run per business
type, from the counter to the archive, through the pages alone.

Each role signs in in turn (each person stays signed in at their desk, as at work), finds the
case's task in the group list, claims it and types and chooses the form's values; documents go
through the file input, dates through the flatpickr input, the worker of a field job is chosen in
派工 and reports arrival and completion on `/field` on a 390×844 phone. No 填充示例数据, no API
call, no engine call to move the case. Every page passed is kept under `test-artifacts/<type>/`;
every page must be Chinese and raise no console error (conftest). The cost of each case — pages,
clicks, sign-ins — is printed (`-s`) and kept in `test-artifacts/journeys.txt` for the release
note. The resident run uses today's real date (no frozen clock); the others the frozen clock,
moved forward a quarter of an hour per step so reported times follow each other as in life.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.sync_api import Page, expect

from engine.core import clock as engine_clock
from engine.core.db import Database
from engine.demo import answers, applications
from tests.browser.person import PHONE, Desk, chinese_only
from tests.browser.support import form_ready
from tests.process_helpers import form

#: the form each task shows (bpmn/), and who does it; field jobs are done by the team's worker
FORMS = {"sign_standard": "contract-standard", "book_appointment": "field-appointment",
         "dispatch_job": "field-dispatch", "do_install": "field-install", "do_survey": "field-survey",
         "do_verify": "field-verify", "register_services": "customer-services", "job_callback": "field-callback",
         "energize": "energize", "check_file": "archive-check", "callback": "callback",
         "reply_scheme": "scheme-reply-hv", "customer_works": "customer-works", "receive_completion": "completion-receipt",
         "inspect": "inspection", "draft_contract": "contract-draft", "sign_contract": "contract-sign",
         "meter_work": "meter-work", "update_contract": "contract-change", "update_billing": "billing-change",
         "receive_drawings": "design-receipt", "review_design": "design-review", "works_to_hidden": "intermediate-request",
         "intermediate_check": "intermediate-check", "grid_works": "grid-works"}
#: forms that differ by business type
KIND_FORMS = {("lv_nonres", "reply_scheme"): "scheme-reply-lv"}
WORKERS = {"survey": ("surveyor", "刘洋", "13700001111", "do_survey"),
           "install": ("metering", "孙涛", "13700002111", "do_install"),
           "verify": ("surveyor", "刘洋", "13700001111", "do_verify")}
FIELD = "field"
PLANS: dict[str, list[tuple[str, str]]] = {
    "lv_res": [("clerk", "sign_standard"), (FIELD, "install"),
               ("dispatcher", "job_callback"), ("metering", "energize"), ("clerk", "check_file"),
               ("dispatcher", "callback")],
    "hv_single": [(FIELD, "survey"), ("dispatcher", "job_callback"), ("manager", "reply_scheme"),
                  ("manager", "customer_works"), ("manager", "receive_completion"), ("reviewer", "inspect"),
                  ("manager", "draft_contract"), ("manager", "sign_contract"), (FIELD, "install"),
                  ("dispatcher", "job_callback"), ("metering", "energize"),
                  ("clerk", "check_file"), ("dispatcher", "callback")],
    "lv_nonres": [("clerk", "sign_standard"), (FIELD, "survey"), ("dispatcher", "job_callback"),
                  ("manager", "reply_scheme"), (FIELD, "install"), ("dispatcher", "job_callback"),
                  ("metering", "energize"), ("clerk", "check_file"), ("dispatcher", "callback")],
    "hv_dual": [(FIELD, "survey"), ("dispatcher", "job_callback"), ("manager", "reply_scheme"),
                ("manager", "receive_drawings"), ("reviewer", "review_design"), ("manager", "works_to_hidden"),
                ("reviewer", "intermediate_check"), ("manager", "customer_works"), ("manager", "receive_completion"),
                ("reviewer", "inspect"), (FIELD, "install"), ("manager", "draft_contract"),
                ("dispatcher", "job_callback"), ("manager", "sign_contract"), ("metering", "energize"),
                ("clerk", "check_file"), ("dispatcher", "callback")],
    "change": [(FIELD, "verify"), ("dispatcher", "job_callback"), ("metering", "meter_work"),
               ("manager", "update_contract"), ("manager", "update_billing"), ("clerk", "check_file")],
}
RESULTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "journeys.txt"


class Journey:
    """One case's run: the people signed in so far, the desk that counts, the clock's step."""

    def __init__(self, kind: str, new_context: Any, artifacts: Path, tmp_path: Path,
                 tick: Callable[[], None]) -> None:
        self.kind = kind
        self.desk = Desk(artifacts / kind, tmp_path)
        self.new_context = new_context
        self.people: dict[str, Page] = {}
        self.tick = tick
        self.rng = random.Random(14)
        self.case: dict[str, Any] = {}
        self.iid = 0

    def person(self, username: str, phone: bool = False) -> Page:
        if username not in self.people:
            extra = {"viewport": PHONE, "is_mobile": True, "has_touch": True} if phone else {}
            self.people[username] = self.desk.sign_in(self.new_context(**extra), username)
        return self.people[username]

    def values(self, spec: str, **changes: Any) -> dict[str, Any]:
        schema = form(f"{self.form_of(spec)}.schema.json")
        data = answers.answer(schema, self.case, rework=False, now=engine_clock.now(), rng=self.rng)
        return {**data, **changes}

    def order(self, spec: str) -> list[str]:
        return form(f"{self.form_of(spec)}.uischema.json").get("ui:order", [])

    def form_of(self, spec: str) -> str:
        return KIND_FORMS.get((self.kind, spec)) or FORMS[spec]

    def task(self, username: str, spec: str, **changes: Any) -> None:
        self.tick()
        page = self.person(username, phone=username in ("metering", "surveyor"))
        self.desk.open_task(page, self.iid, spec)
        self.desk.fill(page, self.values(spec, **changes), self.order(spec))
        self.desk.submit(page, spec)

    def accept(self, process: str = "new_connection", form_name: str = "accept") -> None:
        clerk = self.person("clerk")
        self.desk.click(clerk.get_by_test_id("nav-start"))
        self.desk.shot(clerk, "start")
        self.desk.choose(clerk.get_by_test_id(f"process-{process}"))
        self.desk.tally.choices += 1
        clerk.get_by_test_id("channel").select_option(self.case["channel"])
        self.desk.click(clerk.get_by_test_id("start-submit"))
        form_ready(clerk)
        self.desk.shot(clerk, f"task-{form_name}")
        self.iid = int(clerk.get_by_test_id("case-link").get_attribute("href").rsplit("/", 1)[1])
        self.desk.fill(clerk, {k: v for k, v in self.case.items() if k != "channel"},
                       form(f"{form_name}.uischema.json")["ui:order"])
        self.desk.submit(clerk, form_name)

    def field_job(self, kind: str) -> None:
        """Booked by the dispatcher, given to a worker in 派工, reported from the worker's phone."""
        username, worker, mobile, work_spec = WORKERS[kind]
        self.task("dispatcher", "book_appointment", appointment_mode="within", within_hours=24,
                  customer_confirmed=True)
        self.task("lead", "dispatch_job", worker_name=worker, worker_mobile=mobile, route_seq=1)
        self.tick()
        phone = self.person(username, phone=True)
        self.desk.click(phone.get_by_test_id("nav-field"))
        job = phone.locator('[data-testid=job][data-step="arrive"]').first
        expect(job).to_be_visible()
        self.desk.shot(phone, f"field-{kind}-arrive")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        self.desk.click(job.get_by_test_id("arrive"))
        self.tick()
        self.desk.click(phone.locator('[data-testid=job][data-step="work"]').first.get_by_test_id("work-link"))
        form_ready(phone)
        self.desk.shot(phone, f"task-{work_spec}")
        self.desk.fill(phone, self.values(work_spec), self.order(work_spec))
        self.desk.submit(phone, work_spec)
        if kind == "install":  # the customer manager registers the services before the job closes
            self.task("manager", "register_services")
        self.tick()
        self.desk.click(phone.get_by_test_id("nav-field"))
        job = phone.locator('[data-testid=job][data-step="complete"]').first
        job.get_by_test_id("work-summary").fill("作业完成，现场已清理，客户已确认。")
        self.desk.choose(job.get_by_test_id("signed"))
        self.desk.shot(phone, f"field-{kind}-complete")
        self.desk.click(job.get_by_test_id("complete"))
        expect(phone.locator('[data-testid=job][data-step="done"]').first).to_be_visible()
        self.desk.shot(phone, f"field-{kind}-done")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    def run(self, plan: list[tuple[str, str]]) -> None:
        for who, what in plan:
            if who == FIELD:
                self.field_job(what)
            else:
                self.task(who, what)

    def archived(self) -> None:
        clerk = self.person("clerk")
        clerk.goto(f"/cases/{self.iid}")
        expect(clerk.get_by_test_id("milestone")).to_have_text("已办结")
        self.desk.shot(clerk, "case-archived")
        chinese_only(clerk)
        t = self.desk.tally
        line = (f"{self.kind}: {t.tasks} tasks, {t.pages} pages, {t.clicks} clicks on buttons and links + "
                f"{t.choices} choices on forms, {t.sign_ins} sign-ins (each person stays signed in)")
        print(line)
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def _journey(kind: str, new_context: Any, artifacts: Path, tmp_path: Path, tick: Callable[[], None]) -> Journey:
    j = Journey(kind, new_context, artifacts, tmp_path, tick)
    accept = form("change-accept.schema.json" if kind == "change" else "accept.schema.json")["examples"]
    j.case = applications.BUILDERS[kind](accept, j.rng, engine_clock.now().astimezone(engine_clock.CHINA).date())
    return j


def test_a_resident_on_todays_date(new_context: Any, artifacts: Path, tmp_path: Path, web_db: Database,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YEKUO_CALENDAR_FALLBACK", "1")  # the packaged calendar may end before today
    engine_clock.set_clock(engine_clock.SystemClock())  # today's real date; `_frozen` puts its clock back
    j = _journey("lv_res", new_context, artifacts, tmp_path, tick=lambda: None)
    j.case.update(survey_with_install=True)
    j.accept()
    j.run(PLANS["lv_res"])
    j.archived()


@pytest.mark.parametrize("kind", ["hv_single", "lv_nonres", "hv_dual", "change"])
def test_a_case_of_each_kind(kind: str, new_context: Any, artifacts: Path, tmp_path: Path, web_db: Database,
                             frozen_clock: engine_clock.FixedClock) -> None:
    def tick() -> None:
        frozen_clock.advance(minutes=15)

    j = _journey(kind, new_context, artifacts, tmp_path, tick)
    if kind == "lv_nonres":  # all documents at the counter (一证受理 is its own story), not 三零: a scheme reply
        j.case.update(one_id_acceptance=False, small_micro=False, documents={**j.case["documents"], "property_proof": {
            "ref": "att-000000", "name": "房屋租赁合同.pdf"}})
        j.case.pop("docs_pending", None)
        j.case.pop("docs_promised_by", None)
    if kind == "change":
        j.accept("change", "change-accept")
    else:
        j.accept()
    j.run(PLANS[kind])
    j.archived()
