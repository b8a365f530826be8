"""Plausible customers for the demonstration: Chinese names, addresses, mobiles and valid numbers.

Everything comes from one `random.Random`, so a seed gives the same customers every run. Identity
numbers carry correct check characters (the forms check them, `engine.core.formats`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from engine.core import formats

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英",
         "霞", "平", "刚", "桂英", "建华", "志强", "海燕", "晓东", "文博", "子涵", "雨萱", "浩然", "思远", "欣怡", "俊杰",
         "立新", "国庆", "红梅", "春生", "玉兰", "德明", "永刚")
#: district, its id-card area code, streets in it
DISTRICTS = (
    ("东城区", "110101", ("和平里街道安德路", "交道口南大街", "东四北大街", "北新桥三条")),
    ("西城区", "110102", ("德胜门外大街", "新街口外大街", "西直门南小街", "白纸坊东街")),
    ("朝阳区", "110105", ("和平街北口", "望京西路", "酒仙桥路", "双井街道广渠路")),
    ("海淀区", "110108", ("中关村南大街", "学院路", "西三旗建材城中路", "清河中街")),
    ("丰台区", "110106", ("南苑路", "卢沟桥路", "丰台北路", "方庄芳群园")),
    ("通州区", "110112", ("新华西街", "九棵树东路", "梨园镇云景东路", "宋庄镇小堡村")),
)
SHOP_KINDS = (("餐饮有限公司", "commercial", "餐饮业"), ("便利店", "commercial", "零售业"),
              ("物业管理有限公司", "commercial", "物业管理"), ("五金加工厂", "industrial", "金属制品业"),
              ("食品加工有限公司", "industrial", "食品制造业"), ("汽车维修中心", "commercial", "机动车维修"),
              ("印刷有限公司", "industrial", "印刷业"), ("冷链仓储有限公司", "commercial", "仓储业"))
WORKS_KINDS = (("精工医疗器械有限公司", "医疗器械制造业"), ("数据科技有限公司", "数据中心"),
               ("新材料股份有限公司", "化学原料制造业"), ("制药有限公司", "医药制造业"),
               ("电子科技有限公司", "电子元件制造业"), ("购物中心有限公司", "商业综合体"))
TRADE_NAMES = ("和平", "安德", "京华", "恒通", "瑞丰", "兴业", "鼎盛", "华联", "金桥", "博远", "永泰", "嘉禾")
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@dataclass(frozen=True)
class Person:
    name: str
    id_number: str
    mobile: str
    address: str
    district_code: str


def mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def person(rng: random.Random) -> Person:
    """A resident: name, 18-digit ID card with its check digit, mobile, a flat's address."""
    district, code, streets = rng.choice(DISTRICTS)
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    born = f"{rng.randint(1955, 2002)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    first17 = f"{code}{born}{rng.randrange(1000):03d}"
    address = (f"北京市{district}{rng.choice(streets)}{rng.randint(1, 120)}号"
               f"{rng.randint(1, 6)}单元{rng.randint(1, 18)}{rng.randint(1, 4):02d}")
    return Person(name, first17 + formats.id_card_check_char(first17), mobile(rng), address, code)


def uscc(rng: random.Random, district_code: str) -> str:
    """A unified social credit code (统一社会信用代码) with its check character."""
    body = "".join(rng.choice(_USCC_CHARS) for _ in range(9))
    first17 = f"91{district_code}{body}"
    return first17 + formats.uscc_check_char(first17)


def company(rng: random.Random, kinds: tuple[tuple[str, ...], ...]) -> tuple[str, tuple[str, ...], str, str]:
    """A business: its name, its kind's row, its address and its credit code."""
    district, code, streets = rng.choice(DISTRICTS)
    kind = rng.choice(kinds)
    name = f"北京市{rng.choice(TRADE_NAMES)}{kind[0]}" if len(kind) == 3 else f"北京{rng.choice(TRADE_NAMES)}{kind[0]}"
    address = f"北京市{district}{rng.choice(streets)}{rng.randint(1, 200)}号"
    return name, kind, address, uscc(rng, code)
