"""`yekuo versions` and `yekuo migrate`: compare process versions and move running cases."""

from __future__ import annotations

import argparse
import sys

from api.cli.common import Context, Subparsers


def add_parsers(sub: Subparsers) -> None:
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


def cmd_versions_diff(args: argparse.Namespace, ctx: Context) -> int:
    from engine.modeling import migration

    diff = migration.diff_versions(ctx.db, args.key, args.from_version, args.to_version)
    for c in diff.changes:
        extra = f" ({', '.join(c.fields)})" if c.fields else ""
        print(f"{c.change:8} {c.process}/{c.element} {c.name}{extra}")
    print("running: " + ", ".join(f"v{v}: {n}" for v, n in sorted(diff.running.items())))
    return 0


def cmd_migrate_check(args: argparse.Namespace, ctx: Context) -> int:
    from engine.modeling import migration

    for r in migration.check(ctx.db, args.instances, args.to):
        verdict = "can move" if r.can_migrate else "cannot move: " + "; ".join(r.reasons)
        print(f"instance {r.instance_id} v{r.from_version} -> v{r.to_version}: {verdict}")
    return 0


def cmd_migrate_run(args: argparse.Namespace, ctx: Context) -> int:
    from engine.modeling import migration

    failed = 0
    for r in migration.check(ctx.db, args.instances, args.to):
        if not r.can_migrate:
            failed += 1
            print(f"instance {r.instance_id} stays on v{r.from_version}: " + "; ".join(r.reasons), file=sys.stderr)
            continue
        migration.migrate(ctx.db, r.instance_id, r.to_version, actor=args.by, note=args.note)
        print(f"instance {r.instance_id} moved v{r.from_version} -> v{r.to_version}")
    return 1 if failed else 0


def cmd_migrate_revert(args: argparse.Namespace, ctx: Context) -> int:
    from engine.modeling import migration

    migration.revert(ctx.db, args.instance, actor=args.by)
    print(f"instance {args.instance} reverted")
    return 0
