"""`yekuo instances`: start, show and retry process instances."""

from __future__ import annotations

import argparse

from api.cli.common import Context, Subparsers, json_object, print_json


def add_parsers(sub: Subparsers) -> None:
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


def cmd_start(args: argparse.Namespace, ctx: Context) -> int:
    from engine.core import runtime

    data = json_object(args.data)
    out = runtime.start_instance(ctx.db, args.key, data, business_key=args.business_key)
    print(f"instance {out.instance_id} {out.status}")
    return 0


def cmd_show(args: argparse.Namespace, ctx: Context) -> int:
    from engine.core import queries

    inst = queries.get_instance(ctx.db, args.instance)
    print_json({"id": inst.id, "key": inst.key, "version": inst.definition_version,
                "status": inst.status, "business_key": inst.business_key, "error": inst.error,
                "open_tasks": [{"id": i.id, "name": i.name, "group": i.candidate_group,
                                "assignee": i.assignee} for i in inst.open_items],
                "data": inst.data})
    return 0


def cmd_retry(args: argparse.Namespace, ctx: Context) -> int:
    from api import policy
    from engine.core import runtime

    out = runtime.retry(ctx.db, args.instance, actor=policy.acting_as(args.by, "cases.retry"))
    print(f"instance {out.instance_id} {out.status}")
    return 0
