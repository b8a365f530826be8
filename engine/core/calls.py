"""Called processes bound per case, when the call starts — not copied into the caller at deploy.

A deployed version holds only its own process. SpiffWorkflow looks a call activity's process up
in the workflow's `subprocess_specs` dict (``name in specs`` and then ``specs[name]``) at the
moment the call starts, so that dict is a `CalledSpecs` that binds a missing name then: to the
version the call activity pins (``spiffworkflow:property name="calledVersion"``), else to the
newest deployed version of the called key (Camunda's ``latest``). SpiffWorkflow restores a
subprocess by spec *name*, so a case holds one version per called key: the first call binds it
and later calls of that key in the same case reuse it (until the case is migrated). The bindings
travel with the instance state (`codec`) and each new one is recorded on the command's event
(`called`), so replay binds exactly what the case used.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity

from engine.core import definitions
from engine.core.codec import CODEC
from engine.core.db import Database
from engine.core.errors import NotFound

#: The call activity property that pins the called version (absent or "latest": the newest).
PIN = "calledVersion"


def pinned_version(value: Any) -> int | None:
    """The version a `calledVersion` value pins, None for latest; ValueError for anything else."""
    text = str(value or "").strip()
    if text in ("", "latest"):
        return None
    version = int(text)
    if version < 1:
        raise ValueError(text)
    return version


class CalledSpecs(dict):
    """`subprocess_specs` of one case: names already bound, and the rest bound on first use."""

    def __init__(self, db: Database, top: BpmnProcessSpec, initial: dict[str, BpmnProcessSpec],
                 bindings: dict[str, int], recorded: dict[str, int] | None = None) -> None:
        super().__init__(initial)
        self.db = db
        self.top = top
        self.bindings = dict(bindings)  # called key -> definition id, for the state
        self.fresh: dict[str, dict[str, Any]] = {}  # bound in this command, for its event
        self.recorded = recorded  # replay: bind what the history says, never the newest
        self._latest: dict[str, int] | None = None  # read once per command, when a call first binds

    def __contains__(self, name: object) -> bool:
        if dict.__contains__(self, name):
            return True
        try:
            self._bind(str(name))
        except NotFound:
            return False
        return True

    def __missing__(self, name: str) -> BpmnProcessSpec:
        self._bind(name)
        return dict.__getitem__(self, name)

    def pin(self, name: str) -> int | None:
        """The version a call activity of `name` (in the case's bound processes) pins."""
        for spec in [self.top, *self.values()]:
            for ts in spec.task_specs.values():
                if isinstance(ts, CallActivity) and ts.spec == name:
                    value = (getattr(ts, "extensions", None) or {}).get("properties", {}).get(PIN)
                    if value:
                        return pinned_version(value)
        return None

    def _bind(self, name: str) -> None:
        if self.recorded is not None:
            if name not in self.recorded:
                raise NotFound(f"replay: the history records no version of called process '{name}'")
            definition_id = self.recorded[name]
        elif (version := self.pin(name)) is not None:
            definition_id = definitions.latest_id(self.db, name, version)
        else:
            if self._latest is None:
                self._latest = definitions.latest_ids(self.db)
            if name not in self._latest:
                raise NotFound(f"no process '{name}' is deployed")
            definition_id = self._latest[name]
        called = definitions.load(self.db, definition_id)
        for sub, spec in called.subprocess_specs.items():  # versions deployed before bindings carry copies
            self.setdefault(sub, spec)
        self[name] = called.spec
        self.bindings[name] = called.id
        self.fresh[name] = {"version": called.version, "definition_id": called.id}


def _specs(db: Database, base: definitions.Definition, bindings: dict[str, int],
           recorded: dict[str, int] | None = None) -> CalledSpecs:
    initial = dict(base.subprocess_specs)
    for name, definition_id in bindings.items():
        called = definitions.load(db, definition_id)
        for sub, spec in called.subprocess_specs.items():
            initial.setdefault(sub, spec)
        initial[name] = called.spec
    return CalledSpecs(db, base.spec, initial, bindings, recorded)


def bindings_of(wf: BpmnWorkflow) -> dict[str, int]:
    return dict(getattr(wf.subprocess_specs, "bindings", {}))


def new_workflow(db: Database, definition: definitions.Definition,
                 recorded: dict[str, int] | None = None) -> BpmnWorkflow:
    """A fresh workflow whose call activities bind as they start (or as `recorded`, on replay)."""
    base = definitions.load(db, definition.id)
    wf = BpmnWorkflow(base.spec, dict(base.subprocess_specs))
    wf.subprocess_specs = _specs(db, base, {}, recorded)  # after: an empty dict would be replaced
    return wf


def restore(db: Database, definition: definitions.Definition, state: bytes,
            recorded: dict[str, int] | None = None) -> tuple[definitions.Definition, BpmnWorkflow]:
    """The stored workflow with the versions it bound, and the definition seen through them."""
    base = definitions.load(db, definition.id)
    wf = CODEC.loads(state, base.spec, base.subprocess_specs,
                     bound=lambda bindings: _specs(db, base, bindings, recorded))
    return compose(db, base, bindings_of(wf)), wf


def compose(db: Database, definition: definitions.Definition, bindings: dict[str, int]) -> definitions.Definition:
    """The case's definition with the bound versions' tasks, forms, lanes and flows laid in."""
    base = definitions.load(db, definition.id)
    if not bindings:
        return base
    cache_key = ("composed", base.id, tuple(sorted(bindings.items())))
    found = db.cache.get(cache_key)
    if found is None:
        found = db.cache[cache_key] = definitions.merged(base, [definitions.load(db, i) for i in bindings.values()])
    return found
