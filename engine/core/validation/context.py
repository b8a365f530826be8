"""What the checks of one bundle share: its processes as XML facts, and the bundle's state.

The checks run in two rounds over every executable process (structure first, so that a caller's
forms and a callee's declared names are known when timers are tried on sample data); the facts
gathered in between live on `ProcessXml` and `BundleContext`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.spiff.parser import SpiffBpmnParser

from engine.core.validation.documents import Doc, ProblemList, iter_bpmn, owner_id
from engine.core.validation.form_files import FormFiles, first_example


@dataclass
class ProcessXml:
    """One bpmn:process element and what its XML says (lanes, forms, calls, flows...)."""

    key: str
    doc: Doc
    element: etree._Element
    executable: bool
    lanes: dict[str, str] = field(default_factory=dict)
    forms: list[tuple[str, str | None]] = field(default_factory=list)   # (schema, variableName)
    ui_forms: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    declared: set[str] = field(default_factory=set)
    broken_calls: bool = False   # a call activity names no usable process

    @property
    def name(self) -> str:
        return (self.element.get("name") or "").strip() or self.key

    def flows(self) -> list[dict]:
        return [
            {"id": f.get("id"), "process": self.key, "source": f.get("sourceRef"),
             "target": f.get("targetRef"), "name": f.get("name")}
            for f in iter_bpmn(self.element, "sequenceFlow")
        ]


def index_processes(docs: list[Doc], problems: ProblemList) -> tuple[dict[str, ProcessXml], set[str]]:
    """Map process id -> ProcessXml, refusing ids defined twice; return also the files to skip."""
    procs: dict[str, ProcessXml] = {}
    skip: set[str] = set()
    for doc in docs:
        for el in iter_bpmn(doc.root, "process"):
            key = el.get("id")
            if key in procs:
                problems.add(doc.name, f"process id {key!r} is already defined in {procs[key].doc.name}",
                             key, el.sourceline)
                skip.add(doc.name)
                continue
            procs[key] = ProcessXml(key, doc, el, el.get("isExecutable", "true") == "true")
    return procs, skip


class BundleContext:
    """State shared by the checks of one `parse_bundle` call."""

    def __init__(self, forms_dir: Path, groups: dict[str, str], operators: set[str], max_bytes: int) -> None:
        self.problems = ProblemList()
        self.forms = FormFiles(forms_dir, max_bytes, self.problems)
        self.groups = groups
        self.operators = set(operators)
        self.max_bytes = max_bytes
        # no validator here: every file was already checked against the same XSD (`xsd_problems`),
        # which also knows the one schema complaint SpiffWorkflow runs past (scoped data object ids)
        self.parser = SpiffBpmnParser(validator=None)
        self.procs: dict[str, ProcessXml] = {}
        self.dmn_docs: dict[str, Doc] = {}        # decision id -> document
        self.decision_outputs: dict[str, set[str]] = {}
        self.unsupported: set[tuple[str, str]] = set()
        self._env = None
        self._env_names: set[str] | None = None

    @property
    def decisions(self) -> set[str]:
        return set(self.dmn_docs)

    def group_for(self, lane: str) -> str | None:
        name = lane.strip()
        for code, label in self.groups.items():
            if name in (code.strip(), (label or "").strip()):
                return code
        return None

    def environment(self) -> Any:
        if self._env is None:
            from engine.core.scripting.script_engine import RestrictedEnvironment

            self._env = RestrictedEnvironment()
        return self._env

    @property
    def env_names(self) -> set[str]:
        """Helper names the sandbox provides, so timers may call them without a form field."""
        if self._env_names is None:
            self._env_names = _environment_names(self.environment())
        return self._env_names

    def executable(self) -> list[ProcessXml]:
        return [p for p in self.procs.values() if p.executable]

    def callers_closure(self, key: str) -> list[ProcessXml]:
        """`key` and every executable process that calls it, directly or not."""
        seen, todo = {key}, [key]
        while todo:
            target = todo.pop()
            for p in self.executable():
                if target in p.calls and p.key not in seen:
                    seen.add(p.key)
                    todo.append(p.key)
        return [self.procs[k] for k in seen]

    def callees_closure(self, key: str) -> list[ProcessXml]:
        """`key` and every process it calls, transitively, in a stable order."""
        order, todo = [], [key]
        while todo:
            k = todo.pop(0)
            if k in order or k not in self.procs:
                continue
            order.append(k)
            todo.extend(self.procs[k].calls)
        return [self.procs[k] for k in order]

    def sample_context(self, key: str) -> tuple[dict, set[str]]:
        """Merged first example of every form this process (or a caller) uses, plus declared names."""
        sample: dict[str, Any] = {}
        declared: set[str] = set()
        for proc in self.callers_closure(key):
            declared |= proc.declared
            for name, variable in proc.forms:
                example = first_example(self.forms.loaded.get(name))
                if example is None:
                    continue
                if variable:
                    sample[variable] = example
                elif isinstance(example, dict):
                    sample.update(example)
        return sample, declared


def _environment_names(env: Any) -> set[str]:
    """Best effort: whatever globals/helpers the restricted environment exposes."""
    names: set[str] = set()
    for attr in ("globals", "helpers", "_globals", "_helpers", "globals_", "builtins"):
        value = getattr(env, attr, None)
        if isinstance(value, dict):
            names |= {k for k in value if isinstance(k, str)}
            inner = value.get("__builtins__")
            if isinstance(inner, dict):
                names |= set(inner)
    return names


class ProcessCheck:
    """One round of checks on one process: findings land on the process's file at the node's line."""

    def __init__(self, proc: ProcessXml, ctx: BundleContext) -> None:
        self.p = proc
        self.doc = proc.doc
        self.b = ctx
        self.problems = ctx.problems

    def add(self, message: str, node: etree._Element, element: str | None = None) -> None:
        self.problems.add(self.doc.name, message, element or owner_id(node), node.sourceline)
