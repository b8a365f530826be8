"""Anchoring the history: a signed digest of every chain head, kept outside the database.

A hash chain shows that events were edited, deleted, inserted or reordered — unless whoever did
it could also rewrite the whole chain and its head, which anyone with write access to the database
can. A daily anchor closes that gap: it lists every instance's chain head (last seq and hash) at
that moment, hashes the list, and signs the digest with HMAC-SHA256 under a key that is not in the
database (`YEKUO_ANCHOR_KEY`). The file goes to write-once storage or a second site. Later,
`check` confirms the signature and that every anchored head is still the hash of that event: a
chain rewritten after the anchor no longer matches it.

What it does not prove: events after the newest anchor (until the next one), or anything if the
key leaked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, tuple_

from engine.core import clock
from engine.core.db import Database
from engine.core.errors import YekuoError
from engine.core.models import event_t, instance_t

FORMAT = "yekuo-anchor/1"


class AnchorError(YekuoError):
    code, status = "invalid_anchor", 422


def _digest(heads: list[list[Any]]) -> str:
    return hashlib.sha256(json.dumps(heads, separators=(",", ":")).encode()).hexdigest()


def _sign(key: bytes, digest: str, created_at: str) -> str:
    return hmac.new(key, f"{FORMAT}|{created_at}|{digest}".encode(), hashlib.sha256).hexdigest()


def create(db: Database, key: bytes) -> dict[str, Any]:
    """The anchor document for all chain heads now."""
    if not key:
        raise AnchorError("no anchor key: set YEKUO_ANCHOR_KEY (kept outside the database)")
    with db.read() as conn:
        heads = [[r.id, r.event_seq, r.last_hash] for r in conn.execute(
            select(instance_t.c.id, instance_t.c.event_seq, instance_t.c.last_hash)
            .where(instance_t.c.event_seq > 0).order_by(instance_t.c.id))]
    created_at = clock.now().isoformat()
    digest = _digest(heads)
    return {"format": FORMAT, "created_at": created_at, "instances": len(heads), "digest": digest,
            "signature": _sign(key, digest, created_at), "heads": heads}


def write(doc: dict[str, Any], directory: Path) -> Path:
    """Write the anchor as `<directory>/anchor-<UTC time>.json`; never overwrites a file."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.fromisoformat(doc["created_at"]).astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"anchor-{stamp}.json"
    with path.open("x", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False, indent=1)
    return path


@dataclass
class AnchorCheck:
    ok: bool
    checked: int
    problems: list[str]

    def __str__(self) -> str:
        if self.ok:
            return f"anchor holds for {self.checked} chain head(s)"
        return f"anchor broken: {len(self.problems)} problem(s); first: {self.problems[0]}"


def check(db: Database, doc: dict[str, Any], key: bytes) -> AnchorCheck:
    """Confirm the signature, then that every anchored head is still in the database."""
    if doc.get("format") != FORMAT:
        raise AnchorError(f"not a Yekuo anchor file (format {doc.get('format')!r})")
    heads = doc.get("heads", [])
    if _digest(heads) != doc.get("digest"):
        return AnchorCheck(False, 0, ["the list of heads does not match the anchored digest"])
    if not hmac.compare_digest(_sign(key, doc["digest"], doc["created_at"]), doc.get("signature", "")):
        return AnchorCheck(False, 0, ["the signature does not verify with this key"])
    problems: list[str] = []
    with db.read() as conn:
        stored = {(r.instance_id, r.seq): r.hash for r in conn.execute(
            select(event_t.c.instance_id, event_t.c.seq, event_t.c.hash)
            .where(tuple_(event_t.c.instance_id, event_t.c.seq).in_([(h[0], h[1]) for h in heads])))} if heads else {}
    for iid, seq, digest in heads:
        found = stored.get((iid, seq))
        if found is None:
            problems.append(f"instance {iid}: event {seq} is gone")
        elif found != digest:
            problems.append(f"instance {iid}: event {seq} was rewritten after the anchor")
    return AnchorCheck(not problems, len(heads), problems)


def load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AnchorError(f"{path}: {exc}") from None



def latest(directory: Path) -> Path | None:
    """The newest anchor file in `directory` (names sort by their UTC time), if any."""
    files = sorted(directory.glob("anchor-*.json")) if directory.is_dir() else []
    return files[-1] if files else None


def status(db: Database, key: bytes, directory: Path) -> dict[str, Any]:
    """The newest anchor checked against the database now, for the pages and the API."""
    if not key:
        return {"configured": False}
    path = latest(directory)
    if path is None:
        return {"configured": True, "file": None, "ok": None, "message": "no anchor written yet"}
    try:
        doc = load(path)
        result = check(db, doc, key)
    except AnchorError as exc:
        return {"configured": True, "file": path.name, "ok": False, "message": exc.message}
    return {"configured": True, "file": path.name, "created_at": doc.get("created_at"), "ok": result.ok,
            "checked": result.checked, "problems": result.problems[:20], "message": str(result)}
