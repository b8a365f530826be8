"""One demonstration application per business type: the acceptance form a clerk would fill in.

Each builder starts from the deployed acceptance form's own example of its kind and puts a new
customer in it, with a capacity that matches the voltage: residents 220 V, 4–16 kW; other
low-voltage customers 380 V, 20–160 kW; 10 kV customers 315–2000 kVA (transformer sizes).
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from typing import Any

from engine.demo import people

TYPES = ("lv_res", "lv_nonres", "hv_single", "hv_dual", "change")
#: how often each type arrives (a district's usual mix: mostly residents and shops)
WEIGHTS = (35, 25, 12, 8, 20)
RES_KW = (4, 6, 8, 8, 10, 12, 16)  # 220 V single-phase up to 12 kW; 16 kW on 380 V three-phase
NONRES_KW = (20, 30, 40, 50, 60, 80, 100, 120, 160)
HV_KVA = (315, 400, 500, 630, 800, 1000, 1250, 1600, 2000)
CHANNELS = ("counter", "counter", "app", "app", "web95598")


def _docs(prefix: str, rng: random.Random, names: dict[str, str]) -> dict[str, dict[str, str]]:
    return {k: {"ref": f"att-{prefix}{rng.randrange(16**6):06x}", "name": v} for k, v in names.items()}


def lv_res(examples: list[dict[str, Any]], rng: random.Random, today: dt.date) -> dict[str, Any]:
    data = copy.deepcopy(examples[0])
    p = people.person(rng)
    kw = rng.choice(RES_KW)
    data.update(channel=rng.choice(CHANNELS), customer_name=p.name, contact_name=p.name, id_number=p.id_number,
                mobile=p.mobile, address=p.address, capacity_kw=kw, supply_voltage="220V" if kw <= 12 else "380V",
                expected_date=(today + dt.timedelta(days=rng.randint(10, 25))).isoformat(),
                survey_with_install=rng.random() < 0.7,
                documents=_docs("r", rng, {"identity": "身份证正反面.pdf", "property_proof": "不动产权证书.pdf"}))
    return data


def lv_nonres(examples: list[dict[str, Any]], rng: random.Random, today: dt.date) -> dict[str, Any]:
    data = copy.deepcopy(examples[1])
    name, kind, address, code = people.company(rng, people.SHOP_KINDS)
    contact = people.person(rng)
    kw = rng.choice(NONRES_KW)
    one_id = rng.random() < 0.3
    data.update(channel=rng.choice(CHANNELS), customer_name=name, customer_category=kind[1], industry=kind[2],
                id_number=code, contact_name=contact.name, mobile=contact.mobile, address=address, capacity_kw=kw,
                supply_voltage="380V", small_micro=rng.random() < 0.6, one_id_acceptance=one_id,
                expected_date=(today + dt.timedelta(days=rng.randint(15, 30))).isoformat())
    docs = {"identity": "营业执照.pdf", "commitment_letter": "客户承诺书.pdf"}
    if one_id:
        data["docs_promised_by"] = (today + dt.timedelta(days=rng.randint(5, 10))).isoformat()
    else:
        data.pop("docs_pending", None)
        data.pop("docs_promised_by", None)
        docs = {"identity": "营业执照.pdf", "property_proof": "房屋租赁合同.pdf"}
    data["documents"] = _docs("n", rng, docs)
    return data


def _hv(examples: list[dict[str, Any]], rng: random.Random, today: dt.date, dual: bool) -> dict[str, Any]:
    data = copy.deepcopy(examples[3] if len(examples) > 3 else examples[2])
    name, kind, address, code = people.company(rng, people.WORKS_KINDS)
    contact = people.person(rng)
    kva = rng.choice(HV_KVA[3:] if dual else HV_KVA)
    new = rng.random() < 0.6
    data.update(channel=rng.choice(CHANNELS), customer_name=name, industry=kind[1], id_number=code,
                contact_name=contact.name, mobile=contact.mobile, address=address, capacity_unit="kVA",
                capacity_kva=kva, power_factor=rng.choice((0.85, 0.9, 0.9, 0.95)), supply_voltage="10kV",
                power_sources=2 if dual else 1, important_customer=dual, load_level="1" if dual else "2",
                expected_date=(today + dt.timedelta(days=rng.randint(90, 240))).isoformat())
    data.pop("capacity_kw", None)
    if new:
        data["request_kind"] = "new"
        data.pop("account_no", None)
        data.pop("existing_capacity_kw", None)
    else:
        data["account_no"] = f"300{rng.randrange(10**7):07d}"
        data["existing_capacity_kw"] = rng.choice((200, 315, 400, 630))
    data["documents"] = _docs("h", rng, {"identity": "营业执照.pdf", "property_proof": "不动产权证书.pdf",
                                         "project_approval": "项目备案通知书.pdf"})
    return data


def hv_single(examples: list[dict[str, Any]], rng: random.Random, today: dt.date) -> dict[str, Any]:
    return _hv(examples, rng, today, dual=False)


def hv_dual(examples: list[dict[str, Any]], rng: random.Random, today: dt.date) -> dict[str, Any]:
    return _hv(examples, rng, today, dual=True)


def change(examples: list[dict[str, Any]], rng: random.Random, today: dt.date) -> dict[str, Any]:
    """A change of use: one of the form's kinds, for a new business or resident."""
    index = rng.randrange(len(examples))
    data = copy.deepcopy(examples[index])
    if data.get("id_type") == "id_card":
        p = people.person(rng)
        data.update(customer_name=p.name, id_number=p.id_number, mobile=p.mobile, address=p.address)
        if "new_customer_name" in data:
            q = people.person(rng)
            data.update(new_customer_name=q.name, new_id_number=q.id_number)
    else:
        name, _kind, address, code = people.company(rng, people.SHOP_KINDS)
        data.update(customer_name=name, id_number=code, mobile=people.mobile(rng), address=address)
    data["account_no"] = f"300{rng.randrange(10**7):07d}"
    data["channel"] = rng.choice(("counter", "app"))
    data["effective_date"] = (today + dt.timedelta(days=rng.randint(3, 12))).isoformat()
    if "current_capacity_kva" in data:
        current = rng.choice(HV_KVA[2:])
        data.update(current_capacity_kva=current, new_capacity_kva=rng.choice([k for k in HV_KVA if k < current]))
    return data


BUILDERS = {"lv_res": lv_res, "lv_nonres": lv_nonres, "hv_single": hv_single, "hv_dual": hv_dual, "change": change}
#: the process each type starts and the acceptance task that takes the builder's data
STARTS = {"change": ("change", "accept_change")}
DEFAULT_START = ("new_connection", "accept")
