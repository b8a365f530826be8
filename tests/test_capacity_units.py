"""Applied capacity in kVA (high-voltage customers apply by transformer capacity): converted to kW
with the stated power factor (0.9 unless given) for the rules and the classification; both kept."""

from __future__ import annotations

import math

import pytest

from engine.core import forms, queries
from engine.core.errors import InvalidData
from engine.intake import capacity
from tests.process_helpers import START, complete, deploy, example, form, start_case


def test_kw_passes_through_and_kva_is_converted_with_the_default_power_factor():
    assert capacity.applied("kW", 120).kw == 120
    assert capacity.applied(None, 8).to_dict() == {"capacity_unit": "kW", "capacity_kw": 8.0, "capacity_text": "8 kW"}
    kva = capacity.applied("kVA", 2000)
    assert (kva.kw, kva.power_factor) == (1800.0, 0.9)
    assert kva.to_dict() == {"capacity_unit": "kVA", "capacity_kw": 1800.0, "capacity_kva": 2000.0, "power_factor": 0.9,
                             "capacity_text": "2000 kVA（功率因数0.9，折合1800 kW）"}
    assert capacity.applied("kVA", 2000, 0.85).kw == 1700.0
    assert capacity.applied("kVA", 175, 1).kw == 175.0  # a stated factor of 1: kVA equals kW


@pytest.mark.parametrize(("unit", "value", "pf", "field"), [
    ("kVA", 0, None, "capacity_kva"),
    ("kVA", -100, None, "capacity_kva"),
    ("kW", 0, None, "capacity_kw"),
    ("kW", -5, None, "capacity_kw"),
    ("kVA", "2000", None, "capacity_kva"),          # text, even if it looks like a number
    ("kVA", "两千", None, "capacity_kva"),
    ("kVA", True, None, "capacity_kva"),            # a boolean is not a number
    ("kVA", math.nan, None, "capacity_kva"),
    ("kVA", math.inf, None, "capacity_kva"),
    ("kVA", 10_000_001, None, "capacity_kva"),
    ("kVA", 2000, 1.2, "power_factor"),             # a power factor above 1 is physically impossible
    ("kVA", 2000, 0, "power_factor"),
    ("kVA", 2000, -0.9, "power_factor"),
    ("kVA", 2000, "0.9", "power_factor"),
    ("MVA", 2, None, "capacity_unit"),
    ("kva", 2000, None, "capacity_unit"),
])
def test_hostile_values_are_refused_per_field(unit, value, pf, field):
    with pytest.raises(InvalidData) as refused:
        capacity.applied(unit, value, pf)
    assert field in refused.value.details


@pytest.mark.parametrize(("changes", "field"), [
    ({"capacity_kva": 0}, "capacity_kva"),
    ({"capacity_kva": -1}, "capacity_kva"),
    ({"capacity_kva": "2000"}, "capacity_kva"),
    ({"power_factor": 1.05}, "power_factor"),
    ({"power_factor": 0}, "power_factor"),
    ({"power_factor": "高"}, "power_factor"),
    ({"capacity_unit": "MVA"}, "capacity_unit"),
    ({"capacity_kva": None}, "capacity_kva"),       # kVA chosen but no kVA given
])
def test_the_accept_form_refuses_the_same_values(changes, field):
    schema = form("accept.schema.json")
    with pytest.raises(InvalidData) as refused:
        forms.check(schema, example("accept", 3, **changes))
    assert any(field in key for key in refused.value.details), refused.value.details
    forms.check(schema, example("accept", 3))  # the example itself is fine


def test_kw_applications_still_need_their_kw():
    with pytest.raises(InvalidData):
        forms.check(form("accept.schema.json"), example("accept", 0, capacity_kw=None))


@pytest.fixture
def models(db, clock):
    return deploy(db)


def test_a_kva_application_is_classified_on_its_kw_and_keeps_both(db, clock, models):
    """2000 kVA at power factor 0.85 is 1700 kW: high voltage; 170 kVA at 0.9 is 153 kW, within
    the 160 kW low-voltage limit (三零 for a resident), though 170 would not be."""
    clock.set(START)
    iid = start_case(db)
    complete(db, iid, "accept", example("accept", 3))
    data = queries.get_instance(db, iid).data
    assert (data["capacity_unit"], data["capacity_kva"], data["power_factor"], data["capacity_kw"]) == (
        "kVA", 2000, 0.85, 1700.0)
    assert data["capacity_text"] == "2000 kVA（功率因数0.85，折合1700 kW）"
    assert data["business_type"] == "hv_dual"

    iid = start_case(db)
    complete(db, iid, "accept", example("accept", 0, supply_voltage="380V", capacity_kw=None, capacity_unit="kVA",
                                        capacity_kva=170))
    data = queries.get_instance(db, iid).data
    assert (data["capacity_kw"], data["power_factor"], data["business_type"], data["sanling"]) == (
        153.0, 0.9, "lv_res", True)

    iid = start_case(db)
    complete(db, iid, "accept", example("accept", 0, supply_voltage="380V", capacity_kw=170))
    assert queries.get_instance(db, iid).data["business_type"] == "hv_single"
