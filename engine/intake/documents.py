"""Uploaded documents (ID copies, property proofs, letters): checked, stored by content hash.

A file is accepted only if its *content* is a PDF, JPEG or PNG (the first bytes decide, never the
name or the declared type) and it is not larger than the limit. The bytes are written once per
content under `root/<first two hex digits of the SHA-256>/<sha256>` — outside any web root — and
every upload gets its own reference (`att-…`, the shape the forms' `documents.*.ref` fields accept)
recording who uploaded it, so a channel client can use and read only its own uploads. Staff
upload inside a task form for one case (`instance_id`); an application's documents join its case
when the case starts. A staff form may refer only to documents of its own case (`check_refs`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from engine.core import clock
from engine.core.db import Database
from engine.core.errors import NotFound, YekuoError
from engine.core.models import document_t

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
#: the shape of a reference (the forms' `ref` fields have the same pattern)
REF = re.compile(r"^att-[0-9A-Za-z]{6,64}$")

#: magic bytes → content type; the allowlist.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


class DocumentRejected(YekuoError):
    """The upload is not an allowed type (by content)."""

    code, status = "unsupported_document", 415


class DocumentTooLarge(YekuoError):
    code, status = "document_too_large", 413


@dataclass
class DocumentInfo:
    ref: str
    sha256: str
    size: int
    content_type: str
    filename: str
    uploaded_by: str
    uploaded_at: dt.datetime
    instance_id: int | None = None


def sniff(head: bytes) -> str | None:
    """The allowed content type the first bytes show, or None."""
    for magic, kind in SIGNATURES:
        if head.startswith(magic):
            return kind
    return None


def path_of(root: Path, sha256: str) -> Path:
    return Path(root) / sha256[:2] / sha256


def _clean_name(filename: str | None) -> str:
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:200] or "document"


def store(db: Database, content: bytes, *, filename: str | None, uploaded_by: str, root: Path,
          max_bytes: int = DEFAULT_MAX_BYTES, instance_id: int | None = None) -> DocumentInfo:
    """Check and keep one upload; identical content is stored once, each upload gets its own ref."""
    if len(content) > max_bytes:
        raise DocumentTooLarge(f"the file is larger than {max_bytes // (1024 * 1024) or max_bytes} "
                               f"{'MB' if max_bytes >= 1024 * 1024 else 'bytes'}",
                               details={"max_bytes": max_bytes, "size": len(content)})
    if not content:
        raise DocumentRejected("the file is empty", details={"allowed": [k for _, k in SIGNATURES]})
    kind = sniff(content[:16])
    if kind is None:
        raise DocumentRejected("only PDF, JPEG and PNG files are accepted",
                               details={"allowed": [k for _, k in SIGNATURES]})
    digest = hashlib.sha256(content).hexdigest()
    target = path_of(root, digest)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.replace(tmp, target)  # atomic: a reader never sees half a file
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    info = DocumentInfo(ref=f"att-{secrets.token_hex(12)}", sha256=digest, size=len(content), content_type=kind,
                        filename=_clean_name(filename), uploaded_by=uploaded_by, uploaded_at=clock.now(),
                        instance_id=instance_id)
    with db.write() as conn:
        conn.execute(insert(document_t).values(**info.__dict__))
    return info


def get(db: Database, ref: str) -> DocumentInfo:
    with db.read() as conn:
        row = conn.execute(select(document_t).where(document_t.c.ref == ref)).first()
    if row is None:
        raise NotFound(f"document {ref} does not exist")
    return _info(row)


def _info(row: Any) -> DocumentInfo:
    return DocumentInfo(row.ref, row.sha256, row.size, row.content_type, row.filename, row.uploaded_by,
                        row.uploaded_at, row.instance_id)


def find(db: Database, refs: list[str]) -> dict[str, DocumentInfo]:
    """The documents among `refs` that exist, by ref."""
    if not refs:
        return {}
    with db.read() as conn:
        rows = conn.execute(select(document_t).where(document_t.c.ref.in_(refs))).all()
    return {r.ref: _info(r) for r in rows}


def of_case(db: Database, instance_id: int) -> list[DocumentInfo]:
    """The documents of one case, oldest first (for the case page and the case file)."""
    with db.read() as conn:
        rows = conn.execute(select(document_t).where(document_t.c.instance_id == instance_id)
                            .order_by(document_t.c.uploaded_at, document_t.c.id)).all()
    return [_info(r) for r in rows]


def link_to_case(conn: Any, refs: list[str], instance_id: int) -> None:
    """An application's documents become its case's (only those not yet tied to a case)."""
    if refs:
        conn.execute(update(document_t).where(document_t.c.ref.in_(refs), document_t.c.instance_id.is_(None))
                     .values(instance_id=instance_id))


def refs_in(value: Any, path: str = "") -> dict[str, str]:
    """Every `ref` field holding an att- reference in a submission, by its dotted path."""
    out: dict[str, str] = {}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        here = f"{path}.{key}" if path else str(key)
        if key == "ref" and isinstance(child, str) and child.startswith("att-"):
            out[here] = child
        else:
            out.update(refs_in(child, here))
    return out


def check_refs(db: Database, instance_id: int, submission: dict[str, Any], task_data: dict[str, Any],
               now: dt.datetime) -> dict[str, list[str]]:
    """A staff form may name only documents stored for this case: a reference typed by hand, or
    one of another case, is an error on its field (`runtime.SUBMISSION_CHECKS`)."""
    refs = refs_in(submission)
    found = find(db, sorted({r for r in refs.values() if REF.match(r)}))
    return {path: ["附件不存在或不属于本案件，请重新上传"] for path, ref in refs.items()
            if (doc := found.get(ref)) is None or doc.instance_id != instance_id}


def read(root: Path, info: DocumentInfo) -> bytes:
    """The stored bytes, checked against the recorded hash (a changed file is not served)."""
    try:
        content = path_of(root, info.sha256).read_bytes()
    except FileNotFoundError:
        raise NotFound(f"the file of document {info.ref} is missing from storage") from None
    if hashlib.sha256(content).hexdigest() != info.sha256:
        raise YekuoError(f"the stored file of document {info.ref} does not match its hash")
    return content
