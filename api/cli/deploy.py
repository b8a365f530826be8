"""`yekuo deploy`: validate BPMN/DMN files with their forms and store them as new versions."""

from __future__ import annotations

import argparse
from pathlib import Path

from api.cli.common import Context, Subparsers


def add_parsers(sub: Subparsers) -> None:
    s = sub.add_parser("deploy", help="validate and deploy BPMN/DMN files or directories")
    s.add_argument("paths", nargs="+")
    s.add_argument("--forms", help="forms directory (default: forms/)")
    s.add_argument("--note", default="", help="why this version")
    s.add_argument("--by", default="cli", help="who deploys")
    s.set_defaults(func=cmd_deploy)


def cmd_deploy(args: argparse.Namespace, ctx: Context) -> int:
    """The same validation as the API and the modeler (`engine.modeling.authoring.deploy`)."""
    from engine.core import definitions
    from engine.modeling import authoring

    settings = ctx.settings
    files = definitions.collect_files([Path(p) for p in args.paths])
    results = authoring.deploy(ctx.db, files, forms_dir=Path(args.forms or settings.forms_dir), actor=args.by,
                               note=args.note, max_bytes=settings.max_bpmn_bytes, require_note=False)
    for r in results:
        print(f"{r.key} {r.version}{'' if r.created else ' (unchanged)'}")
    return 0
