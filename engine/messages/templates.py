"""Message templates: the Chinese texts of customer SMS and staff notices, kept as data.

The shipped set is `engine/messages/message_templates.toml` (read and checked at import); an administrator
overrides or adds texts with their own file in `YEKUO_TEMPLATES_FILE` (same format, merged by id
on first use) — the format and the procedure are described at the top of the shipped file. Every
template declares its required fields, and loading checks that they are exactly the placeholders
of its text, so a typo is refused when the file is loaded rather than in a customer's SMS.

Placeholders use `string.Template` (`${name}`), not `str.format`: format strings can reach
attributes (`{x.__class__}`), which administrator-edited text must not.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core import config
from engine.core.errors import YekuoError
from engine.messages.sinks import CHANNELS

DEFAULT_FILE = Path(__file__).with_name("message_templates.toml")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,79}$")
_KEYS = {"channel", "title", "fields", "text"}


class TemplateError(YekuoError):
    """A template file is invalid, a template is unknown, or a message lacks a required field."""

    code, status = "template_error", 422


@dataclass(frozen=True)
class MessageTemplate:
    id: str
    channel: str
    title: str
    fields: tuple[str, ...]
    text: str

    def render(self, values: Mapping[str, Any], signature: str = "") -> str:
        """The message text; every declared field must be given and non-empty."""
        missing = [f for f in self.fields if values.get(f) is None or str(values[f]).strip() == ""]
        if missing:
            raise TemplateError(f"template {self.id!r} needs field(s) {', '.join(missing)}",
                                details={"template": self.id, "missing": missing})
        text = string.Template(self.text).substitute({f: str(values[f]) for f in self.fields})
        return signature + text if self.channel == "sms" else text


@dataclass(frozen=True)
class Catalog:
    """A loaded set of templates plus the SMS signature."""

    templates: dict[str, MessageTemplate] = field(default_factory=dict)
    sms_signature: str = ""

    def merged(self, other: Catalog, *, signature_given: bool) -> Catalog:
        return Catalog({**self.templates, **other.templates},
                       other.sms_signature if signature_given else self.sms_signature)


def load(path: str | Path) -> tuple[Catalog, bool]:
    """Parse and check one template file; returns the catalog and whether it sets a signature."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError(f"template file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"template file {path} cannot be read: {exc}") from None
    unknown = set(data) - {"sms_signature", "templates"}
    if unknown:
        raise TemplateError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}")
    signature = data.get("sms_signature", "")
    if not isinstance(signature, str):
        raise TemplateError(f"{path}: sms_signature must be a string")
    entries = data.get("templates", {})
    if not isinstance(entries, dict):
        raise TemplateError(f"{path}: [templates.ID] tables expected")
    templates = {tid: _check(path, tid, entry) for tid, entry in entries.items()}
    return Catalog(templates, signature), "sms_signature" in data


def catalog() -> Catalog:
    """The active templates: the shipped ones, overridden by `YEKUO_TEMPLATES_FILE` if set."""
    global _active
    if _active is None:
        _active = _build(config.from_env().templates_file)
    return _active


def reload(path: str | Path | None = None) -> Catalog:
    """Re-read the templates (shipped + `path`, default `YEKUO_TEMPLATES_FILE`); for admin tools and tests."""
    global _active
    _active = _build(Path(path) if path else config.from_env().templates_file)
    return _active


def get(template_id: str) -> MessageTemplate:
    try:
        return catalog().templates[template_id]
    except KeyError:
        known = ", ".join(sorted(catalog().templates))
        raise TemplateError(f"no message template {template_id!r} (known: {known})") from None


def render(template_id: str, fields: Mapping[str, Any]) -> str:
    """The text of `template_id` filled from `fields` (extra fields are ignored); refuses a missing one."""
    active = catalog()
    return get(template_id).render(fields, active.sms_signature)


# ---------------------------------------------------------------------------------------------

def _check(path: Path, tid: str, entry: Any) -> MessageTemplate:
    where = f"{path} [templates.{tid}]"
    if not _ID.match(tid):
        raise TemplateError(f"{where}: ids are lower-case letters, digits and _")
    if not isinstance(entry, dict):
        raise TemplateError(f"{where}: expected a table")
    if set(entry) - _KEYS or {"channel", "fields", "text"} - set(entry):
        raise TemplateError(f"{where}: keys must be channel, fields, text (and optional title); "
                            f"got {', '.join(sorted(entry))}")
    if entry["channel"] not in CHANNELS:
        raise TemplateError(f"{where}: channel must be one of {', '.join(CHANNELS)}")
    fields, text = entry["fields"], entry["text"]
    if not isinstance(text, str) or not text.strip():
        raise TemplateError(f"{where}: text must be a non-empty string")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields) or len(set(fields)) != len(fields):
        raise TemplateError(f"{where}: fields must be a list of distinct names")
    tpl = string.Template(text)
    if not tpl.is_valid():
        raise TemplateError(f"{where}: text has a malformed placeholder (write $$ for a literal $)")
    used = set(tpl.get_identifiers())
    if used != set(fields):
        parts = []
        if used - set(fields):
            parts.append(f"undeclared placeholder(s) {', '.join(sorted(used - set(fields)))}")
        if set(fields) - used:
            parts.append(f"declared field(s) not in the text {', '.join(sorted(set(fields) - used))}")
        raise TemplateError(f"{where}: {'; '.join(parts)}")
    return MessageTemplate(tid, entry["channel"], str(entry.get("title", tid)), tuple(fields), text)


def _build(override: Path | None) -> Catalog:
    if override is None:
        return DEFAULTS
    extra, signature_given = load(override)
    return DEFAULTS.merged(extra, signature_given=signature_given)


DEFAULTS: Catalog = load(DEFAULT_FILE)[0]
_active: Catalog | None = None
