"""Server-side validation of form submissions against the task's JSON Schema.

The schema decides what enters the workflow: properties it does not declare, and properties it
marks `readOnly` (earlier data shown for reference), are dropped before the data reaches
SpiffWorkflow.

References resolve only inside the deployed form: jsonschema's default registry would fetch a
`$ref` to `http://…` (its deprecated remote retrieval) when a task is completed — a server-side
request forgery — so every validator gets a registry whose `retrieve` refuses everything. The
deploy check (`validation.form_files`) refuses such references up front, on the form.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import NoSuchResource, Unresolvable

from engine.core import formats
from engine.core.errors import InvalidData

_FORMATS = FormatChecker()
formats.register(_FORMATS)


def _refuse_retrieval(uri: str) -> Any:
    """No `$ref` is ever fetched: not over the network, not from a file."""
    raise NoSuchResource(ref=uri)


#: Resolves what a form defines itself (and the meta-schemas jsonschema ships); retrieves nothing.
LOCAL_ONLY = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


def validator(schema: dict[str, Any], format_checker: FormatChecker | None = None) -> Any:
    """A validator for `schema` whose references never leave the form."""
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema, format_checker=format_checker or _FORMATS, registry=LOCAL_ONLY)


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
    try:
        found = sorted(v.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    except Unresolvable as exc:  # a form deployed before references were checked
        raise InvalidData(f"the form refers to {exc.ref!r}, which is not part of the deployed form",
                          details={"_form": ["表单定义引用了部署之外的内容，请联系流程管理员"]}) from None
    for err in found:
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
