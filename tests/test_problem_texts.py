"""The modeler page shows analysts every deploy-time problem in Chinese (api/web/problem_texts.py).

Each bad model of the validation tests is parsed; every problem the engine reports must match a
pattern, and the pattern's Chinese template must fill all its placeholders from the match — the
same substitution the page's script does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.web import problem_texts
from engine.core.errors import DeployError
from engine.core.validation.bundle import parse_bundle
from tests.api_support import make_app

DATA = Path(__file__).parent / "data"
BAD = sorted(p for p in (DATA / "bad_bpmn").glob("*.bpmn") if "good" not in p.name)
GROUPS = {"clerk": "营业厅受理员", "surveyor": "勘查班组", "metering": "计量班组"}


def localise(message: str, patterns: list[dict[str, str]]) -> str | None:
    for entry in patterns:
        found = re.search(entry["re"], message)
        if found:
            return re.sub(r"\{(\d+)\}", lambda m: found.group(int(m.group(1))) or "", entry["text"])
    return None


@pytest.fixture(scope="module")
def chinese(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> list[dict[str, str]]:
    import shutil

    from engine.core.db import Database

    tmp = tmp_path_factory.mktemp("texts")
    shutil.copy(sqlite_template, tmp / "yekuo.db")
    app = make_app(Database(f"sqlite:///{tmp / 'yekuo.db'}"), tmp)
    with app.test_request_context("/modeler?lang=zh_CN"):
        return problem_texts.for_page()


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_every_problem_of_a_bad_model_reads_in_chinese(path: Path, chinese: list[dict[str, str]]) -> None:
    files = {path.name: path.read_bytes()}
    if path.name == "duplicate_process.bpmn":  # a clash needs the file it clashes with
        files.update({name: (DATA / "bad_bpmn" / name).read_bytes() for name in ("good_main.bpmn", "good_meter.bpmn")})
    with pytest.raises(DeployError) as caught:
        parse_bundle(files, forms_dir=DATA / "forms", groups=GROUPS, operators={"gis/supply_scheme"})
    for problem in caught.value.problems:
        text = localise(problem.message, chinese)
        assert text is not None, problem.message
        assert re.search(r"[\u4e00-\u9fff]", text) and not re.search(r"\{\d+\}", text), (problem.message, text)


def test_an_unknown_message_stays_as_the_engine_wrote_it(chinese: list[dict[str, str]]) -> None:
    assert localise("something entirely new", chinese) is None


@pytest.mark.parametrize("name", ["camunda7_refused.bpmn", "camunda8_zeebe.bpmn"])
def test_every_refusal_of_a_camunda_file_reads_in_chinese(name: str, chinese: list[dict[str, str]]) -> None:
    from engine.modeling import authoring as modeling

    found = modeling.normalize({name: (DATA / "import" / name).read_bytes()}).problems
    assert found
    for problem in found:
        text = localise(problem.message, chinese)
        assert text is not None and re.search(r"[\u4e00-\u9fff]", text) and not re.search(r"\{\d+\}", text), (problem.message, text)


FOREIGN = sorted((DATA / "foreign").glob("*.bpmn")) + sorted((DATA / "foreign").glob("*.dmn"))


@pytest.mark.parametrize("path", FOREIGN, ids=lambda p: p.name)
def test_every_problem_of_a_foreign_model_reads_in_chinese(path: Path, chinese: list[dict[str, str]]) -> None:
    """Foreign models (tests/data/foreign) go through the normaliser first, as every way in does."""
    from engine.modeling import authoring as modeling

    files = {path.name: path.read_bytes()}
    if path.suffix == ".dmn":
        files = {"rule_good.bpmn": (DATA / "bad_bpmn" / "rule_good.bpmn").read_bytes(), "tariff.dmn": path.read_bytes()}
    imported = modeling.normalize(files)
    found = list(imported.problems)
    try:
        parse_bundle(imported.files, forms_dir=DATA / "forms", groups=GROUPS, operators={"gis/supply_scheme"})
    except DeployError as exc:
        found += exc.problems
    for problem in found:
        text = localise(problem.message, chinese)
        assert text is not None, problem.message
        assert re.search(r"[\u4e00-\u9fff]", text) and not re.search(r"\{\d+\}", text), (problem.message, text)
