"""Side by side on BPMN nobody here wrote: what plain SpiffWorkflow parses and runs, what Yekuo deploys and starts.

    python bench/foreign_models.py DIR [DIR ...]

Each `.bpmn` file under DIR is one unit (with the `.dmn` files beside it). For every unit:

- SpiffWorkflow alone: every executable process parses (`SpiffBpmnParser` with its XSD validator),
  and a workflow of the first one runs its engine steps without an exception;
- Yekuo: `authoring.deploy` (the one validator of every way in) accepts it, `runtime.start_instance`
  answers without an exception (a case in `error` counts as started: its error is a sentence), and no
  instance is left behind by a start that failed.

Nothing here is timed; it counts. Run it on SpiffWorkflow's own tests (`tests/SpiffWorkflow/**`).
"""

from __future__ import annotations

import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path

from lxml import etree
from sqlalchemy import func, select

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def _executable(path: Path) -> list[str]:
    try:
        root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    except etree.XMLSyntaxError:
        return []
    return [p.get("id") for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("isExecutable") != "false"]


def spiff_alone(path: Path) -> tuple[bool, bool]:
    """(parsed, ran) with SpiffWorkflow 3.2 and nothing of Yekuo."""
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.spiff.parser import SpiffBpmnParser

    keys = _executable(path)
    try:
        parser = SpiffBpmnParser()
        parser.add_bpmn_file(str(path))
        for dmn in path.parent.glob("*.dmn"):
            try:
                parser.add_dmn_file(str(dmn))
            except Exception:  # noqa: BLE001 - another unit's broken table
                pass
        specs = [(parser.get_spec(k), parser.get_subprocess_specs(k)) for k in keys]
    except Exception:  # noqa: BLE001 - counted, not raised
        return False, False
    if not specs:
        return False, False
    steps = [0]

    def budget(_task: object) -> None:  # SpiffWorkflow alone would spin for ever on a loop that never waits
        steps[0] += 1
        if steps[0] > 10_000:
            raise RuntimeError("no end in sight")

    def alarm(*_: object) -> None:
        raise TimeoutError("no end in sight")

    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(20)  # a process that calls itself never reaches a task the budget sees
    try:
        wf = BpmnWorkflow(*specs[0])
        wf.do_engine_steps(will_complete_task=budget)
    except Exception:  # noqa: BLE001
        return True, False
    finally:
        signal.alarm(0)
    return True, True


def yekuo(path: Path, forms_dir: Path) -> tuple[bool, bool, bool]:
    """(deployed, started without a crash, orphan instance left by a failed start)."""
    from engine.core import runtime, schema, users
    from engine.core.db import Database
    from engine.core.models import instance_t
    from engine.modeling import authoring

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/y.db")
        schema.upgrade(db)
        users.seed_groups(db)
        files = {path.name: path.read_bytes(), **{d.name: d.read_bytes() for d in path.parent.glob("*.dmn")}}
        try:
            results = authoring.deploy(db, files, forms_dir=forms_dir, actor="bench", note="foreign",
                                       require_note=False)
        except Exception:  # noqa: BLE001 - refused (located) or crashed: not deployed either way
            db.dispose()
            return False, False, False
        keys = [r.key for r in results]
        started = orphan = False
        try:
            runtime.start_instance(db, keys[0], {})
            started = True
        except Exception:  # noqa: BLE001
            with db.read() as conn:
                orphan = conn.execute(select(func.count()).select_from(instance_t)).scalar_one() > 0
        db.dispose()
        return True, started, orphan


def main(dirs: list[str]) -> int:
    from engine import wiring

    wiring.install()
    forms_dir = Path(__file__).resolve().parent.parent / "tests" / "data" / "forms"
    units = sorted(p for d in dirs for p in Path(d).rglob("*.bpmn"))
    counts: Counter[str] = Counter()
    for path in units:
        print(path, file=sys.stderr, flush=True)
        parsed, ran = spiff_alone(path)
        deployed, started, orphan = yekuo(path, forms_dir)
        counts.update({"spiff parsed": parsed, "spiff ran": ran, "yekuo deployed": deployed,
                       "yekuo started": started, "yekuo orphans": orphan})
    print(f"units: {len(units)}")
    print("| | SpiffWorkflow alone | Yekuo |\n|---|---|---|")
    print(f"| parsed / deployed | {counts['spiff parsed']} | {counts['yekuo deployed']} |")
    print(f"| ran / started without a crash | {counts['spiff ran']} | {counts['yekuo started']} of "
          f"{counts['yekuo deployed']} |")
    print(f"| instances left by a failed start | – | {counts['yekuo orphans']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["."]))
