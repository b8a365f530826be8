"""`yekuo serve` and `yekuo scheduler`: the long-running processes.

One process (waitress, threads) runs the scheduler in-process — the default, and what `make run`
starts. `--workers N` (N > 1) runs gunicorn with the repository's `gunicorn.conf.py`: N processes
that run no scheduler, beside one or more `yekuo scheduler` processes.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from api.cli.common import Context, Subparsers

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def add_parsers(sub: Subparsers) -> None:
    s = sub.add_parser("serve", help="serve the web app (one process with the scheduler, or --workers N)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1,
                   help="processes; above 1 runs gunicorn without a scheduler: run `yekuo scheduler` beside it")
    s.add_argument("--no-scheduler", action="store_true")
    s.add_argument("--threads", type=int, default=8, help="request threads of the one-process server (default 8)")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("scheduler", help="run the scheduler as its own process (several may run)")
    s.set_defaults(func=cmd_scheduler)


def cmd_serve(args: argparse.Namespace, ctx: Context) -> int:
    """waitress with the scheduler in-process, or gunicorn's workers (replacing this process)."""
    from api import security

    security.require_secret(ctx.settings)
    if args.workers > 1:
        return _exec_gunicorn(args)
    import waitress

    from api.app import create_app

    app = create_app(ctx.settings, start_scheduler=not args.no_scheduler)
    print(f"Yekuo serving on http://{args.host}:{args.port}", flush=True)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="Yekuo")
    return 0


def gunicorn_argv(workers: int, host: str, port: int) -> list[str]:
    """The command `serve --workers N` runs (the same interpreter, the repository's config)."""
    return [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--workers", str(workers),
            "--bind", f"{host}:{port}", "api.app:create_app()"]


def _exec_gunicorn(args: argparse.Namespace) -> int:
    argv = gunicorn_argv(args.workers, args.host, args.port)
    print(f"Yekuo serving on http://{args.host}:{args.port} with {args.workers} gunicorn workers and no "
          "scheduler: run `yekuo scheduler` beside them", flush=True)
    os.execv(sys.executable, argv)  # gunicorn's master takes this pid: signals reach it directly
    return 0  # not reached


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
