"""Classification as data: business type, 三零 and the review path come from the DMN tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core import queries
from tests.process_helpers import BPMN_DIR, FORMS_DIR, START, complete, deploy, example, start_case

SHOP = {"customer_name": "北京市和平里便民餐饮有限公司", "id_type": "uscc", "id_number": "91110101MA01ABCD19",
        "customer_category": "commercial", "supply_voltage": "380V", "capacity_kw": 100}


def _accept(index: int, **changes):
    return example("accept", index, **changes)


CASES = [
    # label, accept data, expected (business_type, voltage_class, sanling, important_path)
    ("resident 220 V", _accept(0), ("lv_res", "lv", True, False)),
    ("resident at the 160 kW limit", _accept(0, supply_voltage="380V", capacity_kw=160), ("lv_res", "lv", True, False)),
    ("resident above the limit", _accept(0, supply_voltage="380V", capacity_kw=161), ("hv_single", "hv", False, False)),
    ("small/micro shop", _accept(0, **SHOP, small_micro=True), ("lv_nonres", "lv", True, False)),
    ("other shop", _accept(0, **SHOP), ("lv_nonres", "lv", False, False)),
    ("dual source, important", _accept(2), ("hv_dual", "hv", False, True)),
    ("10 kV ordinary", _accept(2, power_sources=1, important_customer=False, load_level="2"),
     ("hv_single", "hv", False, False)),
    ("35 kV", _accept(2, power_sources=1, important_customer=False, load_level="2", supply_voltage="35kV"),
     ("hv_single", "hv", False, True)),
    ("special load", _accept(2, power_sources=1, important_customer=False, load_level="2", special_load=True),
     ("hv_single", "hv", False, True)),
    ("first-class load", _accept(2, power_sources=1, important_customer=False, load_level="1"),
     ("hv_single", "hv", False, True)),
]


@pytest.fixture
def models(db, clock):
    return deploy(db)


def test_decision_tables_classify_the_application(db, clock, models):
    clock.set(START)
    for label, accept, expected in CASES:
        iid = start_case(db)
        complete(db, iid, "accept", accept)
        data = queries.get_instance(db, iid).data
        got = (data["business_type"], data["voltage_class"], data["sanling"], data["important_path"])
        assert got == expected, label


def test_the_low_voltage_limit_is_edited_in_the_table_not_in_code(db, clock, tmp_path: Path):
    """A region with a 100 kW limit changes three cells of business_type.dmn; nothing else."""
    models_dir = tmp_path / "bpmn"
    models_dir.mkdir()
    for path in BPMN_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        if path.name == "business_type.dmn":
            assert text.count("&lt;= 160") == 3
            text = text.replace("&lt;= 160", "&lt;= 100")
        (models_dir / path.name).write_text(text, encoding="utf-8")
    from engine.core import definitions

    definitions.deploy_paths(db, [models_dir], forms_dir=FORMS_DIR)
    clock.set(START)
    iid = start_case(db)
    complete(db, iid, "accept", _accept(0, supply_voltage="380V", capacity_kw=120))
    assert queries.get_instance(db, iid).data["business_type"] == "hv_single"
