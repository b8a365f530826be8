"""A case's documents on the staff pages: uploaded inside a task form, opened from the case page
and the case file.

Uploads go through the same checks as the channels' (`api.uploads`: size before the body is read,
type by content, PDF/JPEG/PNG only) and are stored for the case, so a form of this case may name
them (`documents.check_refs`). A file is served only for its own case, never as a page of ours:
images open inline (a preview) under a sandboxing CSP, everything else is a download, always with
the sniffed type and `nosniff`, so a file named `x.html` or `x.svg` never renders in our origin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, jsonify, request, url_for
from flask_babel import gettext as _

from api import uploads
from api.web.views import bp, page, page_db, page_user
from engine.core import queries
from engine.core.errors import InvalidData, NotFound
from engine.intake import documents

#: types a browser may show inline (a preview); anything else is only ever downloaded
PREVIEW = ("image/png", "image/jpeg")


def upload_limits() -> dict[str, Any]:
    """What the browser checks before sending (the server checks again)."""
    return {"maxBytes": uploads.max_bytes(), "types": [kind for _magic, kind in documents.SIGNATURES],
            "extensions": [".pdf", ".jpg", ".jpeg", ".png"]}


def task_inputs(instance_id: int) -> dict[str, Any]:
    """The task page's settings for its date pickers and upload fields (static/task_inputs.js)."""
    text = {"chooseFile": _("Choose a file or drop it here"), "uploading": _("Uploading…"),
            "remove": _("Remove"), "wrongType": _("Only PDF, JPEG and PNG files are accepted."),
            "tooLarge": _("The file is larger than %(mb)s MB.", mb=max(1, uploads.max_bytes() // (1024 * 1024))),
            "uploadFailed": _("The file could not be uploaded."),
            "pickTime": _("Pick or type a time, e.g. 2026-12-03 10:05"),
            "pickDate": _("Pick or type a date, e.g. 2026-12-03")}
    return {"upload": {"url": url_for("web.case_document_upload", instance_id=instance_id),
                       "fileUrl": url_for("web.case_document_content", instance_id=instance_id, ref="REF"),
                       **upload_limits()}, "inputText": text}


def _refused(code: str, message: str, status: int) -> Any:
    return jsonify(error={"code": code, "message": message, "details": {"file": [message]}}), status


@bp.post("/cases/<int:instance_id>/documents")
@page("documents.upload")
def case_document_upload(instance_id: int) -> Any:
    """One `file` (multipart) for this case; JSON back: the reference the form field then holds."""
    queries.get_instance(page_db(), instance_id)  # an unknown case is a 404 before the body is read
    limit = uploads.max_bytes()
    mb = max(1, limit // (1024 * 1024))
    try:
        uploads.limit_request()
        info = uploads.store_upload(page_db(), request.files.get("file"), uploaded_by=page_user().username,
                                    instance_id=instance_id)
    except documents.DocumentTooLarge:
        return _refused("document_too_large", _("The file is larger than %(mb)s MB.", mb=mb), 413)
    except documents.DocumentRejected:
        return _refused("unsupported_document", _("Only PDF, JPEG and PNG files are accepted."), 415)
    except InvalidData:
        return _refused("invalid_data", _("Choose a file to upload."), 422)
    return jsonify(ref=info.ref, name=info.filename, size=info.size, content_type=info.content_type), 201


def case_document(instance_id: int, ref: str) -> documents.DocumentInfo:
    """A document of this case: stored for it, or named in its data (an application's, from before
    documents were tied to cases); any other is a 404 here, whoever asks."""
    info = documents.get(page_db(), ref)
    if info.instance_id == instance_id:
        return info
    inst = queries.get_instance(page_db(), instance_id)
    if info.instance_id is None and ref in documents.refs_in(inst.data).values():
        return info
    raise NotFound(f"document {ref} does not exist in case {instance_id}")


def listed(instance_id: int, data: dict[str, Any]) -> list[documents.DocumentInfo]:
    """What the case page lists: the case's documents and any its data names from before."""
    own = documents.of_case(page_db(), instance_id)
    named = documents.find(page_db(), sorted(set(documents.refs_in(data).values()) - {d.ref for d in own}))
    return own + [d for d in named.values() if d.instance_id is None]


@bp.get("/cases/<int:instance_id>/documents/<ref>")
@page("staff.read")
def case_document_content(instance_id: int, ref: str) -> Any:
    info = case_document(instance_id, ref)
    body = uploads.read(info)
    inline = info.content_type in PREVIEW and request.args.get("download") != "1"
    disposition = "inline" if inline else "attachment"
    return Response(body, mimetype=info.content_type, headers={
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(info.filename, safe='')}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox"})
