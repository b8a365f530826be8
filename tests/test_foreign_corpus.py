"""The corpus test of issue #16: every model we have, bundled or foreign, through the one way in.

Each bundle is checked (`authoring.check`, the validator every way in shares): nothing may raise,
and every refusal is located — a file, and an element or a line. Whatever deploys is started with
no data: a start either gives a case (in `error` with a message, at worst) or leaves nothing
behind, so the number of instances equals the number of starts that returned.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.core import runtime
from engine.core.config import PROJECT_ROOT
from engine.core.db import Database
from engine.core.errors import YekuoError
from engine.core.models import instance_t
from engine.modeling import authoring

DATA = Path(__file__).parent / "data"
FORMS = DATA / "forms"


def _bundles() -> list[tuple[str, dict[str, bytes], Path]]:
    bundled = {p.name: p.read_bytes() for p in sorted((PROJECT_ROOT / "bpmn").glob("*.*")) if p.suffix in (".bpmn", ".dmn")}
    out = [("bundled models", bundled, PROJECT_ROOT / "forms")]
    tariff = (DATA / "bad_bpmn" / "tariff.dmn").read_bytes()
    for folder in ("foreign", "bad_bpmn", "import"):
        for path in sorted((DATA / folder).glob("*.bpmn")):
            out.append((f"{folder}/{path.name}", {path.name: path.read_bytes(), "tariff.dmn": tariff}, FORMS))
    rule = (DATA / "bad_bpmn" / "rule_good.bpmn").read_bytes()
    for path in sorted((DATA / "foreign").glob("*.dmn")):
        out.append((f"foreign/{path.name}", {"rule_good.bpmn": rule, "tariff.dmn": path.read_bytes()}, FORMS))
    return out


BUNDLES = _bundles()


@pytest.mark.parametrize("label, files, forms", BUNDLES, ids=[b[0] for b in BUNDLES])
def test_no_model_crashes_and_every_refusal_is_located(db: Database, label: str, files: dict[str, bytes],
                                                       forms: Path) -> None:
    result = authoring.check(db, files, forms_dir=forms)
    for problem in result.problems:
        if problem.file == "(bundle)":  # about the bundle as a whole: nothing in it is executable
            assert problem.message == "the bundle contains no executable process"
            continue
        in_bundle = problem.file in files or (problem.file.endswith(".json") and (forms / problem.file).exists())
        assert in_bundle and (problem.element or problem.line), (label, str(problem))
        assert "0x7f" not in problem.message and "\n" not in problem.message, str(problem)
    if label == "bundled models":
        assert result.ok, result.problems
    if not result.ok:
        return
    results = authoring.deploy(db, files, forms_dir=forms, actor="corpus", note="corpus")
    started = 0
    for deployed in results:
        try:
            outcome = runtime.start_instance(db, deployed.key, {})
        except YekuoError:
            continue  # refused with a reason (e.g. a process that must be called, not started)
        started += 1
        assert outcome.status in ("running", "waiting", "completed", "error")
        if outcome.status == "error":
            assert outcome.error and outcome.error["message"]
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(instance_t)).scalar_one() == started
