"""Case data as people read it: field titles and option labels taken from the process's own forms.

Every form of a definition version declares titles (and `options.enum_titles` for codes), so the
same data the engine keeps can be shown with the wording the staff filled it in with, grouped by
the form that collected it. Keys no form declares are process-internal (service results, routing
flags); the pages show them only in a collapsed raw view.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from api.web import labels

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


def service_text(result: Any) -> str:
    """A service's result as people read it: the notes it wrote for them (已预约：…), plain values
    as text; never a Python dict (the full result stays in the history's payload)."""
    values = result.values() if isinstance(result, dict) else [result]
    parts = []
    for value in values:
        if isinstance(value, dict):
            value = value.get("note") or value.get("message")
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != "":
            parts.append(str(value))
        elif isinstance(value, bool):
            parts.append(display(value))
    return "；".join(parts)


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
    derived: list[tuple[str, str]] = []
    grouped: dict[str, list[tuple[int, str, str]]] = {}
    other: dict[str, Any] = {}
    for key, value in data.items():
        if key in labels.DERIVED_FIELDS:
            if key == "business_type":
                text = labels.label(labels.BUSINESS_TYPES, value)
            elif key == "voltage_class":
                text = labels.label(labels.VOLTAGE_CLASSES, value)
            else:
                text = display(value)
            derived.append((str(labels.DERIVED_FIELDS[key]), text))
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
