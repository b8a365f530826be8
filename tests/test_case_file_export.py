"""The case file: each step's data under that step (no collisions), the JSON export with prev_hash and
hash per event, and `yekuo audit verify --file` checking an exported file offline."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from engine.audit import chains as audit
from engine.core import queries
from tests.cli_support import yekuo
from tests.process_helpers import deploy, run


@pytest.fixture
def app_context(db):
    """Flask-Babel's gettext for the page helpers (Chinese, as the pages are)."""
    from api.app import create_app
    from engine.core import config

    app = create_app(config.Settings(database_url=str(db.engine.url), secret_key="test", demo=True), db=db)
    with app.test_request_context("/"):
        yield app


@pytest.fixture
def hv_case(db, clock):
    deploy(db)
    return run("hv_single_ordinary", db, clock)


def test_each_step_keeps_its_own_values_and_labels(db, clock, hv_case, app_context):
    from api.web import casedata

    definition = queries.case_definition(db, hv_case.iid)
    rows, _ = audit.events(db, hv_case.iid)
    steps = casedata.by_step(definition, rows)
    by_task = {}
    for s in steps:
        by_task.setdefault(s.task_spec, []).append(s)
    # the field job's call-back and the case's final call-back both have `satisfaction`: each keeps its own
    job_cbs = by_task["job_callback"]  # one after each field job: the survey and the installation
    assert len(job_cbs) == 2 and "第 2 次" in job_cbs[1].title
    job_cb = job_cbs[0]
    assert all(s.process == "field_job" for s in job_cbs)
    [final_cb] = by_task["callback"]
    assert "satisfaction" in {k for k, _t, _v in job_cb.rows} and "satisfaction" in {k for k, _t, _v in final_cb.rows}
    assert job_cb.process == "field_job" and final_cb.process == "new_connection"
    assert job_cb.title.startswith("现场作业 · ")
    # a field appears only under the step that entered it (hv fields never under another form's step)
    # and every row has a label, never the raw key (keys nobody labels stay in the raw view only)
    for s in steps:
        assert set(k for k, _t, _v in s.rows) <= set(s.raw), s.task_spec
        assert all(t != k for k, t, _v in s.rows), (s.task_spec, s.rows)
        assert not [v for _k, _t, v in s.rows if v in ("True", "False") or v[:1] in "{[" or "T0" in v or "T1" in v]
    [reply] = by_task["reply_scheme"]
    assert "scheme_voltage" in {k for k, _t, _v in reply.rows}
    assert all("scheme_voltage" not in {k for k, _t, _v in s.rows} for s in steps if s is not reply)
    # the same task twice (the survey job and the install job) gives two sections, the second marked
    books = by_task["book_appointment"]
    assert len(books) == 2 and "第 2 次" in books[1].title
    # the form's own labels and option titles, not raw codes
    titles = dict((k, t) for k, t, _v in reply.rows)
    assert titles["scheme_voltage"] != "scheme_voltage"


def test_same_field_name_in_two_steps_never_overwrites(db, clock, app_context):
    """A hand-made history: two steps enter `satisfaction` with different codes; each is shown with its form."""
    from api.web import casedata

    forms = {"a.schema.json": {"title": "A", "properties": {"satisfaction": {
                 "type": "integer", "title": "满意度（分）", "enum": [1, 5],
                 "options": {"enum_titles": ["不满意", "五分"]}}}},
             "b.schema.json": {"title": "B", "properties": {"satisfaction": {
                 "type": "string", "title": "满意度", "enum": ["very_satisfied"],
                 "options": {"enum_titles": ["非常满意"]}}}}}
    info = lambda bid, form: SimpleNamespace(bpmn_id=bid, name=bid.upper(), form_schema=form)  # noqa: E731
    definition = SimpleNamespace(key="main", name="主流程", forms=forms, subprocess_specs={},
                                 tasks={("sub", "first"): info("first", "a.schema.json"),
                                        ("main", "second"): info("second", "b.schema.json")})

    def ev(seq, spec, data, process=None):
        trail = [[spec, "c", "x", process] if process else [spec, "c", "x"]]
        return SimpleNamespace(seq=seq, type="task_completed", task_spec=spec, at=None, actor="u",
                               payload=json.dumps({"data": data, "trail": trail}))

    steps = casedata.by_step(definition, [ev(1, "first", {"satisfaction": 5}, "sub"),
                                          ev(2, "second", {"satisfaction": "very_satisfied"})])
    assert [(s.task_spec, s.rows) for s in steps] == [
        ("first", [("satisfaction", "满意度（分）", "五分")]),
        ("second", [("satisfaction", "满意度", "非常满意")])]


def test_export_carries_prev_hash_hash_and_how_they_are_made(db, clock, hv_case):
    doc = audit.export(db, hv_case.iid)
    history = doc["history"]
    assert history[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(history, history[1:]))
    assert doc["chain"]["head_hash"] == history[-1]["hash"]
    assert doc["hashing"]["algorithm"] == "SHA-256" and "canonical" in doc["hashing"]["event_hash"]
    assert len(doc["integrity"]["document_sha256"]) == 64
    assert audit.verify_file(json.loads(json.dumps(doc, ensure_ascii=False))).ok


def _write(tmp_path, doc):
    path = tmp_path / "case.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def test_verify_file_passes_offline_and_fails_after_one_byte_is_edited(db, clock, hv_case, tmp_path):
    path = _write(tmp_path, audit.export(db, hv_case.iid))
    # offline: no database is reachable for the command
    ok = yekuo(db, "audit", "verify", "--file", str(path), env={"YEKUO_DATABASE_URL": "sqlite:////nonexistent/x.db"})
    assert ok.returncode == 0 and "intact" in ok.stdout
    raw = path.read_bytes()
    # one byte of an event's payload: a digit of the surveyed load
    at = raw.index(b'"load_confirmed_kw": ', raw.index(b'"history": ')) + len(b'"load_confirmed_kw": ')
    edited = raw[:at] + (b"9" if raw[at:at + 1] != b"9" else b"8") + raw[at + 1:]
    path.write_bytes(edited)
    bad = yekuo(db, "audit", "verify", "--file", str(path), check=False)
    assert bad.returncode == 1 and "was altered" in bad.stderr
    # one byte of the case data (not in the chain): the document digest catches it
    at = raw.index(b'"customer_name": "') + len(b'"customer_name": "')
    path.write_bytes(raw[:at] + b"X" + raw[at + 1:] if raw[at:at + 1].isascii() else raw[:at] + b"X" + raw[at:])
    bad = yekuo(db, "audit", "verify", "--file", str(path), check=False)
    assert bad.returncode == 1 and "digest" in bad.stderr


@pytest.mark.parametrize("content", [b"", b"not json", b"[1,2]", b'{"instance": {}, "history": [{"seq": 1}]}'])
def test_verify_file_refuses_what_is_not_a_case_file(db, tmp_path, content):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    out = yekuo(db, "audit", "verify", "--file", str(path), check=False)
    assert out.returncode in (1, 2) and "Traceback" not in out.stderr
