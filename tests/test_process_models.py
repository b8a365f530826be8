"""The models in bpmn/ as documents: they deploy cleanly and open in a modeler as they run.

bpmn-js recomputes a node's lane from where its shape sits whenever someone moves it, so the
diagram must agree with the lanes' flowNodeRefs, not merely exist.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from lxml import etree

from engine.deadlines import sla
from tests.process_helpers import BPMN_DIR, FORMS_DIR, deploy

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC", "di": "http://www.omg.org/spec/DD/20100524/DI",
      "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
      "dmn": "https://www.omg.org/spec/DMN/20191111/MODEL/", "dmndi": "https://www.omg.org/spec/DMN/20191111/DMNDI/"}
FLOW_NODES = ("startEvent", "endEvent", "boundaryEvent", "intermediateCatchEvent", "userTask", "serviceTask",
              "scriptTask", "businessRuleTask", "callActivity", "exclusiveGateway", "parallelGateway", "task")
SLA_KEYS = {"scheme_reply", "design_review", "intermediate_check", "completion_inspection", "connection",
            "callback", "whole_process", "after_sales"}  # after_sales: the follow-up's own limit (not assessed)
PAUSE_REASONS = set(sla.PAUSE_REASONS)
CHINESE = re.compile(r"[\u4e00-\u9fff]")
MODELS = sorted(BPMN_DIR.glob("*.bpmn"))
EXPECTED = {"new_connection", "lv_delivery", "hv_delivery", "hv_project", "field_job", "design_review",
            "inspection", "contract", "archive", "change", "after_sales"}


def _tree(path: Path) -> etree._Element:
    return etree.parse(str(path)).getroot()


def _bounds(shape: etree._Element) -> tuple[float, float, float, float]:
    b = shape.find("dc:Bounds", NS)
    return float(b.get("x")), float(b.get("y")), float(b.get("width")), float(b.get("height"))


def _on_border(point: tuple[float, float], box: tuple[float, float, float, float], tol: float = 1.5) -> bool:
    (px, py), (x, y, w, h) = point, box
    inside = x - tol <= px <= x + w + tol and y - tol <= py <= y + h + tol
    near_edge = min(abs(px - x), abs(px - x - w), abs(py - y), abs(py - y - h)) <= tol
    return inside and near_edge


def test_every_model_is_here():
    ids = {p.get("id") for path in MODELS for p in _tree(path).iterfind("bpmn:process", NS)}
    assert ids == EXPECTED
    assert {p.name for p in BPMN_DIR.glob("*.dmn")} == {"business_type.dmn", "review_path.dmn"}


def test_all_models_deploy_without_problems_or_warnings(db, clock):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = deploy(db, cached=False)
    assert set(results) == EXPECTED and all(r.created for r in results.values())
    assert [str(w.message) for w in caught] == []
    assert not any(r.created for r in deploy(db, cached=False).values())  # same content: unchanged


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_diagram_has_a_shape_for_every_element_and_an_edge_for_every_flow(path):
    root = _tree(path)
    [process] = root.findall("bpmn:process", NS)
    [participant] = root.findall("bpmn:collaboration/bpmn:participant", NS)
    assert participant.get("processRef") == process.get("id")
    [plane] = root.findall("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    assert plane.get("bpmnElement") == root.find("bpmn:collaboration", NS).get("id")
    shapes = {s.get("bpmnElement"): s for s in plane.findall("bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in plane.findall("bpmndi:BPMNEdge", NS)}
    nodes = [n for tag in FLOW_NODES for n in process.iterfind(f"bpmn:{tag}", NS)]
    lanes = process.findall("bpmn:laneSet/bpmn:lane", NS)
    missing = [e.get("id") for e in [participant, *lanes, *nodes] if e.get("id") not in shapes]
    assert not missing, f"no shape for {missing}"
    for flow in process.iterfind("bpmn:sequenceFlow", NS):
        edge = edges.get(flow.get("id"))
        assert edge is not None, f"no edge for {flow.get('id')}"
        points = [(float(p.get("x")), float(p.get("y"))) for p in edge.findall("di:waypoint", NS)]
        assert len(points) >= 2
        assert _on_border(points[0], _bounds(shapes[flow.get("sourceRef")])), f"{flow.get('id')} starts off its source"
        assert _on_border(points[-1], _bounds(shapes[flow.get("targetRef")])), f"{flow.get('id')} ends off its target"
        orthogonal = all(a[0] == b[0] or a[1] == b[1] for a, b in zip(points, points[1:]))
        assert orthogonal, f"{flow.get('id')} has a slanted segment"


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_lanes_are_horizontal_bands_holding_their_nodes(path):
    root = _tree(path)
    process = root.find("bpmn:process", NS)
    shapes = {s.get("bpmnElement"): s for s in root.iter(f"{{{NS['bpmndi']}}}BPMNShape")}
    pool = _bounds(shapes[root.find("bpmn:collaboration/bpmn:participant", NS).get("id")])
    bands = []
    owner: dict[str, str] = {}
    for lane in process.findall("bpmn:laneSet/bpmn:lane", NS):
        shape = shapes[lane.get("id")]
        assert shape.get("isHorizontal") == "true"
        x, y, w, h = _bounds(shape)
        assert pool[0] <= x and x + w <= pool[0] + pool[2] + 0.5 and pool[1] <= y and y + h <= pool[1] + pool[3] + 0.5
        bands.append((y, y + h))
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            assert ref.text not in owner, f"{ref.text} is in two lanes"
            owner[ref.text] = lane.get("id")
            nx, ny, nw, nh = _bounds(shapes[ref.text])
            assert y < ny + nh / 2 < y + h, f"{ref.text} is drawn outside lane {lane.get('name')}"
    bands.sort()
    assert all(a[1] <= b[0] for a, b in zip(bands, bands[1:])), "lanes overlap"
    nodes = [n.get("id") for tag in FLOW_NODES for n in process.iterfind(f"bpmn:{tag}", NS)]
    assert sorted(set(nodes) - set(owner)) == [], "flow nodes outside every lane"


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_elements_are_named_in_chinese_and_decisions_are_explained(path):
    process = _tree(path).find("bpmn:process", NS)
    unnamed = [e.get("id") for e in [process, *process.iter()] if isinstance(e.tag, str)
               and etree.QName(e).localname in (*FLOW_NODES, "lane", "process")
               and not CHINESE.search(e.get("name") or "")]
    assert unnamed == []
    outgoing: dict[str, int] = {}
    for flow in process.iterfind("bpmn:sequenceFlow", NS):
        outgoing[flow.get("sourceRef")] = outgoing.get(flow.get("sourceRef"), 0) + 1
    for gw in process.iterfind("bpmn:exclusiveGateway", NS):
        if outgoing.get(gw.get("id"), 0) > 1:
            doc = gw.findtext("bpmn:documentation", default="", namespaces=NS)
            assert CHINESE.search(doc), f"deciding gateway {gw.get('id')} has no documentation"
    assert CHINESE.search(process.findtext("bpmn:documentation", default="", namespaces=NS))


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_user_tasks_have_forms_and_deadline_keys_name_known_limits(path):
    process = _tree(path).find("bpmn:process", NS)
    for task in process.iter():
        if not isinstance(task.tag, str):
            continue
        props = {p.get("name"): p.get("value") for p in task.findall(
            "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}
        if etree.QName(task).localname == "userTask":
            for key in ("formJsonSchemaFilename", "formUiSchemaFilename"):
                assert (FORMS_DIR / props[key]).is_file(), f"{task.get('id')}: {props.get(key)}"
        for name in ("slaKey", "slaEnd"):
            if name in props:
                assert props[name] in SLA_KEYS, f"{task.get('id')}: unknown {name} {props[name]}"
        if "slaKey" in props:
            assert etree.QName(task).localname == "userTask", "deadlines attach to work items"
        if "slaPause" in props:
            assert props["slaPause"] in PAUSE_REASONS


def test_every_time_limit_of_the_domain_is_attached_somewhere():
    """Step limits hang on their user tasks; the whole-process clock ends where power is on."""
    keys, ends = set(), []
    for path in MODELS:
        for p in _tree(path).iter(f"{{{NS['spiffworkflow']}}}property"):
            if p.get("name") == "slaKey":
                keys.add(p.get("value"))
            elif p.get("name") == "slaEnd":
                ends.append((path.stem, p.getparent().getparent().getparent().get("id"), p.get("value")))
    assert keys | {v for *_, v in ends} == SLA_KEYS
    assert sorted(ends) == [("hv_delivery", "energize", "whole_process"), ("lv_delivery", "energize", "whole_process")]


@pytest.mark.parametrize("path", sorted(BPMN_DIR.glob("*.dmn")), ids=lambda p: p.stem)
def test_decision_tables_have_a_diagram_and_a_catch_all_rule(path):
    root = _tree(path)
    [decision] = root.findall("dmn:decision", NS)
    assert CHINESE.search(decision.get("name"))
    assert [s.get("dmnElementRef") for s in root.iter(f"{{{NS['dmndi']}}}DMNShape")] == [decision.get("id")]
    table = decision.find("dmn:decisionTable", NS)
    assert table.get("hitPolicy") == "UNIQUE"  # SpiffWorkflow: first matching rule
    last = table.findall("dmn:rule", NS)[-1]
    assert {e.findtext("dmn:text", namespaces=NS) for e in last.findall("dmn:inputEntry", NS)} == {"-"}
