"""Case data as people read it: field titles and option labels taken from the process's own forms.

Every form of a definition version declares titles (and `options.enum_titles` for codes), so the
same data the engine keeps can be shown with the wording the staff filled it in with, grouped by
the form that collected it. Keys no form declares are process-internal (service results, routing
flags); the pages show them only in a collapsed raw view.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from flask_babel import gettext as _

from api.web import CHINA, labels

_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")

FIRST_FORM = "accept.schema.json"


@dataclass
class Field:
    key: str
    title: str
    schema: dict[str, Any]


@dataclass
class FormLabels:
    """Titles for case-data keys: which form collects each key, and how to show its values."""

    fields: dict[str, Field] = field(default_factory=dict)  # key -> where it is collected (editable)
    titles: dict[str, str] = field(default_factory=dict)  # key -> title from any form
    form_of: dict[str, str] = field(default_factory=dict)  # key -> file of the form that collects it
    form_titles: dict[str, str] = field(default_factory=dict)  # form file -> its title
    position: dict[str, int] = field(default_factory=dict)  # key -> place in its form (UI order)


def form_labels(forms: dict[str, Any], order: list[str] | None = None) -> FormLabels:
    """Labels from every form; a key belongs to the first form (in `order`, then by name) that edits it."""
    out = FormLabels()
    names = sorted(n for n in forms if n.endswith(".schema.json"))
    first = [n for n in [*(order or []), FIRST_FORM] if n in names]
    names = list(dict.fromkeys([*first, *names]))
    for name in names:
        schema = forms[name]
        if not isinstance(schema, dict):
            continue
        props = schema.get("properties") or {}
        ui = forms.get(name.replace(".schema.json", ".uischema.json"))
        ui_order = ui.get("ui:order", []) if isinstance(ui, dict) else []
        keys = [k for k in ui_order if k in props] + [k for k in props if k not in ui_order]
        out.form_titles[name] = schema.get("title") or name
        for index, key in enumerate(keys):
            prop = props[key]
            if not isinstance(prop, dict):
                continue
            out.titles.setdefault(key, prop.get("title") or key)
            if not prop.get("readOnly") and key not in out.fields:
                out.fields[key] = Field(key, prop.get("title") or key, prop)
                out.form_of[key] = name
                out.position[key] = index
    return out


def _enum_title(schema: dict[str, Any], value: Any) -> str | None:
    values = schema.get("enum")
    titles = (schema.get("options") or {}).get("enum_titles")
    if isinstance(values, list) and isinstance(titles, list) and value in values:
        index = values.index(value)
        if index < len(titles):
            return str(titles[index])
    return None


def display(value: Any, schema: dict[str, Any] | None = None) -> str:
    """One value as text: option labels, 是/否, attachments by file name, lists joined."""
    schema = schema or {}
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    title = _enum_title(schema, value)
    if title is not None:
        return title
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return "、".join(display(v, items) for v in value) or "—"
    if isinstance(value, str) and _INSTANT.match(value):
        return instant_text(value)
    if isinstance(value, dict):
        if {"ref", "name"} <= set(value):
            return f"{value['name']}（{value['ref']}）"
        props = schema.get("properties") or {}
        parts = []
        for k, v in value.items():
            sub = props.get(k) if isinstance(props.get(k), dict) else {}
            parts.append(f"{sub.get('title', k)}：{display(v, sub)}")
        return "；".join(parts) or "—"
    return str(value)


def instant_text(value: str) -> str:
    """A stored date-time as staff read it: Beijing time to the minute (2026-03-02 09:00). A value with
    an offset is converted; one without is a local time the form entered and is only trimmed."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(CHINA)
    return parsed.strftime("%Y-%m-%d %H:%M")


def field_title(key: str, known: FormLabels | None = None) -> str | None:
    """The Chinese label of a case-data key: its form's title, else the derived or service-result label.
    None for a key nobody labels (the pages then keep it in the collapsed raw view, never as a label)."""
    if key in labels.DERIVED_FIELDS:
        return str(labels.DERIVED_FIELDS[key])
    if known is not None and known.titles.get(key, key) != key:
        return known.titles[key]
    if key in labels.PROCESS_FIELDS:
        return str(labels.PROCESS_FIELDS[key])
    return None


def value_text(key: str, value: Any, schema: dict[str, Any] | None = None) -> str:
    """A case-data value as shown: derived codes by their labels, service results by their notes,
    the rest as its form shows it (`display`)."""
    if key == "business_type":
        return labels.label(labels.BUSINESS_TYPES, value)
    if key == "voltage_class":
        return labels.label(labels.VOLTAGE_CLASSES, value)
    if isinstance(value, list) and value and all(isinstance(v, dict) and "label" in v for v in value):
        return "、".join(str(v["label"]) for v in value)  # form options a service offered: their labels
    if key in labels.PROCESS_FIELDS and isinstance(value, dict):
        return service_text(value) or "—"
    return display(value, schema)


def service_text(result: Any) -> str:
    """A service's result as people read it: the note it wrote for them (已预约：…), else its plain
    values as text; never a Python dict, an internal code (sms:1:accepted, install) or a bare 是/否
    (the full result stays in the history's payload and the raw view)."""
    if isinstance(result, dict):
        note = result.get("note") or result.get("message")
        if isinstance(note, str) and note:
            return note
    values = result.values() if isinstance(result, dict) else [result]
    parts = []
    for value in values:
        if isinstance(value, dict):
            value = value.get("note") or value.get("message")
        if isinstance(value, str) and _INSTANT.match(value):
            parts.append(instant_text(value))
        elif isinstance(value, str) and value and not _CODE.match(value):
            parts.append(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(str(value))
    return "；".join(parts)


#: an ASCII string with a letter: a code or an instant, not a sentence for people
_CODE = re.compile(r"^[\x00-\x7f]*[A-Za-z][\x00-\x7f]*$")


def derived_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The fields the process derives for the whole case (business type, voltage class), as shown."""
    out = []
    for key, value in data.items():
        if key not in labels.DERIVED_FIELDS:
            continue
        out.append((str(labels.DERIVED_FIELDS[key]), value_text(key, value)))
    return out


@dataclass
class Section:
    title: str
    rows: list[tuple[str, str]]


@dataclass
class CaseData:
    sections: list[Section]
    other: str  # the undeclared keys, as pretty JSON ("" when none)


def describe(data: dict[str, Any], forms: dict[str, Any], order: list[str] | None = None) -> CaseData:
    """Group case data by the form that collected each key.

    `order` lists form files in the order the case completed them; sections follow it, and the
    rows of a section follow the form's own field order.
    """
    known = form_labels(forms, order)
    derived = derived_rows(data)
    grouped: dict[str, list[tuple[int, str, str]]] = {}
    other: dict[str, Any] = {}
    for key, value in data.items():
        if key in labels.DERIVED_FIELDS:
            continue
        elif key in known.fields:
            f = known.fields[key]
            grouped.setdefault(known.form_of[key], []).append((known.position[key], f.title, display(value, f.schema)))
        else:
            other[key] = value
    out = []
    if derived:
        out.append(Section(_("Case"), derived))
    rank = {name: i for i, name in enumerate(dict.fromkeys([*(order or []), FIRST_FORM]))}
    for name in sorted(grouped, key=lambda n: (rank.get(n, len(rank)), n)):
        rows = [(title, text) for _pos, title, text in sorted(grouped[name], key=lambda r: r[0])]
        out.append(Section(known.form_titles[name], rows))
    text = json.dumps(other, ensure_ascii=False, indent=2, sort_keys=True) if other else ""
    return CaseData(out, text)


# -- the case file by step -------------------------------------------------------------------------

@dataclass
class StepData:
    """What one completed step entered, shown with that step's own form (never another form's)."""

    seq: int
    task_spec: str
    process: str
    title: str  # the task's name, with the called process it ran in and the round when repeated
    at: Any
    actor: str
    form: str | None
    rows: list[tuple[str, str, str]]  # (key, the form's title, the value as the form shows it)
    raw: dict[str, Any]


def _event_process(definition: Any, ev: Any, payload: dict[str, Any]) -> str:
    """The process a completed task ran in: its own trail entry says (absent: the main process)."""
    for entry in payload.get("trail") or []:
        if entry and entry[0] == ev.task_spec:
            return entry[3] if len(entry) > 3 and entry[3] else definition.key
    return definition.key


def _process_name(definition: Any, process: str) -> str:
    if process == definition.key:
        return definition.name
    spec = definition.subprocess_specs.get(process)
    return getattr(spec, "description", None) or process


def by_step(definition: Any, events: list[Any]) -> list[StepData]:
    """The data each completed task entered, under that task, in the order they were completed.

    Each step is shown from its own event (`task_completed` payload) with the labels and option
    titles of its own form, so two steps that use the same field name (作业回访's and the final
    回访's satisfaction) each keep their value, and a field appears only under the step that entered it.
    """
    from engine.core import history

    out: list[StepData] = []
    rounds: dict[tuple[str, str], int] = {}
    for ev in events:
        if ev.type != "task_completed" or not ev.task_spec:
            continue
        payload = history.payload_of(ev)
        data = payload.get("data") or {}
        process = _event_process(definition, ev, payload)
        info = definition.tasks.get((process, ev.task_spec)) or next(
            (i for i in definition.tasks.values() if i.bpmn_id == ev.task_spec), None)
        form = info.form_schema if info else None
        schema = definition.forms.get(form) if form else None
        props = (schema or {}).get("properties") or {}
        ui = definition.forms.get(form.replace(".schema.json", ".uischema.json")) if form else None
        ui_order = ui.get("ui:order", []) if isinstance(ui, dict) else []
        keys = [k for k in ui_order if k in data] + [k for k in props if k in data and k not in ui_order]
        keys += [k for k in data if k not in keys]
        rows = []
        for key in keys:
            prop = props.get(key) if isinstance(props.get(key), dict) else {}
            title = prop.get("title") or field_title(key)
            if title:  # a key no form or table labels stays in the raw view only
                rows.append((key, str(title), value_text(key, data[key], prop)))
        rounds[(process, ev.task_spec)] = n = rounds.get((process, ev.task_spec), 0) + 1
        title = info.name if info else ev.task_spec
        if process != definition.key:
            title = f"{_process_name(definition, process)} · {title}"
        if n > 1:
            title = _("%(title)s (round %(n)s)", title=title, n=n)
        out.append(StepData(ev.seq, ev.task_spec, process, title, ev.at, ev.actor or "", form, rows, data))
    return out


def raw_json(value: Any) -> str:
    """Pretty JSON for the auditor's collapsed raw view."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def step_view(definition: Any, data: dict[str, Any], events: list[Any],
              name_of: Callable[[str], str]) -> dict[str, Any]:
    """What the case page and the case file render with the `case_steps` macro (one code path):
    the derived summary, the steps, who did them by name, and the raw JSON for the collapsed view."""
    steps = by_step(definition, events)
    raw = raw_json({"data": data, "steps": [{"seq": s.seq, "task": s.task_spec, "process": s.process,
                                              "data": s.raw} for s in steps]})
    return {"summary": derived_rows(data), "steps": steps, "raw": raw,
            "actors": {s.actor: name_of(s.actor) for s in steps if s.actor}}
