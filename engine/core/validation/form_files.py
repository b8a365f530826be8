"""Form files a bundle's user tasks name: each loaded once, its schema and examples checked.

A bad reference is the BPMN file's problem (reported on the task); a bad form is the form file's
problem (reported once, on the form), so a form used by ten tasks yields one finding, not ten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from engine.core import form_options, forms
from engine.core.validation.documents import Doc, ProblemList

_BAD_FORM_NAME = re.compile(r"[/\\\x00]|\.\.")


class FormFiles:
    """Loads each form file once; reference problems go to the BPMN, content problems to the form."""

    def __init__(self, forms_dir: Path, max_bytes: int, problems: ProblemList) -> None:
        self.dir = Path(forms_dir)
        self.max_bytes = max_bytes
        self.problems = problems
        self.loaded: dict[str, Any] = {}
        self._failed: set[str] = set()
        self._missing: set[str] = set()

    def reference(self, name: str, is_schema: bool, doc: Doc, element: str, line: int | None) -> Any:
        """Check one reference from a task; return the parsed form or None."""
        if not name or _BAD_FORM_NAME.search(name) or Path(name).name != name:
            self.problems.add(doc.name, f"form file name {name!r} must be a plain file name "
                              "(no path separators, no '..')", element, line)
            return None
        if name in self.loaded or name in self._failed:
            return self.loaded.get(name)
        path = self.dir / name
        if not path.is_file():
            self.problems.add(doc.name, f"form file {name!r} not found in the forms directory", element, line)
            return None
        form = self.load_file(name, path, is_schema)
        if form is None:
            self._failed.add(name)
        else:
            self.loaded[name] = form
        return form

    def load_file(self, name: str, path: Path, is_schema: bool) -> Any:
        """Read and check one form file; None, with the problems recorded, when it is unusable."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.problems.add(name, f"form file cannot be read: {exc.strerror or exc}")
            return None
        if len(data) > self.max_bytes:
            self.problems.add(name, f"form file is {len(data)} bytes, more than the limit of {self.max_bytes}")
            return None
        try:
            form = json.loads(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            self.problems.add(name, "form file is not UTF-8 encoded")
            return None
        except json.JSONDecodeError as exc:
            self.problems.add(name, f"form file is not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno)
            return None
        if not isinstance(form, dict):
            self.problems.add(name, "form file must contain a JSON object")
            return None
        try:
            if is_schema and not self._schema_ok(name, form):
                return None
        except Exception as exc:  # noqa: BLE001 - e.g. an unresolvable $ref; jsonschema never fetches
            self.problems.add(name, f"form schema cannot be checked: {type(exc).__name__}: {exc}".splitlines()[0])
            return None
        return form

    def _schema_ok(self, name: str, schema: dict) -> bool:
        """The schema must pass its meta-schema, and each `examples` entry must pass the schema."""
        from jsonschema import exceptions, validators

        for where, var in form_options.bad_variables(schema):
            self.problems.add(name, f"options_from_task_data_var:{var!r} must name one task-data variable", where)
        schema = form_options.stubbed(schema)  # choices from task data are checked when the task is shown
        cls = validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except exceptions.SchemaError as exc:
            self.problems.add(name, f"form schema fails the JSON Schema meta-schema: {exc.message}",
                              _pointer(exc.path))
            return False
        outside = list(foreign_refs(schema))
        for path, ref in outside:
            self.problems.add(name, f"{path.rsplit('/', 1)[-1]} {ref!r} points outside this form; only references "
                              "inside the form ('#/$defs/…') are allowed, nothing is fetched", path)
        if outside:
            return False
        examples = schema.get("examples", [])
        if not isinstance(examples, list):
            self.problems.add(name, "'examples' must be a list of sample form data", "/examples")
            return False
        validator = forms.validator(schema, _example_formats())
        ok = True
        for i, example in enumerate(examples):
            error = next(iter(sorted(validator.iter_errors(example), key=lambda e: list(e.path))), None)
            if error is not None:
                where = _pointer(error.path) or "/"
                self.problems.add(name, f"example {i} does not match its own schema at {where}: {error.message}",
                                  f"/examples/{i}")
                ok = False
        return ok


def _example_formats() -> Any:
    """Yekuo's formats (ID numbers, mobiles) checked on examples too — except "not in the past",
    or a deployment would start failing as its example dates age."""
    from jsonschema import FormatChecker

    from engine.core import formats

    checker = FormatChecker()
    formats.register(checker)
    checker.checks("date-not-past")(lambda value: True)
    return checker


_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


def foreign_refs(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(JSON pointer, value) of each reference that is not a fragment of the form itself
    (`http://…`, `file:…`, `other.json`): deploy refuses them, so nothing is ever fetched."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"
            if key in _REF_KEYWORDS and isinstance(value, str) and not value.startswith("#"):
                yield where, value
            else:
                yield from foreign_refs(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from foreign_refs(value, f"{path}/{i}")


def _pointer(path: Iterable[Any]) -> str | None:
    parts = [str(p) for p in path]
    return "/" + "/".join(parts) if parts else None


def first_example(schema: Any) -> Any:
    examples = schema.get("examples") if isinstance(schema, dict) else None
    return examples[0] if isinstance(examples, list) and examples else None

