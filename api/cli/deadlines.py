"""`yekuo sla`, `rules`, `workdays` and `calendar`: deadlines, their rule sets and the working-day calendar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from api.cli.common import Context, Subparsers, parse_date
from engine.core import clock


def add_parsers(sub: Subparsers) -> None:
    _add_sla(sub)
    _add_rules(sub)
    _add_calendar(sub)


def _add_sla(sub: Subparsers) -> None:
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


def _add_rules(sub: Subparsers) -> None:
    rules = sub.add_parser("rules", help="time-limit rule sets").add_subparsers(dest="rules_cmd", required=True)
    s = rules.add_parser("load", help="load or replace a rule set from a JSON file")
    s.add_argument("file")
    s.add_argument("--activate", action="store_true")
    s.set_defaults(func=cmd_rules_load)
    s = rules.add_parser("activate", help="make a rule set the one new deadlines use")
    s.add_argument("name")
    s.set_defaults(func=cmd_rules_activate)


def _add_calendar(sub: Subparsers) -> None:
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


def cmd_sla_show(args: argparse.Namespace, ctx: Context) -> int:
    from engine.deadlines import sla

    for c in sla.clocks_of(ctx.db, args.instance):
        local = c.deadline_at.astimezone(clock.CHINA).strftime("%Y-%m-%d %H:%M")
        flag = " (provisional)" if c.provisional else ""
        print(f"{c.id}\t{c.scope}\t{c.sla_key}\t{c.limit_workdays} 工作日\t{local}{flag}\t{c.status}")
    verdict = sla.on_time(ctx.db, args.instance)
    print("on time: " + ("open" if verdict is None else ("yes" if verdict else "no")))
    return 0


def cmd_sla_pause(args: argparse.Namespace, ctx: Context) -> int:
    from engine.deadlines import sla

    n = sla.pause(ctx.db, args.instance, reason=args.reason, actor=args.by, note=args.note)
    print(f"{n} clock(s) paused")
    return 0


def cmd_sla_resume(args: argparse.Namespace, ctx: Context) -> int:
    from engine.deadlines import sla

    n = sla.resume(ctx.db, args.instance, actor=args.by)
    print(f"{n} clock(s) resumed")
    return 0


def cmd_sla_recompute(args: argparse.Namespace, ctx: Context) -> int:
    from engine.deadlines import sla

    n = sla.recompute(ctx.db, instance_ids=args.instances or None, actor="cli")
    print(f"{n} deadline(s) moved")
    return 0


def cmd_rules_load(args: argparse.Namespace, ctx: Context) -> int:
    from engine.deadlines import rule_versions

    name = rule_versions.load_rule_set(ctx.db, Path(args.file), actor="cli", activate=args.activate)
    print(f"rule set {name} loaded" + (" and active" if args.activate else ""))
    return 0


def cmd_rules_activate(args: argparse.Namespace, ctx: Context) -> int:
    from engine.deadlines import rule_versions

    rule_versions.activate_rule_set(ctx.db, args.name)
    print(f"rule set {args.name} is active")
    return 0


def cmd_workdays_add(args: argparse.Namespace, ctx: Context) -> int:
    from engine.deadlines import calendar

    start = parse_date(args.date)
    result = calendar.add_workdays(ctx.db, start, args.n, fallback=args.fallback or ctx.settings.calendar_fallback)
    print(result.date.isoformat())
    if result.provisional:
        years = ", ".join(map(str, result.fallback_years))
        print(f"warning: provisional, no official working-day calendar for {years}: counted Monday–Friday",
              file=sys.stderr)
    return 0


def cmd_calendar_import(args: argparse.Namespace, ctx: Context) -> int:
    from engine.deadlines import calendar_import

    try:
        report = calendar_import.import_year(ctx.db, Path(args.file), actor=args.by)
    except calendar_import.CalendarImportError as err:
        print(f"error: {err.message}", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(report)
    for problem in report.hook_errors:
        print(f"warning: after-import hook failed: {problem}", file=sys.stderr)
    return 0


def cmd_calendar_export(args: argparse.Namespace, ctx: Context) -> int:
    from engine.deadlines import calendar

    sys.stdout.write(calendar.export_csv(ctx.db, args.year))
    return 0


def cmd_calendar_status(args: argparse.Namespace, ctx: Context) -> int:
    from engine.deadlines import calendar

    loaded = calendar.years(ctx.db)
    for y in loaded:
        when = y.imported_at.strftime("%Y-%m-%d %H:%M") if y.imported_at else "-"
        print(f"{y.year}  {y.days} days  {y.workdays} working  {y.holidays} holidays  "
              f"{y.adjusted_workdays} adjusted  source: {y.source}  ({when} by {y.imported_by})"
              + ("" if y.complete else "  INCOMPLETE"))
    span = f"{loaded[0].year}–{loaded[-1].year}" if loaded else "none"
    print(f"{len(loaded)} year(s) loaded ({span}); other years: "
          + ("counted Monday–Friday, provisionally" if ctx.settings.calendar_fallback else "refused")
          + " (YEKUO_CALENDAR_FALLBACK)")
    next_year = calendar.business_date(clock.now()).year + 1
    if next_year not in {y.year for y in loaded}:
        print(f"warning: {next_year} is not loaded; import it with `yekuo calendar import FILE`", file=sys.stderr)
    return 0
