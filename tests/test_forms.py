"""Every form is a valid JSON Schema with valid examples, and refuses bad input in Chinese."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from lxml import etree

from engine.core import form_options, forms
from engine.core.errors import InvalidData
from tests.process_helpers import BPMN_DIR, FORMS_DIR, START, example

SCHEMAS = sorted(FORMS_DIR.glob("*.schema.json"))
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def at_start(clock):
    """Example dates are "not in the past" relative to the scenarios' start."""
    clock.set(START)
    return clock


def _properties(schema):
    """Every property schema, nested objects and array items included."""
    for name, prop in (schema.get("properties") or {}).items():
        yield name, prop
        yield from _properties(prop)
        if isinstance(prop.get("items"), dict):
            yield from _properties(prop["items"])


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name.removesuffix(".schema.json"))
def test_schema_passes_the_meta_schema_and_its_examples_pass_the_schema(path, at_start):
    schema = _load(path)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema["examples"], "a form needs at least one complete example"
    validator = forms.validator(form_options.stubbed(schema))  # the engine's validator: custom formats included
    for i, entry in enumerate(schema["examples"]):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(entry)]
        assert errors == [], f"example {i}"


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name.removesuffix(".schema.json"))
def test_form_speaks_chinese_and_its_ui_schema_matches(path):
    schema = _load(path)
    assert CHINESE.search(schema["title"]) and CHINESE.search(schema["description"])
    for name, prop in _properties(schema):
        assert CHINESE.search(prop.get("title", "")), f"{name} has no Chinese title"
        if "enum" in prop and not prop.get("readOnly") and not form_options.has_options(prop):  # task-data choices
            # carry their labels with them (`options_from_task_data_var`)
            titles = prop.get("options", {}).get("enum_titles", [])
            assert len(titles) == len(prop["enum"]), f"{name}: enum_titles do not match enum"
        if "pattern" in prop or prop.get("format") in ("cn-id-card", "cn-uscc", "cn-mobile", "date", "date-not-past",
                                                        "date-time"):
            message = (prop.get("errorMessage") or {}).get("pattern" if "pattern" in prop else "format", "")
            assert CHINESE.search(message), f"{name} has no Chinese error message"
    ui = _load(path.with_name(path.name.replace(".schema.json", ".uischema.json")))
    assert ui["ui:order"] == list(schema["properties"])
    assert set(ui) - {"ui:order"} <= set(schema["properties"])


def test_each_form_belongs_to_a_task_and_each_task_to_a_form():
    used = set()
    for model in BPMN_DIR.glob("*.bpmn"):
        root = etree.parse(str(model)).getroot()
        used |= {p.get("value") for p in root.iter("{http://spiffworkflow.org/bpmn/schema/1.0/core}property")
                 if p.get("name") in ("formJsonSchemaFilename", "formUiSchemaFilename")}
    files = {p.name for p in FORMS_DIR.glob("*.json")}
    assert used == files


def _errors(form, data):
    schema = _load(FORMS_DIR / f"{form}.schema.json")
    with pytest.raises(InvalidData) as err:
        forms.check(schema, data)
    return err.value.details


def test_identity_numbers_and_mobiles_are_checked(at_start):
    details = _errors("accept", example("accept", id_number="110101199003070012", mobile="12345678901"))
    assert details == {"id_number": [details["id_number"][0]], "mobile": ["请输入11位手机号码（1开头，第二位3-9）"]}
    assert "校验码" in details["id_number"][0]
    details = _errors("accept", example("accept", 1, id_number="91110101MA01ABCD1A"))  # wrong check character
    assert list(details) == ["id_number"]


def test_capacity_must_fit_the_supply_voltage(at_start):
    details = _errors("accept", example("accept", capacity_kw=15))  # 220 V single phase: at most 12 kW
    assert list(details) == ["capacity_kw"] and "220V 12千瓦" in details["capacity_kw"][0]
    assert forms.check(_load(FORMS_DIR / "accept.schema.json"), example("accept", capacity_kw=12))


def test_documents_required_depend_on_one_id_acceptance_and_voltage(at_start):
    no_property = example("accept", documents={"identity": {"ref": "att-7f3a9c21", "name": "身份证.pdf"}})
    assert _errors("accept", no_property) == {"documents.property_proof": ["此项为必填项"]}
    one_id = example("accept", 1, docs_promised_by=None)
    assert _errors("accept", one_id) == {"docs_promised_by": ["此项为必填项"]}
    hv = example("accept", 2, documents={"identity": {"ref": "att-9c2d3e41", "name": "营业执照.pdf"},
                                         "property_proof": {"ref": "att-9c2d3e42", "name": "产权.pdf"}})
    assert _errors("accept", hv) == {"documents.project_approval": ["此项为必填项"]}


def test_dates_that_must_lie_ahead_refuse_the_past(at_start):
    details = _errors("field-appointment", example("field-appointment", appointment_date="2027-02-28"))
    assert details == {"appointment_date": ["请输入今天或以后的日期，格式为 YYYY-MM-DD"]}
    at_start.set(START.replace(day=4))
    assert "appointment_date" in _errors("field-appointment", example("field-appointment"))


def test_conditional_fields_follow_the_choice(at_start):
    assert _errors("field-appointment", {"appointment_mode": "within", "customer_confirmed": True}) == {
        "within_hours": ["此项为必填项"]}
    assert _errors("inspection", example("inspection", 1, defects=None)) == {"defects": ["此项为必填项"]}
    assert _errors("change-accept", example("change-accept", 3, arrears_settled=False)) == {
        "arrears_settled": ["请确认：原户电费已结清"]}


def test_read_only_and_undeclared_fields_do_not_reach_the_case(at_start):
    schema = _load(FORMS_DIR / "field-survey.schema.json")
    clean = forms.check(schema, {**example("field-survey"), "capacity_kw": 999, "is_admin": True})
    assert "capacity_kw" not in clean and "application_no" not in clean and "is_admin" not in clean
    assert clean["supply_point"] == "和平里3号箱变低压出线4"


def test_engine_clock_is_used_for_not_in_the_past(clock):
    schema = _load(FORMS_DIR / "scheme-extension.schema.json")
    data = example("scheme-extension")
    clock.set(START)
    assert forms.check(schema, data)
    clock.set(START.replace(year=2029))  # the example's new validity date now lies behind us
    with pytest.raises(InvalidData):
        forms.check(schema, data)


#: (form, "complete?" field, its "yes" and "no" values, the list that only the "no" answer requires)
CONDITIONAL_LISTS = [("archive-check", "file_complete", True, False, "missing_items"),
                     ("design-review", "design_result", "approved", "rejected", "review_opinions"),
                     ("inspection", "inspection_result", "passed", "failed", "defects"),
                     ("intermediate-check", "intermediate_result", "pass", "pass_with_rectification",
                      "rectification_items")]


@pytest.mark.parametrize(("form", "answer", "yes", "no", "items"), CONDITIONAL_LISTS)
def test_lists_start_empty_and_are_required_only_by_the_answer(at_start, form, answer, yes, no, items):
    """The page shows no empty row a person must fill in or cannot delete: minItems lives in `then`."""
    schema = _load(FORMS_DIR / f"{form}.schema.json")
    assert "minItems" not in schema["properties"][items]
    bad = next(e for e in schema["examples"] if e.get(answer) == no)
    forms.check(schema, {**bad, answer: yes, items: []})
    assert _errors(form, {**bad, items: []})[items] and _errors(form, {k: v for k, v in bad.items() if k != items})[items]
