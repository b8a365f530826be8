"""Deploy-time validation: good bundles parse, and every refusal names its file, element and line."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow

from engine.core.errors import DeployError, Problem
from engine.core.validation.bundle import ParsedProcess, parse_bundle

DATA = Path(__file__).parent / "data"
BPMN = DATA / "bad_bpmn"
FORMS = DATA / "forms"
GROUPS = {"clerk": "营业厅受理员", "surveyor": "勘查班组", "metering": "计量班组"}
OPERATORS = {"gis/supply_scheme"}


def bundle(*names: str) -> dict[str, bytes]:
    return {name: (BPMN / name).read_bytes() for name in names}


def parse(*names: str, files: dict[str, bytes] | None = None, forms_dir: Path = FORMS,
          **kwargs) -> list[ParsedProcess]:
    return parse_bundle(files if files is not None else bundle(*names), forms_dir=forms_dir,
                        groups=GROUPS, operators=OPERATORS, **kwargs)


def problems(*names: str, **kwargs) -> list[Problem]:
    with pytest.raises(DeployError) as caught:
        parse(*names, **kwargs)
    assert caught.value.problems, "DeployError without problems"
    return caught.value.problems


def only(found: list[Problem]) -> Problem:
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line containing `needle`, so tests survive edits of the fixtures."""
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in {path.name}")


def assert_problem(p: Problem, file: str, element: str | None, line: int | None, *words: str) -> None:
    assert (p.file, p.element, p.line) == (file, element, line), str(p)
    for word in words:
        assert word in p.message, str(p)


# ---------------------------------------------------------------------------------------------
# A good bundle


@pytest.fixture(scope="module")
def good() -> dict[str, ParsedProcess]:
    return {p.key: p for p in parse("good_main.bpmn", "good_meter.bpmn")}


def test_good_bundle_gives_one_parsed_process_per_executable_process(good):
    main, meter = good["conn_small"], good["meter_sub"]
    assert (main.name, main.source_file) == ("低压小型接电", "good_main.bpmn")
    assert (meter.name, meter.source_file) == ("装表接电", "good_meter.bpmn")
    # a called process is a version of its own, bound when the call starts: nothing of it is kept here
    assert main.subprocess_specs == {} and meter.subprocess_specs == {}
    assert set(main.sources) == {"good_main.bpmn"}
    assert main.sources["good_main.bpmn"] == (BPMN / "good_main.bpmn").read_text(encoding="utf-8")
    assert set(meter.sources) == {"good_meter.bpmn"}


def test_good_bundle_lanes_map_names_to_group_codes(good):
    # a lane may use the code or the display name (whitespace ignored); callees keep their own lanes
    assert good["conn_small"].lanes == {"clerk": "clerk", " 勘查班组 ": "surveyor"}
    assert good["meter_sub"].lanes == {"metering": "metering"}


def test_good_bundle_forms_and_flows(good):
    main = good["conn_small"]
    assert set(main.forms) == {"application.schema.json", "application.uischema.json", "survey.schema.json"}
    assert main.forms["survey.schema.json"]["title"] == "现场勘查"
    assert set(good["meter_sub"].forms) == {"meter.schema.json"}
    flows = {f["id"]: f for f in main.flows}
    assert flows["f_big"] == {"id": "f_big", "process": "conn_small", "source": "gw_load",
                              "target": "call_meter", "name": "大于100kW"}
    assert "m2" not in flows and {f["process"] for f in good["meter_sub"].flows} == {"meter_sub"}
    assert len(main.flows) == 9


def test_good_bundle_specs_keep_what_the_model_says(good):
    specs = good["conn_small"].spec.task_specs
    assert specs["survey_reminder"].cancel_activity is False
    assert specs["supply_scheme"].operation_name == "gis/supply_scheme"
    assert specs["survey"].lane == " 勘查班组 "
    assert specs["receive_application"].extensions["properties"]["formJsonSchemaFilename"] == "application.schema.json"


def test_good_bundle_spec_runs_to_the_first_user_task(good):
    main = good["conn_small"]
    wf = BpmnWorkflow(main.spec, main.subprocess_specs)
    wf.do_engine_steps()
    ready = wf.get_tasks(state=TaskState.READY, manual=True)
    assert [(t.task_spec.bpmn_id, t.task_spec.lane) for t in ready] == [("receive_application", "clerk")]


def test_checksum_is_stable_and_follows_content(tmp_path, good):
    again = {p.key: p for p in parse("good_meter.bpmn", "good_main.bpmn")}
    assert again["conn_small"].checksum == good["conn_small"].checksum
    assert again["meter_sub"].checksum == good["meter_sub"].checksum
    assert good["conn_small"].checksum != good["meter_sub"].checksum

    forms = tmp_path / "forms"
    shutil.copytree(FORMS, forms)
    survey = forms / "survey.schema.json"
    survey.write_text(survey.read_text(encoding="utf-8").replace("现场勘查", "现场勘查（新）"), encoding="utf-8")
    changed = {p.key: p for p in parse("good_main.bpmn", "good_meter.bpmn", forms_dir=forms)}
    assert changed["conn_small"].checksum != good["conn_small"].checksum
    assert changed["meter_sub"].checksum == good["meter_sub"].checksum  # it does not use that form


def test_business_rule_task_with_known_decision_parses():
    [proc] = parse("rule_good.bpmn", "tariff.dmn")
    assert set(proc.sources) == {"rule_good.bpmn", "tariff.dmn"}


def test_decision_tables_may_come_separately():
    [proc] = parse(files=bundle("rule_good.bpmn"), dmn_files=bundle("tariff.dmn"))
    assert proc.spec.task_specs["classify"].dmnEngine is not None
    assert "tariff.dmn" in proc.sources


# ---------------------------------------------------------------------------------------------
# Refusals: files and XML


def test_malformed_xml_reports_its_line():
    p = only(problems("malformed.bpmn"))
    assert_problem(p, "malformed.bpmn", None, line_of(BPMN / "malformed.bpmn", 'name="a < b"'), "XML syntax error")


def test_xsd_violation_is_located():
    p = only(problems("xsd_invalid.bpmn"))
    assert_problem(p, "xsd_invalid.bpmn", "receive_application",
                   line_of(BPMN / "xsd_invalid.bpmn", 'priority="high"'), "schema", "priority")


def test_xxe_is_refused_without_reading_the_file():
    with pytest.raises(DeployError) as caught:
        parse("xxe.bpmn")
    p = only(caught.value.problems)
    assert_problem(p, "xxe.bpmn", None, 2, "DOCTYPE")
    everything = str(caught.value) + repr(caught.value.details)
    passwd = Path("/etc/passwd")
    leaked = [line for line in passwd.read_text().splitlines() if line and line in everything] \
        if passwd.exists() else []
    assert leaked == [] and "root:" not in everything


def test_billion_laughs_is_refused_quickly():
    started = time.perf_counter()
    p = only(problems("billion_laughs.bpmn"))
    assert time.perf_counter() - started < 1.0
    assert_problem(p, "billion_laughs.bpmn", None, 2, "entity")


def test_oversize_file_is_refused_before_parsing():
    size = len((BPMN / "good_main.bpmn").read_bytes())
    found = problems("good_main.bpmn", "good_meter.bpmn", max_bytes=size - 1)
    p = only([p for p in found if p.file == "good_main.bpmn"])
    assert_problem(p, "good_main.bpmn", None, None, str(size), "limit")


def test_oversize_garbage_is_not_parsed():
    p = only(problems(files={"huge.bpmn": b"<" * 2048}, max_bytes=1024))
    assert_problem(p, "huge.bpmn", None, None, "limit")


def test_duplicate_process_id_across_files():
    found = problems("good_main.bpmn", "good_meter.bpmn", "duplicate_process.bpmn")
    p = only(found)
    assert_problem(p, "duplicate_process.bpmn", "conn_small", line_of(BPMN / "duplicate_process.bpmn", "<bpmn:process"),
                   "already defined in good_main.bpmn")


def test_missing_called_element():
    p = only(problems("missing_call.bpmn"))
    assert_problem(p, "missing_call.bpmn", "call_missing", line_of(BPMN / "missing_call.bpmn", 'id="call_missing"'),
                   "meter_sub_v9")


def test_call_to_a_file_not_in_the_bundle():
    p = only(problems("good_main.bpmn"))
    assert_problem(p, "good_main.bpmn", "call_meter", line_of(BPMN / "good_main.bpmn", 'id="call_meter"'), "meter_sub")


def test_bundle_without_executable_process():
    p = only(problems("not_executable.bpmn"))
    assert p.element is None and "no executable process" in p.message


def test_unknown_decision():
    p = only(problems("rule_unknown_decision.bpmn", "tariff.dmn"))
    assert_problem(p, "rule_unknown_decision.bpmn", "classify",
                   line_of(BPMN / "rule_unknown_decision.bpmn", "no_such_decision"), "no_such_decision", "tariff_decision")


# ---------------------------------------------------------------------------------------------
# Refusals: forms


def test_missing_form_file():
    p = only(problems("missing_form.bpmn"))
    assert_problem(p, "missing_form.bpmn", "receive_application",
                   line_of(BPMN / "missing_form.bpmn", "no-such-form.schema.json"), "not found")


def test_form_with_invalid_json_reports_the_form_line():
    p = only(problems("form_bad_json.bpmn"))
    assert_problem(p, "bad-json.schema.json", None, 5, "not valid JSON")


def test_form_schema_failing_the_meta_schema():
    p = only(problems("form_bad_meta.bpmn"))
    assert_problem(p, "bad-meta.schema.json", "/properties/load_kw/type", None, "meta-schema", "decimal")


def test_form_example_not_matching_its_schema():
    p = only(problems("form_bad_example.bpmn"))
    assert_problem(p, "bad-example.schema.json", "/examples/1", None, "example 1", "forty-five")


def test_form_file_name_with_path_traversal():
    p = only(problems("form_traversal.bpmn"))
    assert_problem(p, "form_traversal.bpmn", "receive_application",
                   line_of(BPMN / "form_traversal.bpmn", "../forms/"), "plain file name")


def test_user_task_without_form_property():
    text = (BPMN / "missing_form.bpmn").read_text(encoding="utf-8")
    text = text.replace('name="formJsonSchemaFilename"', 'name="somethingElse"')
    p = only(problems(files={"no_form.bpmn": text.encode()}))
    assert_problem(p, "no_form.bpmn", "receive_application", line_of(BPMN / "missing_form.bpmn", 'id="receive_application"'),
                   "formJsonSchemaFilename")


# ---------------------------------------------------------------------------------------------
# Refusals: lanes and services


def test_user_task_without_lane():
    p = only(problems("no_lane.bpmn"))
    assert_problem(p, "no_lane.bpmn", "receive_application", line_of(BPMN / "no_lane.bpmn", 'id="receive_application"'),
                   "no lane")


def test_unknown_lane_lists_the_known_groups():
    p = only(problems("unknown_lane.bpmn"))
    assert_problem(p, "unknown_lane.bpmn", "lane_clerk", line_of(BPMN / "unknown_lane.bpmn", "仓库管理员"),
                   "'仓库管理员' matches no group", "surveyor (勘查班组)")


def test_unknown_service_operator():
    p = only(problems("unknown_operator.bpmn"))
    assert_problem(p, "unknown_operator.bpmn", "notify_crm",
                   line_of(BPMN / "unknown_operator.bpmn", "crm/no_such_thing"), "crm/no_such_thing", "gis/supply_scheme")


# ---------------------------------------------------------------------------------------------
# Refusals: timers


@pytest.mark.parametrize("name, words", [
    ("timer_unquoted.bpmn", ["PT48H is not quoted", 'write "PT48H"']),
    ("timer_cycle_unquoted.bpmn", ["timer cycle R3/PT24H is not quoted", 'write "R3/PT24H"']),
    ("timer_garbage.bpmn", ["'soon'", "not an ISO 8601 duration"]),
])
def test_bad_timer_expressions(name, words):
    p = only(problems(name))
    kind = "timeCycle" if "cycle" in name else "timeDuration"
    assert_problem(p, name, f"timer_{name.removesuffix('.bpmn')}", line_of(BPMN / name, f"<bpmn:{kind}>"), *words)


def test_timer_date_without_offset():
    text = (BPMN / "good_meter.bpmn").read_text(encoding="utf-8")
    text = text.replace("<bpmn:timeDate>meter_slot</bpmn:timeDate>", '<bpmn:timeDate>"2026-03-02T09:00:00"</bpmn:timeDate>')
    p = only(problems(files={"good_meter.bpmn": text.encode()}))
    assert_problem(p, "good_meter.bpmn", "wait_slot", line_of(BPMN / "good_meter.bpmn", "<bpmn:timeDate>"), "UTC offset")


def test_timer_reading_a_form_field_is_checked_against_its_example(tmp_path):
    forms = tmp_path / "forms"
    shutil.copytree(FORMS, forms)
    meter = forms / "meter.schema.json"
    meter.write_text(meter.read_text(encoding="utf-8").replace('"format": "date-time"', '"minLength": 1')
                     .replace("2026-03-02T09:00:00+08:00", "next Monday"), encoding="utf-8")
    p = only(problems("good_meter.bpmn", forms_dir=forms))
    assert_problem(p, "good_meter.bpmn", "wait_slot", line_of(BPMN / "good_meter.bpmn", "<bpmn:timeDate>"),
                   "'next Monday'", "ISO 8601 date")


# ---------------------------------------------------------------------------------------------
# Refusals: scripts and conditions


def test_script_syntax_error_reports_the_line_in_the_file():
    p = only(problems("script_syntax.bpmn"))
    # the error is on the script's second line
    assert_problem(p, "script_syntax.bpmn", "compute_fee", line_of(BPMN / "script_syntax.bpmn", "<bpmn:script>") + 1,
                   "syntax error")


def test_script_importing_os_is_refused_by_the_sandbox():
    p = only(problems("script_import.bpmn"))
    assert_problem(p, "script_import.bpmn", "sneaky", line_of(BPMN / "script_import.bpmn", "<bpmn:script>"), "refused")


def test_condition_syntax_error():
    p = only(problems("condition_syntax.bpmn"))
    assert_problem(p, "condition_syntax.bpmn", "f_yes", line_of(BPMN / "condition_syntax.bpmn", "load_kw &gt;<"),
                   "condition", "syntax error")


# ---------------------------------------------------------------------------------------------
# Refusals: what SpiffWorkflow would ignore or not run


def test_disconnected_task_is_reported_as_ignored():
    p = only(problems("disconnected.bpmn"))
    assert_problem(p, "disconnected.bpmn", "orphan_script", line_of(BPMN / "disconnected.bpmn", 'id="orphan_script"'),
                   "not connected", "ignore")


def test_complex_gateway_is_unsupported():
    p = only(problems("complex_gateway.bpmn"))
    assert_problem(p, "complex_gateway.bpmn", "gw", line_of(BPMN / "complex_gateway.bpmn", "<bpmn:complexGateway"),
                   "complexGateway", "not supported")


def test_gateway_flow_without_condition_that_is_not_the_default():
    p = only(problems("gateway_no_default.bpmn"))
    assert_problem(p, "gateway_no_default.bpmn", "f_no", line_of(BPMN / "gateway_no_default.bpmn", 'id="f_no"'),
                   "'gw'", "without a condition")


def test_spiffworkflow_parser_errors_become_located_problems():
    p = only(problems("spiff_error.bpmn"))
    assert_problem(p, "spiff_error.bpmn", "inner", line_of(BPMN / "spiff_error.bpmn", 'id="inner"'),
                   "SpiffWorkflow", "start event")


# ---------------------------------------------------------------------------------------------
# Everything at once


def test_every_problem_of_a_bundle_is_reported_in_reading_order():
    names = ["multi_problem.bpmn", "malformed.bpmn", "no_lane.bpmn", "timer_garbage.bpmn",
             "missing_form.bpmn", "form_bad_json.bpmn"]
    found = problems(*names)
    multi = BPMN / "multi_problem.bpmn"
    expected = [
        ("multi_problem.bpmn", "lane_clerk", line_of(multi, "维修班")),
        ("multi_problem.bpmn", "multi_timer", line_of(multi, "<bpmn:timeDuration>")),
        ("multi_problem.bpmn", "broken_script", line_of(multi, "<bpmn:script>")),
        ("multi_problem.bpmn", "call_erp", line_of(multi, "erp/unknown")),
        ("malformed.bpmn", None, line_of(BPMN / "malformed.bpmn", "a < b")),
        ("no_lane.bpmn", "receive_application", line_of(BPMN / "no_lane.bpmn", 'id="receive_application"')),
        ("timer_garbage.bpmn", "timer_timer_garbage", line_of(BPMN / "timer_garbage.bpmn", "<bpmn:timeDuration>")),
        ("missing_form.bpmn", "receive_application", line_of(BPMN / "missing_form.bpmn", "no-such-form")),
        ("bad-json.schema.json", None, 5),
    ]
    assert [(p.file, p.element, p.line) for p in found] == expected, "\n".join(map(str, found))
    assert "DeployError" not in str(found) and all(str(p) for p in found)
