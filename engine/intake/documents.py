"""Uploaded documents (ID copies, property proofs, letters): checked, stored by content hash.

A file is accepted only if its *content* is a PDF, JPEG or PNG (the first bytes decide, never the
name or the declared type) and it is not larger than the limit. The bytes are written once per
content under `root/<first two hex digits of the SHA-256>/<sha256>` — outside any web root — and
every upload gets its own reference (`att-…`, the shape the forms' `documents.*.ref` fields accept)
recording who uploaded it, so a channel client can use and read only its own uploads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select

from engine.core import clock
from engine.core.db import Database
from engine.core.errors import NotFound, YekuoError
from engine.core.models import document_t

DEFAULT_MAX_BYTES = 10 * 1024 * 1024

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
          max_bytes: int = DEFAULT_MAX_BYTES) -> DocumentInfo:
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
                        filename=_clean_name(filename), uploaded_by=uploaded_by, uploaded_at=clock.now())
    with db.write() as conn:
        conn.execute(insert(document_t).values(**info.__dict__))
    return info


def get(db: Database, ref: str) -> DocumentInfo:
    with db.read() as conn:
        row = conn.execute(select(document_t).where(document_t.c.ref == ref)).first()
    if row is None:
        raise NotFound(f"document {ref} does not exist")
    return DocumentInfo(row.ref, row.sha256, row.size, row.content_type, row.filename, row.uploaded_by,
                        row.uploaded_at)


def find(db: Database, refs: list[str]) -> dict[str, DocumentInfo]:
    """The documents among `refs` that exist, by ref."""
    if not refs:
        return {}
    with db.read() as conn:
        rows = conn.execute(select(document_t).where(document_t.c.ref.in_(refs))).all()
    return {r.ref: DocumentInfo(r.ref, r.sha256, r.size, r.content_type, r.filename, r.uploaded_by, r.uploaded_at)
            for r in rows}


def read(root: Path, info: DocumentInfo) -> bytes:
    """The stored bytes, checked against the recorded hash (a changed file is not served)."""
    try:
        content = path_of(root, info.sha256).read_bytes()
    except FileNotFoundError:
        raise NotFound(f"the file of document {info.ref} is missing from storage") from None
    if hashlib.sha256(content).hexdigest() != info.sha256:
        raise YekuoError(f"the stored file of document {info.ref} does not match its hash")
    return content
