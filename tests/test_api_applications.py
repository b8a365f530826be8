"""O2O intake: channel submissions with idempotency keys, customer status, document uploads."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from engine.core import queries
from engine.intake import applications
from tests import process_helpers
from tests.api_support import (  # noqa: F401
    JPEG,
    PDF,
    PNG,
    Api,
    accept_example,
    api,
    application_example,
    seed_deadlines,
    upload,
    with_documents,
)

URL = "/api/v1/applications"


def submit(api: Api, data: dict, *, channel: str = "app", key: str | None = None, as_: str = "channel"):
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(URL, as_=as_, json={"channel": channel, "data": data}, headers=headers)


def test_submission_starts_a_case_with_the_number_as_business_key(api: Api) -> None:
    data = with_documents(api, application_example())
    r = submit(api, data, key="k-1")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["created"] is True and body["channel"] == "app"
    assert body["application_no"].startswith("YK20260302-")
    inst = queries.get_instance(api.db, body["instance_id"])
    assert inst.business_key == body["application_no"]
    assert inst.data["channel"] == "app" and inst.data["application_no"] == body["application_no"]
    assert [i.task_spec for i in inst.open_items] == ["accept"]
    # the clerk sees it in the group's list, with the customer's data prefilled
    tasks = api.ok("GET", "/api/v1/tasks?candidate_group=clerk", as_="clerk")["items"]
    assert [t["business_key"] for t in tasks] == [body["application_no"]]
    detail = api.ok("GET", f"/api/v1/tasks/{tasks[0]['id']}", as_="clerk")
    assert detail["data"]["customer_name"] == data["customer_name"]


def test_numbers_come_from_the_daily_counter(api: Api) -> None:
    first = submit(api, with_documents(api, application_example())).get_json()["application_no"]
    second = submit(api, with_documents(api, application_example())).get_json()["application_no"]
    assert first.endswith("-0001") and second.endswith("-0002")
    # the process's own numbering (assign_number) uses the same counter
    assert applications.next_number(api.db).endswith("-0003")


def test_retry_with_the_same_key_returns_the_same_application(api: Api) -> None:
    data = with_documents(api, application_example())
    first = submit(api, data, key="retry-1")
    again = submit(api, data, key="retry-1")
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["application_no"] == first.get_json()["application_no"]
    assert again.get_json()["created"] is False
    assert api.ok("GET", URL, as_="channel")["total"] == 1
    # the same key with another body is refused
    other = submit(api, {**data, "customer_name": "另一个客户"}, key="retry-1")
    assert other.status_code == 409
    assert other.get_json()["error"]["details"]["application_no"] == first.get_json()["application_no"]
    # keys are per client: another channel may use the same key
    data2 = with_documents(api, application_example(), as_="channel2")
    assert submit(api, data2, key="retry-1", as_="channel2").status_code == 201


def test_without_a_key_each_submission_is_new(api: Api) -> None:
    data = with_documents(api, application_example())
    a, b = submit(api, data), submit(api, data)
    assert a.get_json()["application_no"] != b.get_json()["application_no"]


def test_invalid_application_is_422_per_field(api: Api) -> None:
    data = with_documents(api, application_example(mobile="12345", id_number="91110101MA01ABCD10"))
    r = submit(api, data)
    assert r.status_code == 422
    details = r.get_json()["error"]["details"]
    assert "mobile" in details and "id_number" in details
    assert any("手机" in m for m in details["mobile"])
    assert api.ok("GET", URL, as_="channel")["total"] == 0


def test_staff_only_fields_are_not_asked_and_not_taken(api: Api) -> None:
    schema = api.ok("GET", f"{URL}/schema", as_="channel")["schema"]
    for name in applications.STAFF_ONLY:
        assert name not in schema["properties"]
        assert name not in schema["required"]
    data = with_documents(api, application_example())
    data["important_customer"] = True  # not part of the application schema: dropped
    body = submit(api, data).get_json()
    assert "important_customer" not in queries.get_instance(api.db, body["instance_id"]).data


def test_unknown_or_foreign_document_refs_are_refused(api: Api) -> None:
    data = application_example()  # the example's refs were never uploaded
    r = submit(api, data)
    assert r.status_code == 422
    assert "documents.identity.ref" in r.get_json()["error"]["details"]
    foreign = with_documents(api, application_example(), as_="channel2")
    assert submit(api, foreign).status_code == 422


def test_unknown_channel_is_422(api: Api) -> None:
    r = submit(api, with_documents(api, application_example()), channel="fax")
    assert r.status_code == 422 and "channel" in r.get_json()["error"]["details"]
    ok = submit(api, with_documents(api, application_example()), channel="95598")
    assert ok.status_code == 201 and ok.get_json()["channel"] == "web95598"


def test_channel_reads_only_its_own_applications(api: Api) -> None:
    mine = submit(api, with_documents(api, application_example())).get_json()["application_no"]
    theirs = submit(api, with_documents(api, application_example(), as_="channel2"), as_="channel2")
    theirs_no = theirs.get_json()["application_no"]
    assert api.get(f"{URL}/{mine}", as_="channel").status_code == 200
    assert api.get(f"{URL}/{theirs_no}", as_="channel").status_code == 404
    assert [a["application_no"] for a in api.ok("GET", URL, as_="channel")["items"]] == [mine]
    assert api.ok("GET", URL, as_="auditor")["total"] == 2
    assert api.get(f"{URL}/{theirs_no}", as_="clerk").status_code == 200
    # channel clients see nothing of the staff side
    assert api.get("/api/v1/tasks", as_="channel").status_code == 403
    assert api.get("/api/v1/process-instances", as_="channel").status_code == 403


def test_status_gives_milestone_and_expected_completion(api: Api, clock) -> None:
    seed_deadlines(api.db)
    no = submit(api, with_documents(api, application_example(0))).get_json()["application_no"]
    status = api.ok("GET", f"{URL}/{no}", as_="channel")
    assert status["status"] == "processing"
    assert status["milestone"] == applications.SUBMITTED
    assert status["expected_completion"] is None
    # the clerk accepts (the staff-only fields completed); the business type is now known
    item = api.ok("GET", "/api/v1/tasks?candidate_group=clerk", as_="clerk")["items"][0]
    data = {**api.ok("GET", f"/api/v1/tasks/{item['id']}", as_="clerk")["data"]}
    data.update({k: accept_example(0)[k] for k in applications.STAFF_ONLY if k in accept_example(0)})
    data.pop("application_no", None)
    api.ok("POST", f"/api/v1/tasks/{item['id']}/claim", as_="clerk")
    api.ok("POST", f"/api/v1/tasks/{item['id']}/complete", as_="clerk", json={"data": data})
    status = api.ok("GET", f"{URL}/{no}", as_="channel")
    assert status["milestone"] == "申请受理"
    clocks = api.ok("GET", f"/api/v1/process-instances/{status['instance_id']}/sla", as_="clerk")["clocks"]
    whole = [c for c in clocks if c["scope"] == "process"]
    assert whole and status["expected_completion"] == whole[0]["deadline_at"]
    assert status["expected_completion"].startswith("2026-03-09T09:00:00")  # 5 working days, 17:00 China


def test_the_number_survives_acceptance(api: Api) -> None:
    no = submit(api, with_documents(api, application_example(0))).get_json()["application_no"]
    iid = applications.instance_of(api.db, no)
    data = {**accept_example(0), "documents": queries.get_instance(api.db, iid).data["documents"]}
    process_helpers.complete(api.db, iid, "accept", data)
    assert queries.get_instance(api.db, iid).data["application_no"] == no


def test_customer_can_withdraw(api: Api) -> None:
    no = submit(api, with_documents(api, application_example())).get_json()["application_no"]
    assert api.post(f"{URL}/{no}/withdraw", as_="channel2", json={"reason": "x"}).status_code == 404
    out = api.ok("POST", f"{URL}/{no}/withdraw", as_="channel", json={"reason": "项目取消"})
    assert out["status"] in ("completed", "running", "waiting")
    status = api.ok("GET", f"{URL}/{no}", as_="channel")
    assert status["milestone"] == "已撤销"


# -- uploads -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "kind"), [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg")])
def test_upload_is_stored_by_content_hash_outside_the_web_root(api: Api, tmp_path: Path, content: bytes,
                                                               kind: str) -> None:
    doc = upload(api, content, "scan.bin")  # the name does not decide the type
    digest = hashlib.sha256(content).hexdigest()
    assert doc["content_type"] == kind and doc["sha256"] == digest and doc["size"] == len(content)
    assert doc["ref"].startswith("att-")
    stored = tmp_path / "documents" / digest[:2] / digest
    assert stored.read_bytes() == content
    got = api.get(f"/api/v1/documents/{doc['ref']}/content", as_="channel")
    assert got.status_code == 200 and got.data == content and got.mimetype == kind
    assert got.headers["X-Content-Type-Options"] == "nosniff"


def test_same_content_is_stored_once_with_separate_refs(api: Api, tmp_path: Path) -> None:
    a, b = upload(api, PDF, "a.pdf"), upload(api, PDF, "b.pdf")
    assert a["ref"] != b["ref"] and a["sha256"] == b["sha256"]
    assert len(list((tmp_path / "documents").rglob("*"))) == 2  # one folder, one file


def test_wrong_type_is_415(api: Api) -> None:
    fake = b"MZ\x90\x00 this is an executable pretending to be a pdf"
    r = api.post("/api/v1/documents", as_="channel", data={"file": (io.BytesIO(fake), "invoice.pdf")},
                 content_type="multipart/form-data")
    assert r.status_code == 415
    assert r.get_json()["error"]["code"] == "unsupported_document"


def test_too_large_is_413(api: Api) -> None:
    api.app.config["YEKUO_MAX_UPLOAD_BYTES"] = 1000
    big = PDF + b"0" * 2000
    r = api.post("/api/v1/documents", as_="channel", data={"file": (io.BytesIO(big), "big.pdf")},
                 content_type="multipart/form-data")
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "document_too_large"
    huge = PDF + b"0" * 200_000  # beyond the multipart envelope: refused before the body is read
    r = api.post("/api/v1/documents", as_="channel", data={"file": (io.BytesIO(huge), "huge.pdf")},
                 content_type="multipart/form-data")
    assert r.status_code == 413 and r.is_json


def test_missing_file_is_422(api: Api) -> None:
    r = api.post("/api/v1/documents", as_="channel", data={}, content_type="multipart/form-data")
    assert r.status_code == 422
    assert "file" in r.get_json()["error"]["details"]


def test_documents_are_private_to_the_uploader_and_staff(api: Api) -> None:
    doc = upload(api, PDF, "id.pdf", as_="channel")
    assert api.get(f"/api/v1/documents/{doc['ref']}", as_="channel2").status_code == 404
    assert api.get(f"/api/v1/documents/{doc['ref']}/content", as_="channel2").status_code == 404
    assert api.get(f"/api/v1/documents/{doc['ref']}", as_="clerk").status_code == 200
    assert api.post("/api/v1/documents", as_="auditor", data={"file": (io.BytesIO(PDF), "a.pdf")},
                    content_type="multipart/form-data").status_code == 403


@pytest.mark.submission_checks
def test_staff_upload_a_cases_documents_and_its_form_may_name_only_those(api: Api) -> None:
    started = api.ok("POST", "/api/v1/process-instances", 201, as_="clerk", json={"key": "new_connection", "data": {}})
    iid = started["instance_id"]
    url = f"/api/v1/documents?instance_id={iid}"
    refused = api.post(url, as_="channel", data={"file": (io.BytesIO(PDF), "a.pdf")}, content_type="multipart/form-data")
    assert refused.status_code == 403
    missing = api.post(f"/api/v1/documents?instance_id={iid + 99}", as_="clerk",
                       data={"file": (io.BytesIO(PDF), "a.pdf")}, content_type="multipart/form-data")
    assert missing.status_code == 404
    docs = {}
    for n, name in enumerate(("identity", "property_proof")):
        r = api.post(url, as_="clerk", data={"file": (io.BytesIO(PDF + bytes([n])), f"{name}.pdf")},
                     content_type="multipart/form-data")
        assert r.status_code == 201 and r.get_json()["instance_id"] == iid
        docs[name] = {"ref": r.get_json()["ref"], "name": f"{name}.pdf"}
    [accept] = api.ok("GET", f"/api/v1/tasks?instance={iid}", as_="clerk")["items"]
    api.ok("POST", f"/api/v1/tasks/{accept['id']}/claim", as_="clerk", json={})
    loose = upload(api, PDF + b"x", "loose.pdf", as_="clerk")["ref"]  # not tied to the case
    data = {**process_helpers.example("accept"), "documents": {**docs, "identity": {"ref": loose, "name": "x.pdf"}}}
    r = api.post(f"/api/v1/tasks/{accept['id']}/complete", as_="clerk", json={"data": data})
    assert r.status_code == 422 and r.get_json()["error"]["details"] == {
        "documents.identity.ref": ["附件不存在或不属于本案件，请重新上传"]}
    data["documents"] = docs
    api.ok("POST", f"/api/v1/tasks/{accept['id']}/complete", as_="clerk", json={"data": data})
