"""Checks of one process's XML that need nothing from SpiffWorkflow's parse.

Lanes must name a group, user tasks a form, call activities a process of the bundle, service
tasks a registered operator, rule tasks a decision; gateways need conditions or a default; the
code inside the process (scripts, conditions, timers) is `code_checks`' job.
"""

from __future__ import annotations

from lxml import etree

from engine.core import anchors
from engine.core.validation.code_checks import CodeChecks, assigned_names, code_items
from engine.core.validation.context import BundleContext, ProcessCheck, ProcessXml
from engine.core.validation.documents import (
    BPMN_NS,
    FLOW_NODE_TAGS,
    HUMAN_TASK_TAGS,
    NS,
    SUBPROCESS_TAGS,
    iter_bpmn,
    short_tag,
)


class Linter(ProcessCheck):
    """XML-level checks of one process; needs nothing from SpiffWorkflow's parse."""

    def __init__(self, proc: ProcessXml, ctx: BundleContext) -> None:
        super().__init__(proc, ctx)
        self.code = CodeChecks(proc, ctx)
        self.node_lanes = {
            ref.text.strip(): ref.getparent().get("name")
            for ref in proc.doc.root.iter(f"{{{BPMN_NS}}}flowNodeRef") if ref.text
        }

    def run_structure(self) -> None:
        """Checks whose results other processes' checks need (lanes, forms, calls, declared names)."""
        self.lanes()
        self.human_tasks()
        self.calls()
        self.services()
        self.decisions()
        self.declared_names()


    def run_behaviour(self) -> None:
        """Checks of code and flow: scripts, conditions, timers, gateways, unsupported nodes."""
        self.code.scripts()
        self.gateways()
        self.unsupported()
        self.code.timers()
        self.recursive_calls()

    # ---- lanes and human tasks
    def lanes(self) -> None:
        for lane in iter_bpmn(self.p.element, "lane"):
            name = lane.get("name")
            if not (name or "").strip():
                self.add("lane has no name, so no group can be assigned", lane)
                continue
            group = self.b.group_for(name)
            if group is None:
                known = ", ".join(f"{code} ({label})" for code, label in self.b.groups.items())
                self.add(f"lane {name!r} matches no group; known: {known}", lane)
            else:
                self.p.lanes[name] = group

    def lane_of(self, node: etree._Element) -> str | None:
        """Lane as SpiffWorkflow computes it: own flowNodeRef, else the enclosing subprocess's."""
        while node is not None and node is not self.p.element:
            lane = self.node_lanes.get(node.get("id") or "")
            if lane is not None:
                return lane
            node = node.getparent()
            while node is not None and node is not self.p.element and node.tag not in SUBPROCESS_TAGS:
                node = node.getparent()
        return None

    def human_tasks(self) -> None:
        for task in self.p.element.iter(*HUMAN_TASK_TAGS):
            if self.lane_of(task) is None:
                self.add("task lies in no lane, so nobody would see it in a work list", task, task.get("id"))
            if task.tag == f"{{{BPMN_NS}}}userTask":
                self.user_task_forms(task)
            self.anchor_props(task)

    def anchor_props(self, task: etree._Element) -> None:
        """`slaFrom` anchors must parse and name an element or message some file of the bundle has."""
        for prop in task.xpath("./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
                               "[@name='slaFrom']", namespaces=NS):
            try:
                parsed = anchors.parse(prop.get("value") or "")
            except ValueError as exc:
                self.add(f"slaFrom: {exc}", prop, task.get("id"))
                continue
            for anchor in parsed:
                known = self._bundle_names(anchor.kind)
                if known is not None and anchor.name not in known:
                    what = "element" if anchor.kind == "task" else "message"
                    self.add(f"slaFrom anchor {anchor}: no {what} {anchor.name!r} in this deployment", prop,
                             task.get("id"))

    def _bundle_names(self, kind: str) -> set[str] | None:
        """Element ids (kind `task`) or message names (`message`) of every file; None for `field`."""
        if kind == "field":
            return None
        docs = {id(p.doc): p.doc for p in self.b.procs.values()}.values()
        if kind == "task":
            return {i for d in docs for i, el in d.ids.items() if el.tag in FLOW_NODE_TAGS}
        return {m.get("name") for d in docs for m in iter_bpmn(d.root, "message") if m.get("name")}

    def user_task_forms(self, task: etree._Element) -> None:
        props = {
            p.get("name"): p
            for p in task.xpath("./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property",
                                namespaces=NS)
        }
        variable = task.xpath("string(./bpmn:extensionElements/spiffworkflow:variableName)", namespaces=NS)
        tid = task.get("id")
        schema_prop = props.get("formJsonSchemaFilename")
        if schema_prop is None or not (schema_prop.get("value") or "").strip():
            self.add("user task has no spiffworkflow property 'formJsonSchemaFilename'", task, tid)
        else:
            name = schema_prop.get("value").strip()
            self.b.forms.reference(name, True, self.doc, tid, schema_prop.sourceline)
            self.p.forms.append((name, variable.strip() or None))
        ui_prop = props.get("formUiSchemaFilename")
        if ui_prop is not None and (ui_prop.get("value") or "").strip():
            name = ui_prop.get("value").strip()
            self.b.forms.reference(name, False, self.doc, tid, ui_prop.sourceline)
            self.p.ui_forms.append(name)

    # ---- references to other things
    def calls(self) -> None:
        for call in iter_bpmn(self.p.element, "callActivity"):
            called = (call.get("calledElement") or "").strip()
            target = self.b.procs.get(called)
            if not target or not target.executable:
                self.p.broken_calls = True
            if not called:
                self.add("call activity has no calledElement", call, call.get("id"))
            elif target is None:
                self.add(f"calls process {called!r}, which no file of this deployment defines", call, call.get("id"))
            elif not target.executable:
                self.add(f"calls process {called!r}, which is not executable", call, call.get("id"))
            else:
                self.p.calls.append(called)

    def recursive_calls(self) -> None:
        """A process that calls itself, directly or through others, would start call after call forever."""
        for call in iter_bpmn(self.p.element, "callActivity"):
            called = (call.get("calledElement") or "").strip()
            if called in self.p.calls and self.p.key in {p.key for p in self.b.callees_closure(called)}:
                self.add(f"calls process {called!r}, which calls {self.p.key!r} again: a process may not call "
                         "itself, directly or through others (the case would never end)", call, call.get("id"))

    def services(self) -> None:
        for task in iter_bpmn(self.p.element, "serviceTask"):
            ops = task.xpath("./bpmn:extensionElements/spiffworkflow:serviceTaskOperator", namespaces=NS)
            if not ops:
                self.add("service task has no spiffworkflow:serviceTaskOperator", task, task.get("id"))
                continue
            name = ops[0].get("id")
            if name not in self.b.operators:
                known = ", ".join(sorted(self.b.operators)) or "none"
                self.add(f"unknown service operator {name!r}; registered: {known}", ops[0], task.get("id"))
            result = ops[0].get("resultVariable") or f"spiff__{task.get('id')}_result"
            self.p.declared.add(result)

    def decisions(self) -> None:
        for task in iter_bpmn(self.p.element, "businessRuleTask"):
            ref = task.xpath("./bpmn:extensionElements/spiffworkflow:calledDecisionId", namespaces=NS)
            decision = (ref[0].text or "").strip() if ref else ""
            known = ", ".join(sorted(self.b.decisions)) or "none"
            if not decision:
                self.add(f"business rule task names no decision: set spiffworkflow:calledDecisionId to one of: "
                         f"{known}", task, task.get("id"))
            elif decision not in self.b.decisions:
                self.add(f"calledDecisionId {decision!r} matches no DMN decision; available: {known}",
                         ref[0] if ref else task, task.get("id"))
            else:
                self.p.decisions.append(decision)
                self.p.declared |= self.b.decision_outputs.get(decision, set())

    def declared_names(self) -> None:
        """Names the model itself puts into task data (no sample value, but not a typo)."""
        for src, _mode, _node, _what in code_items(self.p.element, exec_only=True):
            self.p.declared |= assigned_names(src)
        self.p.declared |= {d.get("id") for d in iter_bpmn(self.p.element, "dataObject") if d.get("id")}
        for var in self.p.element.xpath(".//spiffworkflow:messageVariable", namespaces=NS):
            if var.text and var.text.strip():
                self.p.declared.add(var.text.strip())

    # ---- flow structure
    def gateways(self) -> None:
        outgoing: dict[str, list[etree._Element]] = {}
        for flow in iter_bpmn(self.p.element, "sequenceFlow"):
            outgoing.setdefault(flow.get("sourceRef"), []).append(flow)
        for gw in iter_bpmn(self.p.element, "exclusiveGateway", "inclusiveGateway"):
            flows = outgoing.get(gw.get("id"), [])
            if len(flows) < 2:
                continue
            for flow in flows:
                has_cond = flow.find(f"{{{BPMN_NS}}}conditionExpression") is not None
                if not has_cond and flow.get("id") != gw.get("default"):
                    self.add(f"flow leaves gateway {gw.get('id')!r} without a condition and is not its default; "
                             "add a condition or mark it as the default flow", flow, flow.get("id"))

    def unsupported(self) -> None:
        for node in self.p.element.iter():
            if node.tag in FLOW_NODE_TAGS and self.b.parser._get_parser_class(node.tag)[0] is None:
                tag = short_tag(node.tag)
                self.add(f"{tag} is not supported by SpiffWorkflow", node, node.get("id"))
                self.b.unsupported.add((self.doc.name, node.get("id")))



def plain_tasks_in_no_lane(root: etree._Element) -> list[etree._Element]:
    """Plain `bpmn:task`s (no type) outside every lane, in executable processes.

    SpiffWorkflow lets a plain task wait for a person, like a manual task; with no lane it gets no
    group, so only supervisors see it and nobody can claim it. Runnable, hence a warning, not a refusal.
    """
    found = []
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        if process.get("isExecutable") == "false":
            continue
        in_lane = {ref.text.strip() for ref in process.iter(f"{{{BPMN_NS}}}flowNodeRef") if ref.text}
        for task in process.iter(f"{{{BPMN_NS}}}task"):
            node = task
            while node is not None and node is not process and node.get("id") not in in_lane:
                node = node.getparent()
                while node is not None and node is not process and node.tag not in SUBPROCESS_TAGS:
                    node = node.getparent()
            if node is None or node is process:
                found.append(task)
    return found
