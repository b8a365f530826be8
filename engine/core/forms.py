"""Server-side validation of form submissions against the task's JSON Schema.

The schema decides what enters the workflow: properties it does not declare, and properties it
marks `readOnly` (earlier data shown for reference), are dropped before the data reaches
SpiffWorkflow.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.validators import validator_for

from engine.core import formats
from engine.core.errors import InvalidData

_FORMATS = FormatChecker()
formats.register(_FORMATS)


def validator(schema: dict[str, Any]) -> Any:
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema, format_checker=_FORMATS)


def _path(error: Any) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [m for m in error.validator_value if m not in error.instance]
        if missing:
            parts.append(missing[0])
    return ".".join(parts) or "_form"


def _message(schema: dict[str, Any], error: Any) -> str:
    """A form's own wording when it has one (`errorMessage` on the field), else jsonschema's."""
    node: Any = schema
    for part in _path(error).split("."):
        if not isinstance(node, dict):
            node = None
            break
        props = node.get("properties")
        items = node.get("items")
        if isinstance(props, dict) and part in props:
            node = props[part]
        elif isinstance(items, dict) and part.isdigit():
            node = items
        else:
            break
    custom = node.get("errorMessage") if isinstance(node, dict) else None
    if isinstance(custom, dict):
        custom = custom.get(error.validator) or custom.get("default")
    if isinstance(custom, str):
        return custom
    if error.validator == "required":
        return "此项为必填项"
    return error.message


def check(schema: dict[str, Any], data: Any, compiled: Any = None) -> dict[str, Any]:
    """Validate and filter; raise InvalidData with {field path: [messages]} on failure."""
    if not isinstance(data, dict):
        raise InvalidData("form data must be a JSON object", details={"_form": ["表单数据必须是对象"]})
    v = compiled or validator(schema)
    errors: dict[str, list[str]] = {}
    for err in sorted(v.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        errors.setdefault(_path(err), []).append(_message(schema, err))
    if errors:
        raise InvalidData("the form has errors", details=errors)
    return declared_only(schema, data)


def declared_only(schema: dict[str, Any], data: Any) -> Any:
    props = schema.get("properties") if isinstance(schema, dict) else None
    if isinstance(data, dict) and isinstance(props, dict):
        return {k: declared_only(props[k], v) for k, v in data.items()
                if k in props and not props[k].get("readOnly")}
    items = schema.get("items") if isinstance(schema, dict) else None
    if isinstance(data, list) and isinstance(items, dict):
        return [declared_only(items, v) for v in data]
    return data
