"""`yekuo demo cases`: fill an empty database with a month of realistic cases (engine.demo.cases)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from api.cli.common import Context, Subparsers, optional_instant


def add_parsers(sub: Subparsers) -> None:
    demo = sub.add_parser("demo", help="demonstration data").add_subparsers(dest="demo_cmd", required=True)
    s = demo.add_parser("cases", help="drive a month of cases of every business type through the engine")
    s.add_argument("--days", type=int, default=30, help="how many days of applications, ending now (default 30)")
    s.add_argument("--per-day", type=float, default=2.0, help="applications per working day (default 2)")
    s.add_argument("--seed", type=int, default=1, help="the random seed: the same seed gives the same cases")
    s.add_argument("--end", help="ISO-8601 instant with offset the month ends at (default: now)")
    s.add_argument("--force", action="store_true", help="add demo cases even when the database holds cases")
    s.add_argument("--if-empty", action="store_true", help="do nothing (exit 0) when the database holds cases")
    s.set_defaults(func=cmd_cases)


def cmd_cases(args: argparse.Namespace, ctx: Context) -> int:
    from engine.core.errors import YekuoError
    from engine.demo import cases

    if args.days < 1 or args.days > 366:
        raise YekuoError("--days must be between 1 and 366")
    if args.if_empty and cases.case_count(ctx.db):
        print("the database already holds cases; no demo cases added")
        return 0
    root = Path(os.environ.get("YEKUO_DOCUMENTS_DIR") or "instance/documents")
    report = cases.run(ctx.db, days=args.days, seed=args.seed, per_day=args.per_day,
                       end=optional_instant(args.end), force=args.force, documents_root=root)
    print(report)
    return 0
