"""The dispatch centre's commands: `yekuo teams`, `capacity`, `dispatch`, `appointments`, `works`."""

from __future__ import annotations

import argparse
import sys

from api import policy
from api.cli.common import Context, Subparsers, optional_date, optional_instant, parse_date, print_json, today
from engine.core import clock
from engine.core.errors import YekuoError

AREAS = ["urban", "rural"]
JOB_TYPES = ["survey", "install", "verify"]


def add_parsers(sub: Subparsers) -> None:
    _add_teams(sub)
    _add_capacity(sub)
    _add_dispatch(sub)
    _add_appointments(sub)
    _add_works(sub)


def _add_teams(sub: Subparsers) -> None:
    tm = sub.add_parser("teams", help="field teams (班所)").add_subparsers(dest="teams_cmd", required=True)
    s = tm.add_parser("list", help="teams with their members")
    s.add_argument("--area", choices=AREAS)
    s.add_argument("--all", action="store_true", help="inactive teams too")
    s.set_defaults(func=cmd_teams_list)
    s = tm.add_parser("add", help="add a team")
    s.add_argument("code")
    s.add_argument("name")
    s.add_argument("--area", required=True, choices=AREAS)
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


def _add_capacity(sub: Subparsers) -> None:
    cap = sub.add_parser("capacity", help="teams' daily capacity (承载力)").add_subparsers(dest="cap_cmd", required=True)
    s = cap.add_parser("report", help="a team's weekly report: jobs per day, Monday to Sunday, per job type")
    s.add_argument("team")
    s.add_argument("--week", help="any date of the week (default: this week)")
    for jt in JOB_TYPES:
        s.add_argument(f"--{jt}", help="7 numbers Mon–Sun (8,8,8,8,8,2,0), or one for Mon–Fri")
    s.add_argument("--note", default="")
    s.add_argument("--by", default="cli")
    s.set_defaults(func=cmd_capacity_report)
    s = cap.add_parser("adjust", help="change one day's capacity for one job type")
    s.add_argument("team")
    s.add_argument("date")
    s.add_argument("job_type", choices=JOB_TYPES)
    s.add_argument("capacity", type=int)
    s.add_argument("--note", default="")
    s.add_argument("--by", default="cli")
    s.set_defaults(func=cmd_capacity_adjust)
    s = cap.add_parser("show", help="capacity, booked and remaining per team, job type and day")
    s.add_argument("--date", help="first day (default: today)")
    s.add_argument("--days", type=int, default=7)
    s.add_argument("--area", choices=AREAS)
    s.add_argument("--team")
    s.add_argument("--type", dest="job_type", choices=JOB_TYPES)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_capacity_show)
    s = cap.add_parser("history", help="every capacity report of a team: who changed what, when")
    s.add_argument("team")
    s.add_argument("--type", dest="job_type", choices=JOB_TYPES)
    s.set_defaults(func=cmd_capacity_history)


def _add_dispatch(sub: Subparsers) -> None:
    dsp = sub.add_parser("dispatch", help="dispatch lists (派工单)").add_subparsers(dest="dispatch_cmd", required=True)
    s = dsp.add_parser("list", help="the day's dispatch lists in route order")
    s.add_argument("--date", help="default: today")
    s.add_argument("--slot", choices=["am", "pm"])
    s.add_argument("--team")
    s.add_argument("--area", choices=AREAS)
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


def _add_appointments(sub: Subparsers) -> None:
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


def _add_works(sub: Subparsers) -> None:
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


# ---------------------------------------------------------------------------------------------
# teams and capacity


def cmd_teams_list(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import teams

    found = teams.list_teams(ctx.db, area=args.area, active_only=not args.all)
    for t in found:
        members = ", ".join(f"{m.name}{'（班组长）' if m.role == 'lead' else ''} {m.mobile}"
                            + (f" @{m.username}" if m.username else "") for m in t.members if m.active)
        print(f"{t.code}\t{t.name}\t{t.area_text}{'' if t.active else '（停用）'}\t{members or '—'}")
    print(f"{len(found)} team(s)")
    return 0


def cmd_teams_add(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import teams

    t = teams.create_team(ctx.db, args.code, args.name, args.area, actor=args.by)
    print(f"team {t.code} {t.name} ({t.area_text}) added")
    return 0


def cmd_teams_member(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import teams

    m = teams.add_member(ctx.db, args.team, args.name, args.mobile, role="lead" if args.lead else "worker",
                         username=args.user)
    print(f"{args.team}: {m.name} {m.mobile} ({teams.ROLES[m.role]})")
    return 0


def cmd_teams_remove_member(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import teams

    teams.remove_member(ctx.db, args.team, args.name)
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


def cmd_capacity_report(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import capacity

    plan = {jt: _week_numbers(getattr(args, jt)) for jt in capacity.JOB_TYPES if getattr(args, jt) is not None}
    if not plan:
        raise YekuoError("give at least one of --survey, --install, --verify")
    versions = capacity.report_week(ctx.db, args.team, today(args.week), plan, actor=args.by, note=args.note)
    monday = capacity.week_of(today(args.week))
    print(f"{args.team} week of {monday}: " + ", ".join(f"{jt} v{v} {plan[jt]}" for jt, v in versions.items()))
    return 0


def cmd_capacity_adjust(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import capacity

    version = capacity.adjust_day(ctx.db, args.team, parse_date(args.date), args.job_type, args.capacity,
                                  actor=args.by, note=args.note)
    print(f"{args.team} {args.date} {args.job_type}: {args.capacity} (v{version})")
    return 0


def cmd_capacity_show(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import capacity

    rows = capacity.board(ctx.db, today(args.date), args.days, area=args.area, team=args.team,
                          job_type=args.job_type)
    if args.json:
        print_json([r.to_dict() for r in rows])
        return 0
    for r in rows:
        if r.capacity or r.booked:
            print(f"{r.day}\t{r.team}\t{r.job_type}\tcapacity {r.capacity}\tbooked {r.booked}\tremaining {r.remaining}")
    return 0


def cmd_capacity_history(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import capacity

    for h in capacity.history(ctx.db, args.team, job_type=args.job_type):
        print(f"{h['reported_at']:%Y-%m-%d %H:%M} {h['reported_by']}\t{h['job_type']}\t{h['kind']} {h['day']} "
              f"v{h['version']}\t{h['days']}\t{h['note']}")
    return 0


# ---------------------------------------------------------------------------------------------
# dispatch lists and appointments


def cmd_dispatch_list(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import lists as dispatch

    day = today(args.date)
    if args.csv:
        sys.stdout.write(dispatch.export_csv(ctx.db, day, slot=args.slot, team=args.team, bom=args.bom))
        return 0
    found = dispatch.lists(ctx.db, day, slot=args.slot, team=args.team, area=args.area)
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


def cmd_dispatch_generate(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import lists as dispatch

    settings = ctx.settings
    if args.slot:
        made = dispatch.generate(ctx.db, today(args.date), args.slot, worker="cli")
    else:
        made = dispatch.generate_due(ctx.db, optional_instant(args.now), am_at=settings.dispatch_am_at,
                                     pm_at=settings.dispatch_pm_at, worker="cli")
    for lst in made:
        print(f"{lst.team} {lst.day} {lst.slot}: {len(lst.entries)} job(s)")
    print(f"{len(made)} list(s)")
    return 0


def cmd_dispatch_assign(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import lists as dispatch

    actor = policy.acting_as(args.by, "dispatch.lead")
    a = dispatch.assign(ctx.db, args.job_no, args.worker, actor=actor,
                        planned_at=optional_instant(args.at), route_seq=args.seq)
    when = a.planned_at.astimezone(clock.CHINA) if a.planned_at else None
    print(f"{a.job_no}: {a.worker_name} {a.worker_mobile}" + (f" at {when:%Y-%m-%d %H:%M}" if when else ""))
    return 0


def cmd_appointments_list(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import appointments

    found = appointments.list_appointments(ctx.db, day=optional_date(args.date), team=args.team,
                                      status=args.status, instance_id=args.instance)
    if args.json:
        print_json([a.to_dict() for a in found])
        return 0
    for a in found:
        print(f"{a.job_no}\t#{a.instance_id}\t{a.job_type}\t{appointments.MODES[a.mode]}\t{a.team}\t{a.day} {a.slot}\t"
              f"{' '.join(a.texts)}\t{a.status}")
    print(f"{len(found)} appointment(s)")
    return 0


def cmd_appointments_reschedule(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import rescheduling

    changes = {"mode": args.mode, "date": args.date, "period": args.period, "within_hours": args.hours,
               "team": args.team}
    a = rescheduling.reschedule(ctx.db, args.job_no, changes, actor=args.by, reason=args.reason)
    print(f"{a.job_no}: {a.team} {a.day} {a.slot} {' '.join(a.texts)}")
    return 0


def cmd_appointments_cancel(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import rescheduling

    a = rescheduling.cancel(ctx.db, args.job_no, actor=args.by, reason=args.reason)
    print(f"{a.job_no}: {a.status}")
    return 0


# ---------------------------------------------------------------------------------------------
# the works list


def cmd_works_list(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import works

    found = works.entries(ctx.db, status=None if args.all else "open", due_by=optional_date(args.due))
    for e in found:
        print(f"{e.id}\t#{e.instance_id}\t{e.application_no or '—'}\t{e.customer_name or '—'}\t{works.KINDS[e.kind]}\t"
              f"{works.STATUSES[e.status]}\tnext {e.next_follow_up or '—'}")
    print(f"{len(found)} entr{'y' if len(found) == 1 else 'ies'}")
    return 0


def cmd_works_sync(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import works

    print(works.sync(ctx.db, interval_days=ctx.settings.works_follow_up_days, actor="cli"))
    return 0


def cmd_works_follow_up(args: argparse.Namespace, ctx: Context) -> int:
    from engine.dispatch import works

    e = works.record_follow_up(ctx.db, args.entry, status=args.status, note=args.note, actor=args.by,
                               next_follow_up=optional_date(args.next))
    print(f"{e.id}: {works.STATUSES[e.status]}, next {e.next_follow_up or '—'}")
    return 0
