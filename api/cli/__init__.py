"""The `yekuo` command line: operators' and developers' entry point.

One module per command group adds its sub-commands in `add_parsers`; `build_parser` calls them in
order, so nothing registers itself on import. Every command prints one clear line per result; an
error is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from api.cli import (
    audit,
    database,
    deadlines,
    demo,
    deploy,
    dispatch,
    importing,
    instances,
    outbox,
    peers,
    serve,
    timers,
    versions,
)
from api.cli.common import Context
from engine import wiring
from engine.core import config
from engine.core.errors import DeployError, YekuoError

#: The command groups, in the order `yekuo --help` lists them.
GROUPS = (database, deploy, importing, serve, timers, audit, deadlines, versions, outbox, instances, dispatch, peers, demo)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yekuo", description="Yekuo: the service-connection (业扩报装) process engine")
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; settings are read from the environment on every call."""
    args = build_parser().parse_args(argv)
    ctx = Context(config.from_env())
    wiring.install()
    try:
        return args.func(args, ctx)
    except DeployError as err:
        print(f"error: {err.message}", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except YekuoError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # the one place that turns surprises into a clean line
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    finally:
        ctx.close()
