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
    s = versions.add_parser("migrate", help="move the running cases of a version (of a main or a called "
                            "process, e.g. design_review) to another version; --dry-run only checks")
    s.add_argument("key", help="process key: the cases' own process, or a process they call")
    s.add_argument("from_version", type=int)
    s.add_argument("--to", type=int, help="target version (default: latest)")
    s.add_argument("--instances", nargs="+", type=int, help="only these cases (default: all on from_version)")
    s.add_argument("--at-step", help="only cases with this step open")
    s.add_argument("--dry-run", action="store_true", help="say which cases can move and why not; move nothing")
    s.add_argument("--by", default="analyst")
    s.add_argument("--note", default="")
    s.set_defaults(func=cmd_versions_migrate)

    mig = sub.add_parser("migrate", help="move running cases to another version").add_subparsers(
        dest="mig_cmd", required=True)
    s = mig.add_parser("check", help="dry run: which cases can move, and why not")
    s.add_argument("instances", nargs="+", type=int)
    s.add_argument("--to", type=int, help="target version (default: latest)")
    s.add_argument("--key", help="move the called process KEY the cases are inside (default: their own process)")
    s.set_defaults(func=cmd_migrate_check)
    s = mig.add_parser("run", help="move the cases that can move")
    s.add_argument("instances", nargs="+", type=int)
    s.add_argument("--to", type=int)
    s.add_argument("--key", help="move the called process KEY the cases are inside (default: their own process)")
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


def cmd_versions_migrate(args: argparse.Namespace, ctx: Context) -> int:
    """The REST API's and the versions page's migration, by key and version (the key may be a called
    process): the cases chosen as they choose them, then the dry run or the move."""
    from engine.modeling import migration

    ids = migration.select_instances(ctx.db, args.key, args.from_version, ids=args.instances, at_step=args.at_step)
    missing = sorted(set(args.instances or []) - set(ids))
    for iid in missing:
        print(f"instance {iid} is not running on {args.key} v{args.from_version}", file=sys.stderr)
    if not ids:
        print(f"no running case on {args.key} v{args.from_version}")
        return 1 if missing else 0
    key = args.key
    if args.dry_run:
        verdicts = migration.check(ctx.db, ids, args.to, key=key)
        for r in verdicts:
            verdict = "can move" if r.can_migrate else "cannot move: " + "; ".join(r.reasons)
            print(f"instance {r.instance_id} {key} v{r.from_version} -> v{r.to_version}: {verdict}")
        movable = sum(1 for r in verdicts if r.can_migrate)
        print(f"dry run: {movable} can move, {len(verdicts) - movable} cannot; nothing was moved")
        return 1 if missing else 0
    failed = len(missing)
    for r in migration.migrate_many(ctx.db, ids, args.to, actor=args.by, note=args.note, key=key):
        if r.migrated:
            print(f"instance {r.instance_id} moved {key} v{r.from_version} -> v{r.to_version}")
        else:
            failed += 1
            reasons = "; ".join(r.reasons)
            print(f"instance {r.instance_id} stays on {key} v{r.from_version}: {reasons}", file=sys.stderr)
    return 1 if failed else 0


def cmd_migrate_check(args: argparse.Namespace, ctx: Context) -> int:
    from engine.modeling import migration

    for r in migration.check(ctx.db, args.instances, args.to, key=args.key):
        verdict = "can move" if r.can_migrate else "cannot move: " + "; ".join(r.reasons)
        print(f"instance {r.instance_id} v{r.from_version} -> v{r.to_version}: {verdict}")
    return 0


def cmd_migrate_run(args: argparse.Namespace, ctx: Context) -> int:
    from engine.modeling import migration

    failed = 0
    for r in migration.check(ctx.db, args.instances, args.to, key=args.key):
        if not r.can_migrate:
            failed += 1
            print(f"instance {r.instance_id} stays on v{r.from_version}: " + "; ".join(r.reasons), file=sys.stderr)
            continue
        migration.migrate(ctx.db, r.instance_id, r.to_version, actor=args.by, note=args.note, key=args.key)
        print(f"instance {r.instance_id} moved v{r.from_version} -> v{r.to_version}")
    return 1 if failed else 0


def cmd_migrate_revert(args: argparse.Namespace, ctx: Context) -> int:
    from engine.modeling import migration

    migration.revert(ctx.db, args.instance, actor=args.by)
    print(f"instance {args.instance} reverted")
    return 0
