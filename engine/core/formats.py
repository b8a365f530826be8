"""Custom JSON Schema formats for Chinese identity numbers, mobile numbers and future dates.

Registered on the checker `engine.core.forms` validates submissions with:

* ``cn-id-card`` — 18-digit 居民身份证号码 (GB 11643-1999): 6-digit area code, a real birth date
  not in the future, 3-digit sequence, and the ISO 7064 MOD 11-2 check character (0-9 or X).
* ``cn-uscc`` — 统一社会信用代码 (GB 32100-2015): 18 characters from the code's 31-character
  alphabet (no I, O, S, V, Z), 6-digit area code in positions 3-8, and the MOD 31 check character.
* ``cn-mobile`` — an 11-digit mainland mobile number (1, then 3-9, then 9 digits).
* ``date-not-past`` — an ISO date (YYYY-MM-DD) that is today or later in China time (UTC+8),
  "today" taken from the engine clock so tests and replays see the same answer.
* ``date-time`` — RFC 3339 with a UTC offset, registered only when jsonschema has no checker for
  it (jsonschema needs the optional rfc3339-validator package for its own).

Non-string values pass every format check, as JSON Schema requires (the `type` keyword catches them).
"""

from __future__ import annotations

import datetime as dt
import re

from jsonschema import FormatChecker

from engine.core import clock

CHINA = dt.timezone(dt.timedelta(hours=8))

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"^[1-9]\d{16}[\dXx]$")
#: First two digits of the area code: provinces, autonomous regions and municipalities (GB/T 2260),
#: plus 71 Taiwan, 81 Hong Kong, 82 Macao, 83 (Taiwan residents' residence permits), 91 (foreigners).
_PROVINCES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                        50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91})

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_SHAPE = re.compile(r"^[1-9A-HJ-NP-RTUWXY][1-9A-HJ-NP-RTUWXY]\d{6}[0-9A-HJ-NP-RTUWXY]{10}$")

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def today_in_china() -> dt.date:
    return clock.now().astimezone(CHINA).date()


def id_card_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of an identity number."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


def is_id_card(value: str) -> bool:
    if not _ID_SHAPE.match(value) or int(value[:2]) not in _PROVINCES:
        return False
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or born > today_in_china():
        return False
    return id_card_check_char(value[:17]) == value[17].upper()


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a credit code."""
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def is_uscc(value: str) -> bool:
    return bool(_USCC_SHAPE.match(value)) and uscc_check_char(value[:17]) == value[17]


def is_mobile(value: str) -> bool:
    return bool(_MOBILE.match(value))


def is_date_not_past(value: str) -> bool:
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        return False
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return False
    return day >= today_in_china()


def is_rfc3339(value: str) -> bool:
    if not _RFC3339.match(value):
        return False
    try:
        dt.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return False
    return True


def _strings_only(check):
    def checker(instance: object) -> bool:
        return not isinstance(instance, str) or check(instance)
    return checker


FORMATS = {"cn-id-card": is_id_card, "cn-uscc": is_uscc, "cn-mobile": is_mobile,
           "date-not-past": is_date_not_past}


def register(checker: FormatChecker) -> None:
    """Add Yekuo's formats to a jsonschema FormatChecker."""
    for name, check in FORMATS.items():
        checker.checks(name)(_strings_only(check))
    if "date-time" not in checker.checkers:
        checker.checks("date-time")(_strings_only(is_rfc3339))
