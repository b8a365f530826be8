"""Choices a form takes from the task's data: spiff-arena's `options_from_task_data_var:<var>`.

spiff-arena forms may write ``"anyOf": ["options_from_task_data_var:colors"]`` (or the same
string as the only `enum` entry): the choices are whatever list the case holds in `colors` when
the task is shown. Such a schema is not valid JSON Schema as written, so it is resolved against
the task's data both where the form is rendered and where a submission is validated — the server
then accepts exactly the values the person was offered, nothing else. An option is a
``{"value": …, "label": …}`` object (spiff-arena's shape) or a plain value.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

PREFIX = "options_from_task_data_var:"
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The keywords whose single placeholder entry names the task-data list.
_KEYWORDS = ("anyOf", "oneOf", "enum")


def _placeholder(node: dict[str, Any]) -> tuple[str, str] | None:
    """(keyword, variable) when `node` takes its choices from task data."""
    for key in _KEYWORDS:
        value = node.get(key)
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str) and value[0].startswith(PREFIX):
            return key, value[0][len(PREFIX):].strip()
    return None


def placeholders(schema: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """(JSON pointer, keyword, variable) of every dynamic choice in `schema`."""
    if isinstance(schema, dict):
        found = _placeholder(schema)
        if found:
            yield path, found[0], found[1]
        for key, value in schema.items():
            if not (found and key == found[0]):
                yield from placeholders(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from placeholders(value, f"{path}/{i}")


def has_options(schema: Any) -> bool:
    """True when the schema must be resolved against task data before use."""
    return next(placeholders(schema), None) is not None


def bad_variables(schema: Any) -> list[tuple[str, str]]:
    """(pointer, variable) of placeholders whose variable is no plain name: refused at deploy."""
    return [(p, v) for p, _k, v in placeholders(schema) if not _VAR.match(v)]


def _options(data: dict[str, Any], var: str) -> list[tuple[Any, str]]:
    raw = data.get(var)
    if not isinstance(raw, list):
        return []
    out = []
    for item in raw:
        if isinstance(item, dict) and "value" in item:
            out.append((item["value"], str(item.get("label", item["value"]))))
        elif isinstance(item, (str, int, float, bool)):
            out.append((item, str(item)))
    return out


def _walk(node: Any, fill: Any) -> Any:
    if isinstance(node, dict):
        found = _placeholder(node)
        out = {k: _walk(v, fill) for k, v in node.items() if not (found and k == found[0])}
        if found:
            extra = fill(*found)
            if isinstance(out.get("options"), dict) and isinstance(extra.get("options"), dict):
                extra["options"] = {**out["options"], **extra["options"]}
            out.update(extra)
        return out
    if isinstance(node, list):
        return [_walk(v, fill) for v in node]
    return node


def resolve(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The schema with each placeholder replaced by the choices in `data` (none: nothing is valid)."""
    if not has_options(schema):
        return schema

    def fill(key: str, var: str) -> dict[str, Any]:
        options = _options(data, var)
        if key == "enum":  # the labels as json-editor's `options.enum_titles`, which the task page shows
            return ({"enum": [v for v, _ in options], "options": {"enum_titles": [label for _, label in options]}}
                    if options else {"not": {}})
        return {key: [{"const": v, "title": label} for v, label in options] or [{"not": {}}]}

    return _walk(copy.deepcopy(schema), fill)


def stubbed(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every placeholder accepting anything: what deploy checks against the meta-schema."""
    if not has_options(schema):
        return schema
    return _walk(schema, lambda key, var: {} if key == "enum" else {key: [{}]})
