"""Applied capacity in kW or kVA: high-voltage customers apply in kVA (transformer capacity).

The rules (the 三零 limit of 160 kW, the low-voltage ceiling) and the business-type decision
(`business_type.dmn`) read `capacity_kw`. An application in kVA states `capacity_kva` and a power
factor (`power_factor`, 0.9 unless the customer states one); the kW the rules see is kVA × power
factor. Both values stay in the case (`capacity_kva`, `capacity_kw`, `capacity_unit`,
`power_factor`) and `capacity_text` shows them together on later forms and the case page.

The conversion runs as the `yekuo/applied_capacity` service after acceptance, so a case's history
records its result and replay answers it from there, exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.core.errors import InvalidData, ServiceError
from engine.core.services import Handler, ServiceCall

UNITS = ("kW", "kVA")
DEFAULT_POWER_FACTOR = 0.9
MAX_CAPACITY = 1_000_000  # the accept form's own ceiling, in either unit


@dataclass(frozen=True)
class Applied:
    """What the customer applied for and what the rules count."""

    unit: str
    stated: float
    power_factor: float | None
    kw: float

    @property
    def text(self) -> str:
        if self.unit == "kW":
            return f"{_num(self.kw)} kW"
        return f"{_num(self.stated)} kVA（功率因数{_num(self.power_factor or 0)}，折合{_num(self.kw)} kW）"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"capacity_unit": self.unit, "capacity_kw": self.kw, "capacity_text": self.text}
        if self.unit == "kVA":
            out.update(capacity_kva=self.stated, power_factor=self.power_factor)
        return out


def _num(value: float) -> str:
    return f"{value:g}"


def _number(value: Any, field: str, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidData(f"{field} must be a number, not {value!r}", details={field: [f"{label}须为数字"]})
    return float(value)


def applied(unit: Any, value: Any, power_factor: Any = None) -> Applied:
    """Check and convert one applied capacity; refuses text, zero, negatives, a power factor
    outside (0, 1] and values over the form's ceiling, with a message per field."""
    if unit is None:
        unit = "kW"
    if unit not in UNITS:
        raise InvalidData(f"capacity_unit must be kW or kVA, not {unit!r}",
                          details={"capacity_unit": ["容量单位须为千瓦（kW）或千伏安（kVA）"]})
    field = "capacity_kw" if unit == "kW" else "capacity_kva"
    stated = _number(value, field, "申请容量")
    if not 0 < stated <= MAX_CAPACITY:
        raise InvalidData(f"{field} must be above 0 and at most {MAX_CAPACITY}, not {value!r}",
                          details={field: [f"申请容量须大于0且不超过{MAX_CAPACITY}"]})
    if unit == "kW":
        return Applied("kW", stated, None, stated)
    pf = DEFAULT_POWER_FACTOR if power_factor is None else _number(power_factor, "power_factor", "功率因数")
    if not 0 < pf <= 1:
        raise InvalidData(f"power_factor must be above 0 and at most 1, not {power_factor!r}",
                          details={"power_factor": ["功率因数须大于0且不大于1"]})
    return Applied("kVA", stated, pf, round(stated * pf, 3))


def of_data(data: dict[str, Any]) -> Applied:
    """The applied capacity of an application or case data (no unit: kW, as before units existed)."""
    unit = data.get("capacity_unit") or "kW"
    value = data.get("capacity_kva") if unit == "kVA" else data.get("capacity_kw")
    return applied(unit, value, data.get("power_factor"))


def convert(call: ServiceCall) -> dict[str, Any]:
    """`yekuo/applied_capacity`: the case's capacity in kW for the rules, with what was applied for."""
    try:
        return of_data(call.data).to_dict()
    except InvalidData as exc:
        raise ServiceError(str(exc)) from exc


SERVICES: dict[str, Handler] = {"yekuo/applied_capacity": convert}
