"""`yekuo outbox`: deliver, list and retry outgoing notifications; check the message templates."""

from __future__ import annotations

import argparse

from api.cli.common import Context, Subparsers, optional_instant, print_json
from engine.core.errors import YekuoError


def add_parsers(sub: Subparsers) -> None:
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


def cmd_outbox_deliver(args: argparse.Namespace, ctx: Context) -> int:
    from engine.messages import outbox, sinks

    settings = ctx.settings
    now = optional_instant(args.now)
    report = outbox.deliver_due(ctx.db, now, sink=sinks.from_settings(settings),
                                policy=outbox.RetryPolicy.from_settings(settings),
                                batch=args.batch or settings.outbox_batch)
    print(report)
    return 1 if report.failed else 0


def cmd_outbox_list(args: argparse.Namespace, ctx: Context) -> int:
    from engine.messages import outbox

    messages = outbox.list_messages(ctx.db, args.status, instance_id=args.instance, limit=args.limit)
    if args.json:
        print_json([m.__dict__ for m in messages])
        return 0
    for m in messages:
        when = f"sent={m.sent_at.isoformat()}" if m.sent_at else f"next={m.next_attempt_at.isoformat()}"
        error = f"  error: {m.last_error}" if m.last_error and m.status != "sent" else ""
        receipt = f" receipt={m.delivery_state}" if m.delivery_state else ""
        print(f"#{m.id} {m.status}{receipt} attempts={m.attempts} {m.channel}->{m.recipient} "
              f"{m.template or '-'} {when} key={m.idempotency_key}{error}")
    print(f"{len(messages)} message(s)")
    return 0


def cmd_outbox_retry(args: argparse.Namespace, ctx: Context) -> int:
    from engine.messages import outbox

    if not args.ids and not args.all:
        raise YekuoError("name the message ids to retry, or --all for every failed message")
    count = outbox.retry_failed(ctx.db, None if args.all else args.ids)
    print(f"{count} failed message(s) queued again")
    return 0


def cmd_outbox_templates(args: argparse.Namespace, ctx: Context) -> int:
    from engine.messages import templates

    active = templates.reload(args.file or ctx.settings.templates_file)
    for t in active.templates.values():
        print(f"{t.id} {t.channel} {t.title} fields: {', '.join(t.fields)}")
    print(f"{len(active.templates)} template(s) valid; SMS signature {active.sms_signature!r}")
    return 0
