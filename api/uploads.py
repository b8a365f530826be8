"""Document uploads over HTTP: size limit before the body is read, content sniffing, storage by hash.

Settings (Flask config, else environment):
- `YEKUO_DOCUMENTS_DIR` — where files are kept (default `instance/documents`, outside any web
  root; files are never served statically, only through the API with a permission check);
- `YEKUO_MAX_UPLOAD_BYTES` — the largest accepted file (default 10 MB).
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import current_app, request
from werkzeug.datastructures import FileStorage

from engine.core.db import Database
from engine.core.errors import InvalidData
from engine.intake import documents

#: room for the multipart envelope around the file itself
ENVELOPE = 64 * 1024


def documents_dir() -> Path:
    value = current_app.config.get("YEKUO_DOCUMENTS_DIR") or os.environ.get("YEKUO_DOCUMENTS_DIR")
    return Path(value or "instance/documents")


def max_bytes() -> int:
    value = current_app.config.get("YEKUO_MAX_UPLOAD_BYTES") or os.environ.get("YEKUO_MAX_UPLOAD_BYTES")
    return int(value or documents.DEFAULT_MAX_BYTES)


def limit_request() -> None:
    """Call before the body is parsed: refuse a declared oversize body at once, cap the rest."""
    limit = max_bytes()
    if request.content_length is not None and request.content_length > limit + ENVELOPE:
        raise documents.DocumentTooLarge(f"the file is larger than the limit of {limit} bytes",
                                         details={"max_bytes": limit, "size": request.content_length})
    request.max_content_length = limit + ENVELOPE


def store_upload(db: Database, upload: FileStorage | None, *, uploaded_by: str,
                 instance_id: int | None = None) -> documents.DocumentInfo:
    if upload is None or not isinstance(upload, FileStorage):
        raise InvalidData("no file was sent", details={"file": ["请选择要上传的文件"]})
    limit = max_bytes()
    content = upload.stream.read(limit + 1)
    return documents.store(db, content, filename=upload.filename, uploaded_by=uploaded_by,
                           root=documents_dir(), max_bytes=limit, instance_id=instance_id)


def read(info: documents.DocumentInfo) -> bytes:
    return documents.read(documents_dir(), info)
