"""Rule sets as versioned data: versions, activation, clocks keeping theirs, escalation in working
hours, and the hash chain of rule changes."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select, update

from engine.audit import chains as audit
from engine.core import timers
from engine.core.models import rule_audit_t, sla_clock_t, timer_t
from engine.deadlines import notices, rule_sets, rule_versions
from tests.test_sla import TEST_RULES, at, clock_of, sla_model, start_case  # noqa: F401  (fixture)


def _content(db, name="test_rules"):
    return copy.deepcopy(rule_versions.get_version(db, name)["content"])


def _with_limit(content, key, days):
    for rule in content["rules"]:
        if rule["sla_key"] == key:
            rule["workdays"], rule["hours"] = days, None
    return content


def _timer_due(db, clock_id, level):
    with db.read() as conn:
        return conn.execute(select(timer_t.c.due_at).where(timer_t.c.task_id == f"sla:{clock_id}:{level}")).scalar()


def test_seeded_sets_are_version_one_and_the_chain_verifies(db):
    rule_versions.seed_rule_sets(db)
    sets = {s["name"]: s for s in rule_versions.list_rule_sets(db)}
    assert sets["sgcc_default"]["active"] and sets["sgcc_default"]["active_version"] == 1
    assert sets["regulator_2009"]["latest_version"] == 1 and not sets["regulator_2009"]["active"]
    assert rule_versions.seed_rule_sets(db) == []  # seeding twice adds nothing
    report = audit.verify_rules(db)
    assert report.ok and report.events == 3  # two versions saved, one activation
    chain = rule_sets.active_rules(db).escalation
    assert [(lv.label, lv.recipient, lv.delay_hours) for lv in chain] == [("超期", "lead", 0), ("督办", "supervisor", 2)]


def test_a_clock_keeps_the_version_it_started_under(db, clock, sla_model):
    before = start_case(db, clock, at(2026, 3, 2))
    v2 = rule_versions.save_version(db, "test_rules", _with_limit(_content(db), "scheme_reply", 3),
                                    actor="admin", reason="考核办法修订")
    assert v2 == 2 and rule_sets.active_rules(db).version == 1  # saved, not yet active
    drafted = start_case(db, clock, at(2026, 3, 2, 10))
    assert clock_of(db, drafted, "scheme_reply").limit_workdays == 5
    rule_versions.activate_version(db, "test_rules", 2, actor="admin", reason="自下月起执行")
    after = start_case(db, clock, at(2026, 3, 2, 11))
    new, old = clock_of(db, after, "scheme_reply"), clock_of(db, before, "scheme_reply")
    assert (new.limit_workdays, new.deadline_at) == (3, at(2026, 3, 5, 17))
    assert (old.limit_workdays, old.deadline_at) == (5, at(2026, 3, 9, 17))
    with db.read() as conn:
        versions = dict(conn.execute(select(sla_clock_t.c.instance_id, sla_clock_t.c.rule_version)
                                     .where(sla_clock_t.c.sla_key == "scheme_reply")).all())
    assert versions == {before: 1, drafted: 1, after: 2}
    # going back to version 1 is an activation too; nothing running moves
    rule_versions.activate_version(db, "test_rules", 1, actor="admin", reason="撤回")
    assert clock_of(db, after, "scheme_reply").limit_workdays == 3
    history_ = rule_versions.versions_of(db, "test_rules")
    assert [(v["version"], v["created_by"], v["reason"], v["active"]) for v in history_][0] == (
        2, "admin", "考核办法修订", False)


def test_escalation_delay_is_working_hours_and_lands_next_morning(db, clock, sla_model):
    content = _content(db)
    content["escalation"] = [
        {"key": "overdue", "label": "催办", "recipient": "lead", "delay_hours": 0, "requires_ack": False},
        {"key": "supervise", "label": "督办", "recipient": "supervisor", "delay_hours": 2, "requires_ack": True},
        {"key": "escalate", "label": "升级", "recipient": "admin", "delay_hours": 10, "requires_ack": True}]
    rule_versions.save_version(db, "test_rules", content, actor="admin", reason="加升级")
    rule_versions.activate_version(db, "test_rules", actor="admin")
    # 23 Apr (Thu) + 5 working days = 30 Apr; then 1–5 May is the Labour Day holiday
    iid = start_case(db, clock, at(2026, 4, 23))
    c = clock_of(db, iid, "scheme_reply")
    assert c.deadline_at == at(2026, 4, 30, 17)
    assert _timer_due(db, c.id, "overdue") == at(2026, 4, 30, 17)
    # two working hours after Thursday 17:00: not 19:00, not on the holiday, but 6 May 11:00
    assert _timer_due(db, c.id, "supervise") == at(2026, 5, 6, 11)
    assert _timer_due(db, c.id, "escalate") == at(2026, 5, 7, 11)  # 8 h of 6 May, then 2 h of 7 May
    timers.fire_due(db, at(2026, 5, 7, 11, 1))
    kinds = {(n["kind"], n["recipient_group"], n["requires_ack"]) for n in notices.list_notices(db, open_only=False)
             if n["clock_id"] == c.id}
    assert {("催办", "lead", False), ("督办", "supervisor", True), ("升级", "admin", True)} <= kinds


def test_a_limit_in_working_hours(db, clock, sla_model):
    content = _content(db)
    for rule in content["rules"]:
        if rule["sla_key"] == "scheme_reply":
            rule["workdays"], rule["hours"] = None, 6
    rule_versions.save_version(db, "test_rules", content, actor="admin", reason="按小时")
    rule_versions.activate_version(db, "test_rules", actor="admin")
    iid = start_case(db, clock, at(2026, 3, 6, 15))  # Friday 15:00: 2 h today, 4 h on Monday
    assert clock_of(db, iid, "scheme_reply").deadline_at == at(2026, 3, 9, 13)


def test_every_change_is_on_the_rule_chain_and_tampering_shows(db, clock, sla_model):
    rule_versions.save_version(db, "test_rules", _with_limit(_content(db), "scheme_reply", 4), actor="admin",
                               reason="收紧")
    rule_versions.activate_version(db, "test_rules", 2, actor="admin", reason="执行")
    with db.read() as conn:
        rows = conn.execute(select(rule_audit_t).order_by(rule_audit_t.c.seq)).all()
    assert [(r.type, r.actor) for r in rows][-2:] == [("rule_version_saved", "admin"),
                                                       ("rule_version_activated", "admin")]
    assert '"reason":"收紧"' in rows[-2].payload and audit.verify_rules(db).ok
    with db.write() as conn:
        conn.execute(update(rule_audit_t).where(rule_audit_t.c.seq == rows[-2].seq)
                     .values(payload=rows[-2].payload.replace("收紧", "放宽")))
    report = audit.verify_rules(db)
    assert not report.ok and report.first_bad_seq == rows[-2].seq


@pytest.mark.parametrize("change, field", [
    (lambda c: c["rules"][0].update(workdays=-3), "rules.0.workdays"),
    (lambda c: c["rules"][0].update(workdays=0), "rules.0.workdays"),
    (lambda c: c["rules"][0].update(workdays="5"), "rules.0.workdays"),
    (lambda c: c["rules"][0].update(sla_key="no_such_step"), "rules.0.sla_key"),
    (lambda c: c["rules"][0].update(business_type="<script>"), "rules.0.business_type"),
    (lambda c: c.update(warnings=[50, 150]), "warnings.1"),
    (lambda c: c.update(warnings=[-1]), "warnings.0"),
    (lambda c: c.update(escalation=[]), "escalation"),
    (lambda c: c["escalation"][0].update(recipient="nobody"), "escalation.0.recipient"),
    (lambda c: c["escalation"][1].update(delay_hours=-2), "escalation.1.delay_hours"),
    (lambda c: c.update(rules=[]), "rules"),
    (lambda c: c.update(title=""), "title"),
])
def test_bad_rule_sets_are_refused_with_the_field(db, clock, sla_model, change, field):
    content = _content(db)
    change(content)
    with pytest.raises(rule_sets.RuleError) as err:
        rule_versions.save_version(db, "test_rules", content, actor="admin", reason="坏数据")
    assert field in err.value.details
    assert rule_versions.versions_of(db, "test_rules")[0]["version"] == 1  # nothing saved


def test_a_change_needs_a_reason_and_copy_makes_a_new_set(db, clock, sla_model):
    with pytest.raises(rule_sets.RuleError, match="why"):
        rule_versions.save_version(db, "test_rules", _content(db), actor="admin", reason="  ")
    rule_versions.copy_rule_set(db, "test_rules", "province_x", actor="admin", reason="省公司版本", title="某省")
    copied = rule_versions.get_version(db, "province_x")
    assert copied["version"] == 1 and copied["content"]["title"] == "某省" and not copied["active"]
    with pytest.raises(rule_sets.RuleError):
        rule_versions.copy_rule_set(db, "test_rules", "province_x", actor="admin", reason="again")
    with pytest.raises(rule_sets.RuleError):
        rule_versions.copy_rule_set(db, "test_rules", "Bad Name!", actor="admin", reason="x")


def test_two_admins_saving_at_once_never_share_a_version(db, clock, sla_model):
    import threading

    from engine.core.errors import Conflict

    results: list[object] = []
    start = threading.Barrier(4)

    def save(n: int) -> None:
        start.wait()
        try:
            results.append(rule_versions.save_version(db, "test_rules", _with_limit(_content(db), "scheme_reply", n),
                                                      actor=f"admin{n}", reason="并发"))
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(2, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    saved = [r for r in results if isinstance(r, int)]
    assert saved and len(saved) == len(set(saved)) and len(results) == 4
    assert sorted(v["version"] for v in rule_versions.versions_of(db, "test_rules")) == [1, *sorted(saved)]
    assert audit.verify_rules(db).ok
