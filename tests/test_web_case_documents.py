"""Documents uploaded inside a staff task form (issue 14): the upload endpoint per case (sign-in,
role, type and size checked on the server), a form refused when it names a document of another
case, and the files served from the case page and the case file without ever rendering as a page
of ours (hostile files)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from engine.core import queries
from engine.core.db import Database
from engine.intake import documents
from tests.process_helpers import example
from tests.test_web_pages import app, calendar_db, complete, start_at_counter  # noqa: F401 (fixtures)
from tests.web_support import csrf_of, sign_in

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"
#: a PNG by its first bytes with markup behind them: stored as image/png, never served as HTML
POLYGLOT = b"\x89PNG\r\n\x1a\n<html><script>alert(document.cookie)</script><svg onload=alert(1)>"


@pytest.fixture
def web(app: Any, tmp_path: Path) -> Any:  # noqa: F811
    app.config.update(YEKUO_DOCUMENTS_DIR=str(tmp_path / "documents"), YEKUO_MAX_UPLOAD_BYTES=4096)
    return app


def _case(client: Any, db: Database) -> tuple[int, str]:
    item_id = start_at_counter(client)
    return queries.get_work_item(db, item_id).instance_id, item_id


def _upload(client: Any, iid: int, content: bytes, name: str, token: str) -> Any:
    return client.post(f"/cases/{iid}/documents", data={"file": (io.BytesIO(content), name)},
                       headers={"X-CSRF-Token": token, "Accept": "application/json"},
                       content_type="multipart/form-data")


def test_a_clerk_uploads_for_a_case_and_wrong_files_are_refused_in_chinese(web: Any, calendar_db: Database) -> None:  # noqa: F811
    clerk = sign_in(web, "clerk")
    iid, item_id = _case(clerk, calendar_db)
    token = csrf_of(clerk.get(f"/tasks/{item_id}").text)

    done = _upload(clerk, iid, PDF, "身份证.pdf", token)
    assert done.status_code == 201, done.text
    body = done.get_json()
    assert body["ref"].startswith("att-") and body["name"] == "身份证.pdf"
    assert documents.get(calendar_db, body["ref"]).instance_id == iid

    html = _upload(clerk, iid, b"<html><script>alert(1)</script></html>", "x.pdf", token)
    assert html.status_code == 415 and html.get_json()["error"]["message"] == "只能上传 PDF、JPEG 或 PNG 文件。"
    big = _upload(clerk, iid, PDF + b"0" * 5000, "big.pdf", token)
    assert big.status_code == 413 and big.get_json()["error"]["details"]["file"] == ["文件超过 1 MB，无法上传。"]
    none = clerk.post(f"/cases/{iid}/documents", data={}, headers={"X-CSRF-Token": token, "Accept": "application/json"},
                      content_type="multipart/form-data")
    assert none.status_code == 422
    assert clerk.post(f"/cases/{iid + 999}/documents", data={"file": (io.BytesIO(PDF), "a.pdf")},
                      headers={"X-CSRF-Token": token, "Accept": "application/json"}).status_code == 404
    assert [d.ref for d in documents.of_case(calendar_db, iid)] == [body["ref"]]


def test_anonymous_auditors_and_forged_requests_cannot_upload(web: Any, calendar_db: Database) -> None:  # noqa: F811
    clerk = sign_in(web, "clerk")
    iid, item_id = _case(clerk, calendar_db)
    anonymous = web.test_client()
    assert anonymous.post(f"/cases/{iid}/documents", data={"file": (io.BytesIO(PDF), "a.pdf")},
                          headers={"Accept": "application/json"}).status_code in (400, 401)
    assert _upload(clerk, iid, PDF, "a.pdf", "forged").status_code == 400  # no CSRF token, no upload
    auditor = sign_in(web, "auditor")
    token = csrf_of(auditor.get(f"/cases/{iid}").text)
    assert _upload(auditor, iid, PDF, "a.pdf", token).status_code == 403
    assert documents.of_case(calendar_db, iid) == []


@pytest.mark.submission_checks
def test_a_form_naming_another_cases_document_is_refused_on_its_field(web: Any, calendar_db: Database) -> None:  # noqa: F811
    clerk = sign_in(web, "clerk")
    first, first_item = _case(clerk, calendar_db)
    second, second_item = _case(clerk, calendar_db)
    token = csrf_of(clerk.get(f"/tasks/{second_item}").text)
    theirs = _upload(clerk, first, PDF, "别人的.pdf", token).get_json()["ref"]
    mine = [_upload(clerk, second, PDF + bytes([i]), f"{i}.pdf", token).get_json()["ref"] for i in range(2)]

    data = example("accept")
    data["documents"] = {"identity": {"ref": theirs, "name": "别人的.pdf"}, "property_proof": {"ref": mine[1], "name": "1.pdf"}}
    refused = complete(clerk, second_item, data)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["details"] == {"documents.identity.ref": ["附件不存在或不属于本案件，请重新上传"]}
    data["documents"]["identity"] = {"ref": "att-typedbyhand1", "name": "手填.pdf"}
    assert complete(clerk, second_item, data).get_json()["error"]["details"] == {
        "documents.identity.ref": ["附件不存在或不属于本案件，请重新上传"]}
    data["documents"]["identity"] = {"ref": mine[0], "name": "0.pdf"}
    assert complete(clerk, second_item, data).status_code == 200
    assert first_item  # the first case's acceptance is still open: nothing of it was touched
    # the case page lists the second case's documents, each for download; the first case's is not served here
    page = clerk.get(f"/cases/{second}").text
    assert "0.pdf" in page and "别人的.pdf" not in page and f"/cases/{second}/documents/{mine[0]}?download=1" in page
    assert clerk.get(f"/cases/{second}/documents/{theirs}").status_code == 404
    assert clerk.get(f"/cases/{first}/documents/{theirs}").status_code == 200
    case_file = sign_in(web, "auditor").get(f"/cases/{second}/file").text  # the printable case file links them too
    assert f"/cases/{second}/documents/{mine[0]}?download=1" in case_file


def test_files_never_render_as_a_page_of_ours(web: Any, calendar_db: Database) -> None:  # noqa: F811
    clerk = sign_in(web, "clerk")
    iid, item_id = _case(clerk, calendar_db)
    token = csrf_of(clerk.get(f"/tasks/{item_id}").text)
    for name in ("evil.html", "evil.svg", 'a"; filename=x.html\r\nX-Evil: 1'):
        ref = _upload(clerk, iid, POLYGLOT + name.encode(), name, token).get_json()["ref"]
        shown = clerk.get(f"/cases/{iid}/documents/{ref}")
        assert shown.status_code == 200 and shown.mimetype == "image/png"  # by content, never by name
        assert shown.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in shown.headers["Content-Security-Policy"]
        assert shown.headers["Content-Disposition"].startswith("inline; filename*=UTF-8''")
        assert "\r" not in shown.headers["Content-Disposition"] and "X-Evil" not in shown.headers
        saved = clerk.get(f"/cases/{iid}/documents/{ref}?download=1")
        assert saved.headers["Content-Disposition"].startswith("attachment;")
    pdf = _upload(clerk, iid, PDF, "合同.pdf", token).get_json()["ref"]
    assert clerk.get(f"/cases/{iid}/documents/{pdf}").headers["Content-Disposition"] == (
        "attachment; filename*=UTF-8''%E5%90%88%E5%90%8C.pdf")  # a PDF is only downloaded
    assert web.test_client().get(f"/cases/{iid}/documents/{pdf}").status_code == 302  # sign in first
    auditor = sign_in(web, "auditor")
    assert auditor.get(f"/cases/{iid}/documents/{pdf}").status_code == 200  # staff read every case
