"""`yekuo init`: create or upgrade the schema and seed what a new installation needs."""

from __future__ import annotations

import argparse

from api.cli.common import Context, Subparsers
from engine.core.db import Database


def add_parsers(sub: Subparsers) -> None:
    s = sub.add_parser("init", help="create or upgrade the database schema")
    s.add_argument("--demo", action="store_true", help="also create one demo user per role")
    s.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace, ctx: Context) -> int:
    from engine.core import schema, users
    from engine.deadlines import calendar_import, rule_sets, rule_versions

    db = ctx.db
    schema.upgrade(db)
    added = users.seed_groups(db)
    calendar_import.seed_from_package(db)
    print(f"database ready at revision {schema.current_revision(db)} ({added} role group(s) added)")
    loaded = rule_versions.seed_rule_sets(db)
    if loaded:
        print(f"time-limit rule sets loaded: {', '.join(loaded)} (active: {rule_sets.active_rules(db).name})")
    if args.demo:
        names = users.seed_demo_users(db, ctx.settings.demo_password)
        print(f"demo users: {', '.join(names)} (password from YEKUO_DEMO_PASSWORD)")
        _demo_teams(db)
    return 0


def _demo_teams(db: Database) -> None:
    from engine.dispatch import teams

    added = teams.seed_demo(db)
    print(f"demo teams: {', '.join(added) if added else 'already there'}")
