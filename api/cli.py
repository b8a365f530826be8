"""The `yekuo` command line: operators' and developers' entry point (DESIGN §5).

Every command prints one clear line per result; an error is one line on stderr and a non-zero exit,
never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

from engine import wiring
from engine.core import clock, config
from engine.core.db import Database
from engine.core.errors import DeployError, YekuoError


def _db(settings: config.Settings) -> Database:
    return Database(settings.database_url)


def cmd_init(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.core import schema, users
    from engine.deadlines import calendar_import as calendar

    db = _db(settings)
    schema.upgrade(db)
    added = users.seed_groups(db)
    calendar.seed_from_package(db)
    print(f"database ready at revision {schema.current_revision(db)} ({added} role group(s) added)")
    from engine.deadlines import rule_sets as sla

    loaded = sla.seed_rule_sets(db)
    if loaded:
        print(f"time-limit rule sets loaded: {', '.join(loaded)} (active: {sla.active_rules(db).name})")
    if args.demo:
        names = users.seed_demo_users(db, settings.demo_password)
        print(f"demo users: {', '.join(names)} (password from YEKUO_DEMO_PASSWORD)")
        _demo_teams(db)
    return 0


def cmd_deploy(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.core import definitions

    results = definitions.deploy_paths(_db(settings), [Path(p) for p in args.paths],
                                       forms_dir=Path(args.forms or settings.forms_dir),
                                       actor=args.by, note=args.note, max_bytes=settings.max_bpmn_bytes)
    for r in results:
        print(f"{r.key} {r.version}{'' if r.created else ' (unchanged)'}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: config.Settings) -> int:
    """A production WSGI server (waitress, threads) with the scheduler in-process; for more
    processes run gunicorn on `api.app:create_app()` and `yekuo scheduler` separately."""
    import waitress

    from api.app import create_app

    app = create_app(settings, start_scheduler=not args.no_scheduler)
    print(f"Yekuo serving on http://{args.host}:{args.port}", flush=True)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="Yekuo")
    return 0


def cmd_scheduler(args: argparse.Namespace, settings: config.Settings) -> int:
    from api import security
    from engine import scheduler

    security.require_secret(settings)  # a production process: same rule as the server
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    print("Yekuo scheduler running; Ctrl-C stops it", flush=True)
    try:
        scheduler.build(_db(settings), interval=settings.scheduler_interval, blocking=True).start()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


def cmd_fire_due(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.core import timers

    now = _parse_instant(args.now) if args.now else None
    report = timers.fire_due(_db(settings), now)
    print(report)
    return 1 if report.failed else 0


def cmd_audit_verify(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.audit import chains as audit

    reports = audit.verify(_db(settings), args.instance)
    bad = [r for r in reports if not r.ok]
    for r in bad:
        print(f"TAMPERED {r}", file=sys.stderr)
    print(f"{len(reports)} chain(s) checked, {len(bad)} broken")
    anchored_ok = True
    if args.anchor:
        from engine.audit import anchor

        result = anchor.check(_db(settings), anchor.load(Path(args.anchor)), settings.anchor_key.encode())
        for problem in result.problems:
            print(f"ANCHOR {problem}", file=sys.stderr)
        print(result)
        anchored_ok = result.ok
    return 1 if bad or not anchored_ok else 0


def cmd_audit_anchor(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.audit import anchor

    doc = anchor.create(_db(settings), settings.anchor_key.encode())
    path = anchor.write(doc, Path(args.out) if args.out else settings.anchor_dir)
    print(f"anchored {doc['instances']} chain head(s) in {path}")
    return 0


def cmd_audit_replay(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.audit import replay

    report = replay.replay(_db(settings), args.instance)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        print(report)
    return 0 if report.ok else 1


def cmd_sla_show(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.deadlines import sla

    db = _db(settings)
    for c in sla.clocks_of(db, args.instance):
        local = c.deadline_at.astimezone(clock.CHINA).strftime("%Y-%m-%d %H:%M")
        flag = " (provisional)" if c.provisional else ""
        print(f"{c.id}\t{c.scope}\t{c.sla_key}\t{c.limit_workdays} 工作日\t{local}{flag}\t{c.status}")
    verdict = sla.on_time(db, args.instance)
    print("on time: " + ("open" if verdict is None else ("yes" if verdict else "no")))
    return 0


def cmd_sla_pause(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.deadlines import sla

    n = sla.pause(_db(settings), args.instance, reason=args.reason, actor=args.by, note=args.note)
    print(f"{n} clock(s) paused")
    return 0


def cmd_sla_resume(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.deadlines import sla

    n = sla.resume(_db(settings), args.instance, actor=args.by)
    print(f"{n} clock(s) resumed")
    return 0


def cmd_sla_recompute(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.deadlines import sla

    n = sla.recompute(_db(settings), instance_ids=args.instances or None, actor="cli")
    print(f"{n} deadline(s) moved")
    return 0


def cmd_versions_diff(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.modeling import migration

    diff = migration.diff_versions(_db(settings), args.key, args.from_version, args.to_version)
    for c in diff.changes:
        extra = f" ({', '.join(c.fields)})" if c.fields else ""
        print(f"{c.change:8} {c.process}/{c.element} {c.name}{extra}")
    print("running: " + ", ".join(f"v{v}: {n}" for v, n in sorted(diff.running.items())))
    return 0


def cmd_migrate_check(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.modeling import migration

    for r in migration.check(_db(settings), args.instances, args.to):
        verdict = "can move" if r.can_migrate else "cannot move: " + "; ".join(r.reasons)
        print(f"instance {r.instance_id} v{r.from_version} -> v{r.to_version}: {verdict}")
    return 0


def cmd_migrate_run(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.modeling import migration

    db, failed = _db(settings), 0
    for r in migration.check(db, args.instances, args.to):
        if not r.can_migrate:
            failed += 1
            print(f"instance {r.instance_id} stays on v{r.from_version}: " + "; ".join(r.reasons), file=sys.stderr)
            continue
        migration.migrate(db, r.instance_id, r.to_version, actor=args.by, note=args.note)
        print(f"instance {r.instance_id} moved v{r.from_version} -> v{r.to_version}")
    return 1 if failed else 0


def cmd_migrate_revert(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.modeling import migration

    migration.revert(_db(settings), args.instance, actor=args.by)
    print(f"instance {args.instance} reverted")
    return 0


def cmd_rules_load(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.deadlines import rule_sets as sla

    name = sla.load_rule_set(_db(settings), Path(args.file), actor="cli", activate=args.activate)
    print(f"rule set {name} loaded" + (" and active" if args.activate else ""))
    return 0


def cmd_rules_activate(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.deadlines import rule_sets as sla

    sla.activate_rule_set(_db(settings), args.name)
    print(f"rule set {args.name} is active")
    return 0


def cmd_start(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.core import runtime

    out = runtime.start_instance(_db(settings), args.key, _json_arg(args.data),
                                 business_key=args.business_key)
    print(f"instance {out.instance_id} {out.status}")
    return 0


def cmd_show(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.core import queries

    inst = queries.get_instance(_db(settings), args.instance)
    print(json.dumps({"id": inst.id, "key": inst.key, "version": inst.definition_version,
                      "status": inst.status, "business_key": inst.business_key, "error": inst.error,
                      "open_tasks": [{"id": i.id, "name": i.name, "group": i.candidate_group,
                                      "assignee": i.assignee} for i in inst.open_items],
                      "data": inst.data}, ensure_ascii=False, indent=2, default=str))
    return 0


def cmd_retry(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.core import runtime

    out = runtime.retry(_db(settings), args.instance, actor=runtime.Actor(args.by, system=True))
    print(f"instance {out.instance_id} {out.status}")
    return 0


def cmd_outbox_deliver(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.messages import outbox, sinks

    now = _parse_instant(args.now) if args.now else None
    report = outbox.deliver_due(_db(settings), now, sink=sinks.from_settings(settings),
                                policy=outbox.RetryPolicy.from_settings(settings),
                                batch=args.batch or settings.outbox_batch)
    print(report)
    return 1 if report.failed else 0


def cmd_outbox_list(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.messages import outbox

    messages = outbox.list_messages(_db(settings), args.status, instance_id=args.instance, limit=args.limit)
    if args.json:
        print(json.dumps([m.__dict__ for m in messages], ensure_ascii=False, indent=2, default=str))
        return 0
    for m in messages:
        when = f"sent={m.sent_at.isoformat()}" if m.sent_at else f"next={m.next_attempt_at.isoformat()}"
        error = f"  error: {m.last_error}" if m.last_error and m.status != "sent" else ""
        print(f"#{m.id} {m.status} attempts={m.attempts} {m.channel}->{m.recipient} "
              f"{m.template or '-'} {when} key={m.idempotency_key}{error}")
    print(f"{len(messages)} message(s)")
    return 0


def cmd_outbox_retry(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.messages import outbox

    if not args.ids and not args.all:
        raise YekuoError("name the message ids to retry, or --all for every failed message")
    count = outbox.retry_failed(_db(settings), None if args.all else args.ids)
    print(f"{count} failed message(s) queued again")
    return 0


def cmd_outbox_templates(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.messages import templates

    active = templates.reload(args.file or settings.templates_file)
    for t in active.templates.values():
        print(f"{t.id} {t.channel} {t.title} fields: {', '.join(t.fields)}")
    print(f"{len(active.templates)} template(s) valid; SMS signature {active.sms_signature!r}")
    return 0


def cmd_workdays_add(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.deadlines import calendar

    start = _parse_date(args.date)
    result = calendar.add_workdays(_db(settings), start, args.n, fallback=args.fallback or settings.calendar_fallback)
    print(result.date.isoformat())
    if result.provisional:
        years = ", ".join(map(str, result.fallback_years))
        print(f"warning: provisional, no official working-day calendar for {years}: counted Monday–Friday",
              file=sys.stderr)
    return 0


def cmd_calendar_import(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.deadlines import calendar_import as calendar

    try:
        report = calendar.import_year(_db(settings), Path(args.file), actor=args.by)
    except calendar.CalendarImportError as err:
        print(f"error: {err.message}", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(report)
    for problem in report.hook_errors:
        print(f"warning: after-import hook failed: {problem}", file=sys.stderr)
    return 0


def cmd_calendar_export(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.deadlines import calendar

    sys.stdout.write(calendar.export_csv(_db(settings), args.year))
    return 0

def cmd_calendar_status(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.deadlines import calendar

    loaded = calendar.years(_db(settings))
    for y in loaded:
        when = y.imported_at.strftime("%Y-%m-%d %H:%M") if y.imported_at else "-"
        print(f"{y.year}  {y.days} days  {y.workdays} working  {y.holidays} holidays  "
              f"{y.adjusted_workdays} adjusted  source: {y.source}  ({when} by {y.imported_by})"
              + ("" if y.complete else "  INCOMPLETE"))
    span = f"{loaded[0].year}–{loaded[-1].year}" if loaded else "none"
    print(f"{len(loaded)} year(s) loaded ({span}); other years: "
          + ("counted Monday–Friday, provisionally" if settings.calendar_fallback else "refused")
          + " (YEKUO_CALENDAR_FALLBACK)")
    next_year = calendar.business_date(clock.now()).year + 1
    if next_year not in {y.year for y in loaded}:
        print(f"warning: {next_year} is not loaded; import it with `yekuo calendar import FILE`", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------
# the dispatch centre: teams, capacity, dispatch lists, appointments, the works list


def _demo_teams(db: Database) -> None:
    from engine.dispatch import teams

    added = teams.seed_demo(db)
    print(f"demo teams: {', '.join(added) if added else 'already there'}")


def _today(text: str | None) -> dt.date:
    return _parse_date(text) if text else clock.now().astimezone(clock.CHINA).date()


def cmd_teams_list(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import teams

    found = teams.list_teams(_db(settings), area=args.area, active_only=not args.all)
    for t in found:
        members = ", ".join(f"{m.name}{'（班组长）' if m.role == 'lead' else ''} {m.mobile}"
                            + (f" @{m.username}" if m.username else "") for m in t.members if m.active)
        print(f"{t.code}\t{t.name}\t{t.area_text}{'' if t.active else '（停用）'}\t{members or '—'}")
    print(f"{len(found)} team(s)")
    return 0


def cmd_teams_add(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import teams

    t = teams.create_team(_db(settings), args.code, args.name, args.area, actor=args.by)
    print(f"team {t.code} {t.name} ({t.area_text}) added")
    return 0


def cmd_teams_member(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import teams

    m = teams.add_member(_db(settings), args.team, args.name, args.mobile, role="lead" if args.lead else "worker",
                         username=args.user)
    print(f"{args.team}: {m.name} {m.mobile} ({teams.ROLES[m.role]})")
    return 0


def cmd_teams_remove_member(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import teams

    teams.remove_member(_db(settings), args.team, args.name)
    print(f"{args.team}: {args.name} deactivated")
    return 0


def _week_numbers(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError:
        raise YekuoError(f"not a list of numbers: {text!r} (e.g. 8,8,8,8,8,2,0 for Monday to Sunday)") from None
    if len(values) == 1:
        values = values * 5 + [0, 0]
    return values


def cmd_capacity_report(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import capacity

    plan = {jt: _week_numbers(getattr(args, jt)) for jt in capacity.JOB_TYPES if getattr(args, jt) is not None}
    if not plan:
        raise YekuoError("give at least one of --survey, --install, --verify")
    versions = capacity.report_week(_db(settings), args.team, _today(args.week), plan, actor=args.by, note=args.note)
    monday = capacity.week_of(_today(args.week))
    print(f"{args.team} week of {monday}: " + ", ".join(f"{jt} v{v} {plan[jt]}" for jt, v in versions.items()))
    return 0


def cmd_capacity_adjust(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import capacity

    version = capacity.adjust_day(_db(settings), args.team, _parse_date(args.date), args.job_type, args.capacity,
                                  actor=args.by, note=args.note)
    print(f"{args.team} {args.date} {args.job_type}: {args.capacity} (v{version})")
    return 0


def cmd_capacity_show(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import capacity

    rows = capacity.board(_db(settings), _today(args.date), args.days, area=args.area, team=args.team,
                          job_type=args.job_type)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        if r.capacity or r.booked:
            print(f"{r.day}\t{r.team}\t{r.job_type}\tcapacity {r.capacity}\tbooked {r.booked}\tremaining {r.remaining}")
    return 0


def cmd_capacity_history(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import capacity

    for h in capacity.history(_db(settings), args.team, job_type=args.job_type):
        print(f"{h['reported_at']:%Y-%m-%d %H:%M} {h['reported_by']}\t{h['job_type']}\t{h['kind']} {h['day']} "
              f"v{h['version']}\t{h['days']}\t{h['note']}")
    return 0


def cmd_dispatch_list(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import booking
    from engine.dispatch import lists as dispatch

    db, day = _db(settings), _today(args.date)
    if args.csv:
        sys.stdout.write(dispatch.export_csv(db, day, slot=args.slot, team=args.team, bom=args.bom))
        return 0
    found = dispatch.lists(db, day, slot=args.slot, team=args.team, area=args.area)
    for lst in found:
        print(f"{lst.team_name}（{lst.team}）{lst.day} {dispatch.SLOTS[lst.slot]}派工单，"
              f"{lst.generated_at.astimezone(clock.CHINA):%H:%M} 生成，{len(lst.entries)} 项")
        for n, e in enumerate(lst.entries, 1):
            a = e.appointment
            planned = f" 计划{a.planned_at.astimezone(clock.CHINA):%H:%M}" if a.planned_at else ""
            print(f"  {a.route_seq or n:>2}. {a.job_no} {a.job_type} {a.customer_name or '—'} {a.address or '—'} "
                  f"{' '.join(a.texts)} {dispatch.STATUS_TEXT.get(a.status, a.status)}"
                  f"{' ' + a.worker_name if a.worker_name else ''}{planned}{' （补派）' if e.late else ''}")
    if not found:
        print(f"no dispatch lists for {day}" + (f" ({args.slot})" if args.slot else ""))
    return 0


def cmd_dispatch_generate(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import lists as dispatch

    db = _db(settings)
    if args.slot:
        made = dispatch.generate(db, _today(args.date), args.slot, worker="cli")
    else:
        made = dispatch.generate_due(db, _parse_instant(args.now) if args.now else None, am_at=settings.dispatch_am_at,
                                     pm_at=settings.dispatch_pm_at, worker="cli")
    for lst in made:
        print(f"{lst.team} {lst.day} {lst.slot}: {len(lst.entries)} job(s)")
    print(f"{len(made)} list(s)")
    return 0


def cmd_dispatch_assign(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.core import runtime
    from engine.dispatch import lists as dispatch

    actor = runtime.Actor(args.by, frozenset({"lead"}))
    a = dispatch.assign(_db(settings), args.job_no, args.worker, actor=actor,
                        planned_at=_parse_instant(args.at) if args.at else None, route_seq=args.seq)
    when = a.planned_at.astimezone(clock.CHINA) if a.planned_at else None
    print(f"{a.job_no}: {a.worker_name} {a.worker_mobile}" + (f" at {when:%Y-%m-%d %H:%M}" if when else ""))
    return 0


def cmd_appointments_list(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import appointments as booking

    found = booking.list_appointments(_db(settings), day=_parse_date(args.date) if args.date else None, team=args.team,
                                      status=args.status, instance_id=args.instance)
    if args.json:
        print(json.dumps([a.to_dict() for a in found], ensure_ascii=False, indent=2, default=str))
        return 0
    for a in found:
        print(f"{a.job_no}\t#{a.instance_id}\t{a.job_type}\t{booking.MODES[a.mode]}\t{a.team}\t{a.day} {a.slot}\t"
              f"{' '.join(a.texts)}\t{a.status}")
    print(f"{len(found)} appointment(s)")
    return 0


def cmd_appointments_reschedule(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import rescheduling as booking

    changes = {"mode": args.mode, "date": args.date, "period": args.period, "within_hours": args.hours,
               "team": args.team}
    a = booking.reschedule(_db(settings), args.job_no, changes, actor=args.by, reason=args.reason)
    print(f"{a.job_no}: {a.team} {a.day} {a.slot} {' '.join(a.texts)}")
    return 0


def cmd_appointments_cancel(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import rescheduling as booking

    a = booking.cancel(_db(settings), args.job_no, actor=args.by, reason=args.reason)
    print(f"{a.job_no}: {a.status}")
    return 0


def cmd_works_list(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import works

    found = works.entries(_db(settings), status=None if args.all else "open",
                          due_by=_parse_date(args.due) if args.due else None)
    for e in found:
        print(f"{e.id}\t#{e.instance_id}\t{e.application_no or '—'}\t{e.customer_name or '—'}\t{works.KINDS[e.kind]}\t"
              f"{works.STATUSES[e.status]}\tnext {e.next_follow_up or '—'}")
    print(f"{len(found)} entr{'y' if len(found) == 1 else 'ies'}")
    return 0


def cmd_works_sync(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import works

    print(works.sync(_db(settings), interval_days=settings.works_follow_up_days, actor="cli"))
    return 0


def cmd_works_follow_up(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.dispatch import works

    e = works.record_follow_up(_db(settings), args.entry, status=args.status, note=args.note, actor=args.by,
                               next_follow_up=_parse_date(args.next) if args.next else None)
    print(f"{e.id}: {works.STATUSES[e.status]}, next {e.next_follow_up or '—'}")
    return 0


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise YekuoError(f"not a date: {text!r} (e.g. 2026-02-13)") from None


def _json_arg(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise YekuoError(f"--data is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise YekuoError("--data must be a JSON object")
    return value


def _parse_instant(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise YekuoError(f"not an ISO-8601 instant: {text!r} (e.g. 2026-03-01T09:00:00+08:00)") from None
    if value.tzinfo is None:
        raise YekuoError(f"{text!r} has no UTC offset; write e.g. {text}+08:00")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yekuo", description="Yekuo: the service-connection (业扩报装) process engine")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("init", help="create or upgrade the database schema")
    s.add_argument("--demo", action="store_true", help="also create one demo user per role")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("deploy", help="validate and deploy BPMN/DMN files or directories")
    s.add_argument("paths", nargs="+")
    s.add_argument("--forms", help="forms directory (default: forms/)")
    s.add_argument("--note", default="", help="why this version")
    s.add_argument("--by", default="cli", help="who deploys")
    s.set_defaults(func=cmd_deploy)

    s = sub.add_parser("serve", help="serve the web app with the scheduler in-process")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--no-scheduler", action="store_true")
    s.add_argument("--threads", type=int, default=8, help="request threads (default 8)")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("scheduler", help="run the scheduler as its own process")
    s.set_defaults(func=cmd_scheduler)

    timers = sub.add_parser("timers", help="timer operations").add_subparsers(dest="timers_cmd", required=True)
    s = timers.add_parser("fire-due", help="fire everything due at an instant, then exit")
    s.add_argument("--now", help="ISO-8601 instant with offset (default: now)")
    s.set_defaults(func=cmd_fire_due)

    audit = sub.add_parser("audit", help="history checks").add_subparsers(dest="audit_cmd", required=True)
    s = audit.add_parser("verify", help="check hash chains; exit 1 on tampering")
    s.add_argument("instance", nargs="?", type=int)
    s.add_argument("--anchor", help="also check the chain heads recorded in this anchor file")
    s.set_defaults(func=cmd_audit_verify)
    s = audit.add_parser("anchor", help="write a signed digest of every chain head (needs YEKUO_ANCHOR_KEY)")
    s.add_argument("--out", help="directory (default YEKUO_ANCHOR_DIR, instance/anchors)")
    s.set_defaults(func=cmd_audit_anchor)
    s = audit.add_parser("replay", help="re-run an instance from its history; exit 1 on divergence")
    s.add_argument("instance", type=int)
    s.add_argument("--json", action="store_true", help="print the full report as JSON")
    s.set_defaults(func=cmd_audit_replay)

    slas = sub.add_parser("sla", help="deadlines of a case").add_subparsers(dest="sla_cmd", required=True)
    s = slas.add_parser("show", help="the SLA clocks of an instance")
    s.add_argument("instance", type=int)
    s.set_defaults(func=cmd_sla_show)
    s = slas.add_parser("pause", help="stop the clocks for customer-caused waiting")
    s.add_argument("instance", type=int)
    s.add_argument("--reason", required=True, help="customer_documents | customer_works | customer_design")
    s.add_argument("--note", default="")
    s.add_argument("--by", default="operator")
    s.set_defaults(func=cmd_sla_pause)
    s = slas.add_parser("resume", help="restart paused clocks (deadlines move by the days paused)")
    s.add_argument("instance", type=int)
    s.add_argument("--by", default="operator")
    s.set_defaults(func=cmd_sla_resume)
    s = slas.add_parser("recompute", help="recompute running deadlines from the current rules")
    s.add_argument("instances", nargs="*", type=int)
    s.set_defaults(func=cmd_sla_recompute)

    versions = sub.add_parser("versions", help="process versions").add_subparsers(dest="ver_cmd", required=True)
    s = versions.add_parser("diff", help="elements added, removed and changed between two versions")
    s.add_argument("key")
    s.add_argument("from_version", type=int)
    s.add_argument("to_version", type=int)
    s.set_defaults(func=cmd_versions_diff)
    mig = sub.add_parser("migrate", help="move running cases to another version").add_subparsers(
        dest="mig_cmd", required=True)
    s = mig.add_parser("check", help="dry run: which cases can move, and why not")
    s.add_argument("instances", nargs="+", type=int)
    s.add_argument("--to", type=int, help="target version (default: latest)")
    s.set_defaults(func=cmd_migrate_check)
    s = mig.add_parser("run", help="move the cases that can move")
    s.add_argument("instances", nargs="+", type=int)
    s.add_argument("--to", type=int)
    s.add_argument("--by", default="analyst")
    s.add_argument("--note", default="")
    s.set_defaults(func=cmd_migrate_run)
    s = mig.add_parser("revert", help="undo a migration while nothing has happened since")
    s.add_argument("instance", type=int)
    s.add_argument("--by", default="analyst")
    s.set_defaults(func=cmd_migrate_revert)

    rules = sub.add_parser("rules", help="time-limit rule sets").add_subparsers(dest="rules_cmd", required=True)
    s = rules.add_parser("load", help="load or replace a rule set from a JSON file")
    s.add_argument("file")
    s.add_argument("--activate", action="store_true")
    s.set_defaults(func=cmd_rules_load)
    s = rules.add_parser("activate", help="make a rule set the one new deadlines use")
    s.add_argument("name")
    s.set_defaults(func=cmd_rules_activate)

    box = sub.add_parser("outbox", help="outgoing notifications").add_subparsers(dest="outbox_cmd", required=True)
    s = box.add_parser("deliver", help="deliver every due message once, then exit")
    s.add_argument("--now", help="ISO-8601 instant with offset (default: now)")
    s.add_argument("--batch", type=int, help="messages claimed at a time (default: YEKUO_OUTBOX_BATCH)")
    s.set_defaults(func=cmd_outbox_deliver)
    s = box.add_parser("list", help="list messages, newest first")
    s.add_argument("--status", choices=["pending", "sent", "failed"])
    s.add_argument("--instance", type=int)
    s.add_argument("--limit", type=int, default=100)
    s.add_argument("--json", action="store_true", help="full rows as JSON")
    s.set_defaults(func=cmd_outbox_list)
    s = box.add_parser("retry", help="queue failed messages again")
    s.add_argument("ids", nargs="*", type=int)
    s.add_argument("--all", action="store_true", help="every failed message")
    s.set_defaults(func=cmd_outbox_retry)
    s = box.add_parser("templates", help="check and list the message templates")
    s.add_argument("--file", help="check this template file (default: YEKUO_TEMPLATES_FILE)")
    s.set_defaults(func=cmd_outbox_templates)

    wd = sub.add_parser("workdays", help="working-day arithmetic").add_subparsers(dest="workdays_cmd", required=True)
    s = wd.add_parser("add", help="print the N-th working day after DATE (start day excluded)")
    s.add_argument("date", help="YYYY-MM-DD")
    s.add_argument("n", type=int)
    s.add_argument("--fallback", action="store_true", default=None,
                   help="count a year without official calendar Monday–Friday (provisional)")
    s.set_defaults(func=cmd_workdays_add)

    cal = sub.add_parser("calendar", help="the working-day calendar").add_subparsers(dest="calendar_cmd", required=True)
    s = cal.add_parser("import", help="import (or replace) one year from a CSV or JSON file")
    s.add_argument("file")
    s.add_argument("--by", default="cli", help="who imports")
    s.set_defaults(func=cmd_calendar_import)
    s = cal.add_parser("status", help="years loaded, their source and counts")
    s.set_defaults(func=cmd_calendar_status)
    s = cal.add_parser("export", help="print one year in the import format (a start for next year's file)")
    s.add_argument("year", type=int)
    s.set_defaults(func=cmd_calendar_export)

    inst = sub.add_parser("instances", help="process instances").add_subparsers(dest="inst_cmd", required=True)
    s = inst.add_parser("start", help="start an instance of a deployed process")
    s.add_argument("key")
    s.add_argument("--data", help="start data as a JSON object")
    s.add_argument("--business-key")
    s.set_defaults(func=cmd_start)
    s = inst.add_parser("show", help="show an instance")
    s.add_argument("instance", type=int)
    s.set_defaults(func=cmd_show)
    s = inst.add_parser("retry", help="retry an instance in error")
    s.add_argument("instance", type=int)
    s.add_argument("--by", default="operator")
    s.set_defaults(func=cmd_retry)

    tm = sub.add_parser("teams", help="field teams (班所)").add_subparsers(dest="teams_cmd", required=True)
    s = tm.add_parser("list", help="teams with their members")
    s.add_argument("--area", choices=["urban", "rural"])
    s.add_argument("--all", action="store_true", help="inactive teams too")
    s.set_defaults(func=cmd_teams_list)
    s = tm.add_parser("add", help="add a team")
    s.add_argument("code")
    s.add_argument("name")
    s.add_argument("--area", required=True, choices=["urban", "rural"])
    s.add_argument("--by", default="cli")
    s.set_defaults(func=cmd_teams_add)
    s = tm.add_parser("member", help="add (or update) a member of a team")
    s.add_argument("team")
    s.add_argument("name")
    s.add_argument("mobile")
    s.add_argument("--lead", action="store_true", help="the team lead (班组长)")
    s.add_argument("--user", help="the member's user name, if any")
    s.set_defaults(func=cmd_teams_member)
    s = tm.add_parser("remove-member", help="deactivate a member")
    s.add_argument("team")
    s.add_argument("name")
    s.set_defaults(func=cmd_teams_remove_member)

    cap = sub.add_parser("capacity", help="teams' daily capacity (承载力)").add_subparsers(dest="cap_cmd", required=True)
    s = cap.add_parser("report", help="a team's weekly report: jobs per day, Monday to Sunday, per job type")
    s.add_argument("team")
    s.add_argument("--week", help="any date of the week (default: this week)")
    for jt in ("survey", "install", "verify"):
        s.add_argument(f"--{jt}", help="7 numbers Mon–Sun (8,8,8,8,8,2,0), or one for Mon–Fri")
    s.add_argument("--note", default="")
    s.add_argument("--by", default="cli")
    s.set_defaults(func=cmd_capacity_report)
    s = cap.add_parser("adjust", help="change one day's capacity for one job type")
    s.add_argument("team")
    s.add_argument("date")
    s.add_argument("job_type", choices=["survey", "install", "verify"])
    s.add_argument("capacity", type=int)
    s.add_argument("--note", default="")
    s.add_argument("--by", default="cli")
    s.set_defaults(func=cmd_capacity_adjust)
    s = cap.add_parser("show", help="capacity, booked and remaining per team, job type and day")
    s.add_argument("--date", help="first day (default: today)")
    s.add_argument("--days", type=int, default=7)
    s.add_argument("--area", choices=["urban", "rural"])
    s.add_argument("--team")
    s.add_argument("--type", dest="job_type", choices=["survey", "install", "verify"])
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_capacity_show)
    s = cap.add_parser("history", help="every capacity report of a team: who changed what, when")
    s.add_argument("team")
    s.add_argument("--type", dest="job_type", choices=["survey", "install", "verify"])
    s.set_defaults(func=cmd_capacity_history)

    dsp = sub.add_parser("dispatch", help="dispatch lists (派工单)").add_subparsers(dest="dispatch_cmd", required=True)
    s = dsp.add_parser("list", help="the day's dispatch lists in route order")
    s.add_argument("--date", help="default: today")
    s.add_argument("--slot", choices=["am", "pm"])
    s.add_argument("--team")
    s.add_argument("--area", choices=["urban", "rural"])
    s.add_argument("--csv", action="store_true", help="CSV instead of text")
    s.add_argument("--bom", action="store_true", help="with a UTF-8 BOM (for Excel)")
    s.set_defaults(func=cmd_dispatch_list)
    s = dsp.add_parser("generate", help="make the lists due now (or one day's morning/afternoon lists)")
    s.add_argument("--now", help="ISO-8601 instant with offset (default: now)")
    s.add_argument("--date", help="with --slot: that day's lists")
    s.add_argument("--slot", choices=["am", "pm"])
    s.set_defaults(func=cmd_dispatch_generate)
    s = dsp.add_parser("assign", help="assign a job to a team member (and a time)")
    s.add_argument("job_no")
    s.add_argument("worker")
    s.add_argument("--at", help="planned arrival, ISO-8601 with offset (default: by route order)")
    s.add_argument("--seq", type=int, help="place on the route")
    s.add_argument("--by", default="lead")
    s.set_defaults(func=cmd_dispatch_assign)

    ap = sub.add_parser("appointments", help="booked field jobs").add_subparsers(dest="appt_cmd", required=True)
    s = ap.add_parser("list", help="appointments")
    s.add_argument("--date")
    s.add_argument("--team")
    s.add_argument("--status", choices=["booked", "dispatched", "arrived", "completed", "cancelled"])
    s.add_argument("--instance", type=int)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_appointments_list)
    s = ap.add_parser("reschedule", help="move an appointment; the old day's capacity is released")
    s.add_argument("job_no")
    s.add_argument("--mode", choices=["fixed", "within", "by_date"])
    s.add_argument("--date")
    s.add_argument("--period", choices=["am", "pm"])
    s.add_argument("--hours", type=int)
    s.add_argument("--team")
    s.add_argument("--reason", default="")
    s.add_argument("--by", default="dispatcher")
    s.set_defaults(func=cmd_appointments_reschedule)
    s = ap.add_parser("cancel", help="cancel a booked appointment (not yet dispatched)")
    s.add_argument("job_no")
    s.add_argument("--reason", required=True)
    s.add_argument("--by", default="dispatcher")
    s.set_defaults(func=cmd_appointments_cancel)

    wk = sub.add_parser("works", help="the works tracking list (清册)").add_subparsers(dest="works_cmd", required=True)
    s = wk.add_parser("list", help="open entries by next follow-up date")
    s.add_argument("--all", action="store_true", help="done entries too")
    s.add_argument("--due", help="only entries to follow up by this date")
    s.set_defaults(func=cmd_works_list)
    s = wk.add_parser("sync", help="list cases waiting for works; close entries whose works are done")
    s.set_defaults(func=cmd_works_sync)
    s = wk.add_parser("follow-up", help="record a follow-up of an entry")
    s.add_argument("entry", type=int)
    s.add_argument("--status", required=True, choices=["planned", "in_progress", "stalled", "done"])
    s.add_argument("--note", required=True)
    s.add_argument("--next", help="next follow-up date (default: the entry's interval from today)")
    s.add_argument("--by", default="manager")
    s.set_defaults(func=cmd_works_follow_up)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = config.from_env()
    wiring.install()
    try:
        return args.func(args, settings)
    except DeployError as err:
        print(f"error: {err.message}", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except YekuoError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # the one place that turns surprises into a clean line
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
