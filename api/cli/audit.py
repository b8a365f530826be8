"""`yekuo audit`: verify the hash chains, anchor their heads, replay a case from its history."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from api.cli.common import Context, Subparsers, print_json


def add_parsers(sub: Subparsers) -> None:
    audit = sub.add_parser("audit", help="history checks").add_subparsers(dest="audit_cmd", required=True)
    s = audit.add_parser("verify", help="check hash chains; exit 1 on tampering")
    s.add_argument("instance", nargs="?", type=int)
    s.add_argument("--anchor", help="also check the chain heads recorded in this anchor file")
    s.add_argument("--file", help="check an exported case file (case.json) offline, without the database")
    s.set_defaults(func=cmd_audit_verify)
    s = audit.add_parser("anchor", help="write a signed digest of every chain head (needs YEKUO_ANCHOR_KEY)")
    s.add_argument("--out", help="directory (default YEKUO_ANCHOR_DIR, instance/anchors)")
    s.set_defaults(func=cmd_audit_anchor)
    s = audit.add_parser("replay", help="re-run an instance from its history; exit 1 on divergence")
    s.add_argument("instance", type=int)
    s.add_argument("--json", action="store_true", help="print the full report as JSON")
    s.set_defaults(func=cmd_audit_replay)


def cmd_audit_verify(args: argparse.Namespace, ctx: Context) -> int:
    from engine.audit import chains as audit

    if args.file:
        return _verify_file(Path(args.file))
    reports = audit.verify(ctx.db, args.instance)
    bad = [r for r in reports if not r.ok]
    for r in bad:
        print(f"TAMPERED {r}", file=sys.stderr)
    print(f"{len(reports)} chain(s) checked, {len(bad)} broken")
    rules = audit.verify_rules(ctx.db)
    if not rules.ok:
        print(f"TAMPERED rule changes: entry {rules.first_bad_seq} {rules.reason}", file=sys.stderr)
        bad.append(rules)
    else:
        print(f"rule changes: {rules.events} entries, chain intact")
    anchored_ok = True
    if args.anchor:
        from engine.audit import anchor

        result = anchor.check(ctx.db, anchor.load(Path(args.anchor)), ctx.settings.anchor_key.encode())
        for problem in result.problems:
            print(f"ANCHOR {problem}", file=sys.stderr)
        print(result)
        anchored_ok = result.ok
    return 1 if bad or not anchored_ok else 0


def cmd_audit_anchor(args: argparse.Namespace, ctx: Context) -> int:
    from engine.audit import anchor

    doc = anchor.create(ctx.db, ctx.settings.anchor_key.encode())
    path = anchor.write(doc, Path(args.out) if args.out else ctx.settings.anchor_dir)
    print(f"anchored {doc['instances']} chain head(s) in {path}")
    return 0


def cmd_audit_replay(args: argparse.Namespace, ctx: Context) -> int:
    from engine.audit import replay

    report = replay.replay(ctx.db, args.instance)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report)
    return 0 if report.ok else 1


def _verify_file(path: Path) -> int:
    """An exported case file checked offline: exit 0 when intact, 1 when not, 2 when unreadable."""
    import json

    from engine.audit import chains as audit

    try:
        doc = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return 2
    report = audit.verify_file(doc)
    print(report, file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1
