"""`yekuo import`: a spiff-arena process model (folder or zip) or a Camunda 7 file, with lane and form maps."""

from __future__ import annotations

import argparse
from pathlib import Path

from api.cli.common import Context, Subparsers
from engine.core.errors import DeployError, YekuoError


def add_parsers(sub: Subparsers) -> None:
    s = sub.add_parser("import", help="import a spiff-arena process model (folder or zip) or a Camunda 7 .bpmn, "
                                      "mapping lanes to groups, and deploy it")
    s.add_argument("path")
    s.add_argument("--lane-map", default="", help='lane (or candidate group) → group, e.g. "Lane A=clerk,Lane B=reviewer"')
    s.add_argument("--form-map", default="",
                   help='Camunda form key (or user task id, for a generated form) → JSON-Schema form, '
                        'e.g. "approve=approval.schema.json,Task_1=offer.schema.json"')
    s.add_argument("--forms", help="forms directory for a Camunda file's forms (default: forms/)")
    s.add_argument("--note", default="", help="why this version")
    s.add_argument("--by", default="cli", help="who imports")
    s.add_argument("--check", action="store_true", help="only validate: print the notes, deploy nothing")
    s.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    """The same `authoring.validate` as deploy, the API and the modeler, with the import's lane map."""
    from engine.modeling import arena, authoring

    settings = ctx.settings
    path = Path(args.path)
    lane_map = arena.parse_lane_map(args.lane_map)
    form_map = arena.parse_form_map(args.form_map)
    if path.is_dir():
        model = arena.read_folder(path)
    elif path.suffix.lower() == ".zip" and path.is_file():
        model = arena.read_zip(path.read_bytes())
    elif path.suffix.lower() in (".bpmn", ".xml") and path.is_file():
        model = arena.ArenaModel(files={path.name: path.read_bytes()}, forms={}, meta={})
    else:
        raise YekuoError(f"{path}: not a process-model folder, a .zip or a .bpmn file")
    forms_dir = Path(args.forms or settings.forms_dir)
    result = authoring.check(ctx.db, model.files, forms_dir=forms_dir, forms=model.forms,
                             max_bytes=settings.max_bpmn_bytes, lane_map=lane_map, form_map=form_map)
    for note in model.notes + result.notes:
        print(f"note: {note}")
    if model.problems or result.problems:
        raise DeployError(model.problems + [p for p in result.problems if p not in model.problems])
    if args.check:
        for proc in result.processes:
            print(f"{proc['key']} {proc['version']}{'' if proc['changed'] else ' (unchanged)'} (check only)")
        return 0
    note = args.note or f"imported from {path.name}"
    for r in authoring.deploy(ctx.db, model.files, forms_dir=forms_dir, forms=model.forms, actor=args.by, note=note,
                              max_bytes=settings.max_bpmn_bytes, require_note=False, lane_map=lane_map,
                              form_map=form_map):
        print(f"{r.key} {r.version}{'' if r.created else ' (unchanged)'}")
    return 0
