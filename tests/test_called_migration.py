"""Migration sees cases inside called processes (issue #19): counts, dry run, move, revert, replay.

Three high-voltage cases sit inside 设计文件审查 (design_review v1, called from hv_project) when an
analyst deploys v2 with a new step. The versions page must count them under design_review, the
dry run must judge them by design_review's own elements, a moved case must take the new step
while its main version and other bindings stay, and a revert must put it back — each replaying
exactly from its history.
"""

from __future__ import annotations

import pytest

from engine.audit import replay
from engine.core import calls, definitions, queries, runtime, store
from engine.core.actors import SYSTEM
from engine.core.errors import InvalidState
from engine.modeling import authoring, migration
from tests.process_helpers import FORMS_DIR, START, deploy, drive, items, start_case
from tests.test_called_versions import HV, design_review_v2


@pytest.fixture
def inside(db, clock):
    """Cases a and b at 受理设计文件, c at 审查设计文件 (all inside design_review v1), d not yet in it."""
    clock.set(START)
    models = deploy(db)
    cases = []
    for _ in range(3):
        iid = start_case(db, data={"channel": "web95598"})
        drive(db, iid, HV, until="receive_drawings")
        cases.append(iid)
    drive(db, cases[2], until="review_design")
    before = start_case(db, data={"channel": "web95598"})
    [v2] = authoring.deploy(db, {"design_review.bpmn": design_review_v2()}, forms_dir=FORMS_DIR,
                            actor="analyst", note="受理后先核对设计单位图章")
    assert (v2.key, v2.version) == ("design_review", 2)
    return models, cases, before


def bound_version(db, iid: int, key: str = "design_review") -> int:
    _row, _definition, wf = store.load(db, iid)
    return definitions.load(db, calls.bindings_of(wf)[key]).version


def test_cases_inside_a_called_process_are_counted_and_chosen_by_its_key(db, inside):
    _models, (a, b, c), before = inside
    assert migration.running_counts(db, "design_review") == {1: 3}
    assert [(v.version, v.running) for v in migration.versions(db, "design_review")] == [(2, 0), (1, 3)]
    assert migration.select_instances(db, "design_review", 1) == [a, b, c]
    assert migration.select_instances(db, "design_review", 1, at_step="receive_drawings") == [a, b]
    assert migration.select_instances(db, "design_review", 2) == []
    assert before not in migration.called_cases(db, "design_review")
    assert [r.id for r in migration.running_cases(db, "design_review", 1)] == [a, b, c]
    # the main process's own counts do not change
    assert migration.running_counts(db, "new_connection") == {1: 4}


def test_dry_run_move_and_replay_inside_the_called_process(db, inside):
    models, (a, b, c), _before = inside
    verdicts = migration.check(db, [a, c], key="design_review")
    assert [(v.can_migrate, v.from_version, v.to_version) for v in verdicts] == [(True, 1, 2), (True, 1, 2)]
    migration.migrate(db, a, actor="analyst", note="进入新步骤", key="design_review")
    assert bound_version(db, a) == 2
    inst = queries.get_instance(db, a)
    assert inst.definition_version == 1 and inst.definition_id == models["new_connection"].definition_id
    assert migration.running_counts(db, "design_review") == {1: 2, 2: 1}
    [again] = migration.check(db, [a], key="design_review")
    assert not again.can_migrate and again.reasons == ["the case is already on version 2"]

    assert drive(db, a, until="check_stamp") == ["receive_drawings"]
    assert drive(db, b, until="review_design") == ["receive_drawings"]  # not moved: stays on v1
    for iid in (a, b):
        report = replay.replay(db, iid)
        assert report.ok, report.to_dict()


def test_the_same_safety_checks_apply_inside_the_called_process(db, inside):
    _models, (a, b, c), before = inside
    migration.migrate(db, a, actor="analyst", key="design_review")
    drive(db, a, until="check_stamp")  # now at a step version 1 does not have
    blocked, ok = migration.check(db, [a, c], 1, key="design_review")
    assert not blocked.can_migrate and (blocked.from_version, blocked.to_version) == (2, 1)
    assert blocked.reasons == ["its current step '核对设计单位图章' in 'design_review' is not in the new version"]
    assert ok.reasons == ["the case is already on version 1"]
    with pytest.raises(InvalidState, match="not in the new version"):
        migration.migrate(db, a, 1, actor="analyst", key="design_review")
    [not_inside] = migration.check(db, [before], key="design_review")
    assert not not_inside.can_migrate and "has not entered" in not_inside.reasons[0]
    runtime.cancel(db, b, actor=SYSTEM, reason="test")
    [ended] = migration.check(db, [b], key="design_review")
    assert ended.reasons == ["the case has ended (cancelled)"]
    assert migration.running_counts(db, "design_review") == {1: 1, 2: 1}
    results = migration.migrate_many(db, [a, c], 1, actor="analyst", key="design_review")
    assert [r.migrated for r in results] == [False, False]


def test_revert_inside_the_called_process(db, inside):
    _models, (a, _b, _c), _before = inside
    migration.migrate(db, a, actor="analyst", key="design_review")
    last = migration.last_migration(db, a)
    assert last["called_key"] == "design_review" and last["called_name"]
    migration.revert(db, a, actor="analyst")
    assert bound_version(db, a) == 1
    assert migration.running_counts(db, "design_review") == {1: 3}
    assert drive(db, a, until="review_design") == ["receive_drawings"]
    assert "check_stamp" not in items(db, a)
    report = replay.replay(db, a)
    assert report.ok, report.to_dict()


def test_the_version_diff_lists_flows_and_form_files(db, inside):
    diff = migration.diff_versions(db, "design_review", 1, 2)
    assert diff.by_kind("added") == ["check_stamp"]
    assert diff.by_kind("added", "flow") == ["Flow_check_stamp_review_design"]
    [rewired] = [c for c in diff.changes if c.kind == "flow" and c.change == "changed"]
    assert (rewired.element, rewired.fields) == ("Flow_receive_drawings_review_design", ["target"])
    assert diff.running == {1: 3}

    form = authoring.version_sources(db, definitions.latest_id(db, "design_review", 2))["forms"]
    name = "design-receipt.schema.json"
    changed = dict(form[name], title="受理设计文件（新）")
    changed["properties"] = {**form[name]["properties"], "stamp_ok": {"type": "boolean", "title": "图章齐全"}}
    authoring.deploy(db, {"design_review.bpmn": design_review_v2()}, forms_dir=FORMS_DIR,
                     forms={**form, name: changed},
                     actor="analyst", note="表单加图章字段")
    forms = {(c.element, c.change): c.fields for c in migration.diff_versions(db, "design_review", 2, 3).changes
             if c.kind == "form"}
    assert forms == {(name, "changed"): ["title", "properties.stamp_ok"]}
    assert migration._form_changes({"a.schema.json": {}}, {"b.schema.json": {}}) == [
        migration.ElementChange("", "b.schema.json", "b.schema.json", "added", kind="form"),
        migration.ElementChange("", "a.schema.json", "a.schema.json", "removed", kind="form")]


def test_an_unreadable_state_does_not_break_the_counts(db, inside):
    from sqlalchemy import update

    from engine.core.models import instance_t

    _models, (a, b, c), before = inside
    with db.write() as conn:
        conn.execute(update(instance_t).where(instance_t.c.id == before).values(state=b""))
    assert migration.running_counts(db, "design_review") == {1: 3}


def test_cli_migrates_inside_the_called_process_by_its_key_with_a_dry_run(db, inside):
    """`yekuo versions migrate design_review 1` chooses and moves cases as the REST API and page do."""
    from tests.cli_support import yekuo

    _models, (a, b, c), before = inside
    dry = yekuo(db, "versions", "migrate", "design_review", "1", "--dry-run")
    lines = dry.stdout.strip().splitlines()
    assert lines[:2] == [f"instance {i} design_review v1 -> v2: can move" for i in (a, b)]
    assert lines[2].startswith(f"instance {c} design_review v1 -> v2: ")
    assert lines[-1].endswith("nothing was moved")
    assert [bound_version(db, i) for i in (a, b, c)] == [1, 1, 1]  # the dry run moved nothing
    moved = yekuo(db, "versions", "migrate", "design_review", "1", "--instances", str(a), "--note", "新步骤")
    assert moved.stdout.strip() == f"instance {a} moved design_review v1 -> v2"
    assert bound_version(db, a) == 2 and bound_version(db, b) == 1
    assert queries.get_instance(db, a).definition_version == 1  # the main process stays on its version
    assert replay.replay(db, a).ok
    # the same through `yekuo migrate check/run --key`
    assert yekuo(db, "migrate", "check", str(b), "--key", "design_review").stdout.strip() == (
        f"instance {b} v1 -> v2: can move")
    # hostile or wrong input: a case not on that version, one never inside it, an unknown key, a bad number
    gone = yekuo(db, "versions", "migrate", "design_review", "1", "--instances", str(a), str(before), check=False)
    assert gone.returncode == 1 and f"instance {a} is not running on design_review v1" in gone.stderr
    assert f"instance {before} is not running" in gone.stderr
    unknown = yekuo(db, "versions", "migrate", "no_such_process'; drop table x;--", "1", "--dry-run", check=False)
    assert unknown.returncode == 0 and "no running case" in unknown.stdout
    bad = yekuo(db, "versions", "migrate", "design_review", "first", check=False)
    assert bad.returncode == 2
    assert bound_version(db, b) == 1  # nothing moved by the refused commands
