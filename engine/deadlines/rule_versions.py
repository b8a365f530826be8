"""Changing rule sets: save a version, copy a set, activate a version, load the shipped files.

Every change is a new immutable version row with who, when and why, and an entry on the rule
chain (`rule_audit`): hash-chained with the same hash as a case's history
(`history.chain_hash`, instance 0), so `audit.chains.verify_rules` finds an edited, deleted or
reordered entry. Activation only decides what *new* clocks use; running clocks keep theirs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.core import clock, history
from engine.core.db import Database
from engine.core.errors import Conflict, NotFound
from engine.core.models import group_t, rule_audit_t, rule_set_t, rule_set_version_t
from engine.deadlines.rule_sets import PROCESS_KEY, RuleError, normalize, problems_of

BUNDLED = Path(__file__).resolve().parent / "rules"
SAVED, ACTIVATED = "rule_version_saved", "rule_version_activated"
SHIPPED = "随系统提供的时限规则"  # the reason recorded for the shipped files (shown on the admin page as it is)


def _append_audit(conn: Connection, type_: str, actor: str, payload: dict[str, Any]) -> None:
    last = conn.execute(select(rule_audit_t.c.seq, rule_audit_t.c.hash).order_by(rule_audit_t.c.seq.desc())
                        .limit(1)).first()
    seq, prev = (last.seq + 1, last.hash) if last is not None else (1, history.GENESIS)
    at, text = clock.now(), history.canonical(payload)
    digest = history.chain_hash(prev, 0, seq, type_, at, actor, None, None, text)
    conn.execute(insert(rule_audit_t).values(seq=seq, type=type_, at=at, actor=actor, payload=text,
                                             prev_hash=prev, hash=digest))


@contextlib.contextmanager
def _one_at_a_time() -> Iterator[None]:
    """Two administrators saving at once: the second collides on the version or chain number."""
    try:
        yield
    except IntegrityError:
        raise Conflict("someone else changed the rule sets at the same time; reload and try again") from None


def _digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(history.canonical(content).encode()).hexdigest()


def known_steps(db: Database) -> dict[str, str]:
    """SLA keys a rule may name (those of the shipped files and of every stored version), each with
    the first title a rule gives it."""
    keys = {PROCESS_KEY: ""}
    docs = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(BUNDLED.glob("*.json"))]
    with db.read() as conn:
        docs += list(conn.execute(select(rule_set_version_t.c.content).order_by(rule_set_version_t.c.id)).scalars())
    for doc in docs:
        for r in doc.get("rules", []):
            if isinstance(r, dict) and isinstance(r.get("sla_key"), str):
                if not keys.get(r["sla_key"]):
                    keys[r["sla_key"]] = r.get("title") or ""
    return keys


def _groups(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(select(group_t.c.code)).scalars())


def check(db: Database, doc: dict[str, Any], *, strict_steps: bool = True) -> dict[str, Any]:
    """The normalized document, or `RuleError` with every problem by field path."""
    content = normalize(doc)
    problems = problems_of(content, known_steps=set(known_steps(db)) if strict_steps else None, groups=_groups(db))
    if problems:
        first = next(iter(problems.items()))
        raise RuleError(f"the rule set is not valid: {first[0]}: {first[1][0]}", details=problems)
    return content


def save_version(db: Database, name: str, doc: dict[str, Any], *, actor: str, reason: str,
                 strict_steps: bool = True) -> int:
    """Store `doc` as the next version of rule set `name` (created if new); returns the version."""
    if not reason or not reason.strip():
        raise RuleError("say why the rules change", details={"reason": ["a reason is required"]})
    content = check(db, doc, strict_steps=strict_steps)
    now = clock.now()
    with _one_at_a_time(), db.write() as conn:
        exists = conn.execute(select(rule_set_t.c.name).where(rule_set_t.c.name == name)).first() is not None
        if not exists:
            conn.execute(insert(rule_set_t).values(name=name, title=content["title"], source=content["source"],
                                                   thresholds={}, active=False, loaded_at=now, loaded_by=actor))
        version = (conn.execute(select(func.max(rule_set_version_t.c.version))
                                .where(rule_set_version_t.c.rule_set == name)).scalar() or 0) + 1
        conn.execute(insert(rule_set_version_t).values(rule_set=name, version=version, content=content,
                                                       created_at=now, created_by=actor, reason=reason.strip()))
        conn.execute(update(rule_set_t).where(rule_set_t.c.name == name).values(
            title=content["title"], source=content["source"], loaded_at=now, loaded_by=actor))
        _append_audit(conn, SAVED, actor, {"rule_set": name, "version": version, "reason": reason.strip(),
                                           "content_sha256": _digest(content)})
    return version


def copy_rule_set(db: Database, source: str, new_name: str, *, actor: str, reason: str,
                  version: int | None = None, title: str | None = None) -> int:
    """A new rule set `new_name` whose version 1 is `source`'s version (its newest by default)."""
    if not re.match(r"^[a-z][a-z0-9_]{1,59}$", new_name or ""):
        raise RuleError("a rule set name is lower-case letters, digits and _",
                        details={"name": ["lower-case letters, digits and _, 2–60 characters"]})
    with db.read() as conn:
        if conn.execute(select(rule_set_t.c.name).where(rule_set_t.c.name == new_name)).first() is not None:
            raise RuleError(f"a rule set named '{new_name}' exists", details={"name": ["this name is taken"]})
    content = dict(get_version(db, source, version)["content"])
    if title:
        content["title"] = title
    return save_version(db, new_name, content, actor=actor, reason=reason, strict_steps=False)


def activate_version(db: Database, name: str, version: int | None = None, *, actor: str, reason: str = "") -> int:
    """Make a version (the newest by default) the one new clocks use; returns it."""
    with _one_at_a_time(), db.write() as conn:
        if conn.execute(select(rule_set_t.c.name).where(rule_set_t.c.name == name)).first() is None:
            raise NotFound(f"no rule set named '{name}'")
        newest = conn.execute(select(func.max(rule_set_version_t.c.version))
                              .where(rule_set_version_t.c.rule_set == name)).scalar()
        version = version or newest
        if version is None or version < 1 or version > newest:
            raise NotFound(f"rule set '{name}' has no version {version}")
        conn.execute(update(rule_set_t).values(active=rule_set_t.c.name == name))
        conn.execute(update(rule_set_t).where(rule_set_t.c.name == name).values(active_version=version))
        _append_audit(conn, ACTIVATED, actor, {"rule_set": name, "version": version, "reason": reason})
    db.cache.pop("sla_rules", None)
    return version


def activate_rule_set(db: Database, name: str) -> None:
    """Activate a rule set's newest version (the CLI's `rules activate`)."""
    activate_version(db, name, actor="cli", reason="activated from the command line")


def load_rule_set(db: Database, source: Path | dict[str, Any], *, actor: str = "system",
                  activate: bool = False, reason: str | None = None) -> str:
    """Load a rule file (or dict) as a new version of the set it names; returns the name.

    Content equal to the newest version adds nothing. A set that is active stays active with the
    loaded version (loading a file is how the CLI replaces limits)."""
    if isinstance(source, Path):
        try:
            doc = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RuleError(f"{source}: {exc}") from None
        origin = source.name
    else:
        doc, origin = source, "rules"
    name = doc.get("name") if isinstance(doc, dict) else None
    if not isinstance(name, str) or not name:
        raise RuleError(f"{origin}: missing 'name'", details={"name": ["missing"]})
    with db.read() as conn:
        head = conn.execute(select(rule_set_t.c.active).where(rule_set_t.c.name == name)).first()
        newest = conn.execute(select(rule_set_version_t.c.content).where(rule_set_version_t.c.rule_set == name)
                              .order_by(rule_set_version_t.c.version.desc()).limit(1)).scalar()
    try:
        content = check(db, doc, strict_steps=False)
    except RuleError as exc:
        raise RuleError(f"{origin}: " + "; ".join(f"{k}: {m}" for k, ms in exc.details.items() for m in ms),
                        details=exc.details) from None
    if newest is None or _digest(normalize(newest)) != _digest(content):
        save_version(db, name, content, actor=actor, reason=reason or f"loaded from {origin}", strict_steps=False)
    if activate or (head is not None and head.active):
        activate_version(db, name, actor=actor, reason=reason or f"loaded from {origin}")
    return name


def seed_rule_sets(db: Database) -> list[str]:
    """Load the bundled rule sets that are missing; the State Grid default becomes active."""
    with db.read() as conn:
        have = set(conn.execute(select(rule_set_t.c.name)).scalars())
        any_active = conn.execute(select(rule_set_t.c.name).where(rule_set_t.c.active)).first() is not None
    loaded = []
    for path in sorted(BUNDLED.glob("*.json")):
        name = json.loads(path.read_text(encoding="utf-8"))["name"]
        if name not in have:
            load_rule_set(db, path, activate=(name == "sgcc_default" and not any_active), reason=SHIPPED)
            loaded.append(name)
    return loaded


# ---------------------------------------------------------------------------------------------
# reads for the administrator's pages and the API


def list_rule_sets(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        newest = dict(conn.execute(select(rule_set_version_t.c.rule_set, func.max(rule_set_version_t.c.version))
                                   .group_by(rule_set_version_t.c.rule_set)).all())
        rows = conn.execute(select(rule_set_t).order_by(rule_set_t.c.name)).all()
    return [{"name": r.name, "title": r.title, "source": r.source, "active": r.active,
             "active_version": r.active_version, "latest_version": newest.get(r.name, 0),
             "changed_at": r.loaded_at, "changed_by": r.loaded_by} for r in rows]


def versions_of(db: Database, name: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        head = conn.execute(select(rule_set_t).where(rule_set_t.c.name == name)).first()
        if head is None:
            raise NotFound(f"no rule set named '{name}'")
        rows = conn.execute(select(rule_set_version_t).where(rule_set_version_t.c.rule_set == name)
                            .order_by(rule_set_version_t.c.version.desc())).all()
    return [{"version": r.version, "created_at": r.created_at, "created_by": r.created_by, "reason": r.reason,
             "active": bool(head.active and head.active_version == r.version)} for r in rows]


def get_version(db: Database, name: str, version: int | None = None) -> dict[str, Any]:
    """One version with its normalized content (the newest by default)."""
    with db.read() as conn:
        head = conn.execute(select(rule_set_t).where(rule_set_t.c.name == name)).first()
        q = select(rule_set_version_t).where(rule_set_version_t.c.rule_set == name)
        q = q.where(rule_set_version_t.c.version == version) if version else \
            q.order_by(rule_set_version_t.c.version.desc()).limit(1)
        row = conn.execute(q).first()
    if head is None or row is None:
        raise NotFound(f"rule set '{name}' has no version {version}" if version else f"no rule set named '{name}'")
    return {"name": name, "title": head.title, "version": row.version, "content": normalize(row.content),
            "created_at": row.created_at, "created_by": row.created_by, "reason": row.reason,
            "active": bool(head.active and head.active_version == row.version),
            "set_active": head.active, "active_version": head.active_version}
