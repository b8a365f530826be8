"""`yekuo serve` and `yekuo scheduler`: the long-running processes."""

from __future__ import annotations

import argparse
import logging

from api.cli.common import Context, Subparsers


def add_parsers(sub: Subparsers) -> None:
    s = sub.add_parser("serve", help="serve the web app with the scheduler in-process")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--no-scheduler", action="store_true")
    s.add_argument("--threads", type=int, default=8, help="request threads (default 8)")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("scheduler", help="run the scheduler as its own process")
    s.set_defaults(func=cmd_scheduler)


def cmd_serve(args: argparse.Namespace, ctx: Context) -> int:
    """A production WSGI server (waitress, threads) with the scheduler in-process; for more
    processes run gunicorn on `api.app:create_app()` and `yekuo scheduler` separately."""
    import waitress

    from api.app import create_app

    app = create_app(ctx.settings, start_scheduler=not args.no_scheduler)
    print(f"Yekuo serving on http://{args.host}:{args.port}", flush=True)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="Yekuo")
    return 0


def cmd_scheduler(args: argparse.Namespace, ctx: Context) -> int:
    from api import security
    from engine import scheduler

    security.require_secret(ctx.settings)  # a production process: same rule as the server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    print("Yekuo scheduler running; Ctrl-C stops it", flush=True)
    try:
        scheduler.build(ctx.db, interval=ctx.settings.scheduler_interval, blocking=True).start()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0
