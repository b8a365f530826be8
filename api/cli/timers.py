"""`yekuo timers`: fire due timers once, for cron-style operation and for tests of time."""

from __future__ import annotations

import argparse

from api.cli.common import Context, Subparsers, optional_instant


def add_parsers(sub: Subparsers) -> None:
    timers = sub.add_parser("timers", help="timer operations").add_subparsers(dest="timers_cmd", required=True)
    s = timers.add_parser("fire-due", help="fire everything due at an instant, then exit")
    s.add_argument("--now", help="ISO-8601 instant with offset (default: now)")
    s.set_defaults(func=cmd_fire_due)


def cmd_fire_due(args: argparse.Namespace, ctx: Context) -> int:
    from engine.core import timers

    now = optional_instant(args.now)
    report = timers.fire_due(ctx.db, now)
    print(report)
    return 1 if report.failed else 0
