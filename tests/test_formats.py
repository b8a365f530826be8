"""Custom formats: identity numbers with their check characters, mobiles, dates not in the past."""

from __future__ import annotations

import datetime as dt

import pytest
from jsonschema import FormatChecker

from engine.core import formats
from engine.core.clock import CHINA


@pytest.mark.parametrize(("value", "ok"), [
    ("11010519491231002X", True),    # GB 11643's own example
    ("11010519491231002x", True),    # a lower-case x is still the check character 10
    ("110101199003070011", True),
    ("110101199003070012", False),   # wrong check digit
    ("110101199002300017", False),   # 30 February
    ("110101203001010013", False),   # born in the future
    ("990101199003070016", False),   # no such province
    ("11010119900307001", False),    # 17 digits
    ("11010119900307001X1", False),
    ("A10101199003070011", False),
])
def test_resident_identity_card(value, ok, clock):
    assert formats.is_id_card(value) is ok


def test_identity_check_character_is_mod_11_2():
    assert formats.id_card_check_char("11010519491231002") == "X"
    assert formats.id_card_check_char("11010119900307001") == "1"


@pytest.mark.parametrize(("value", "ok"), [
    ("91350100M000100Y43", True),    # published GB 32100 examples
    ("91110000600037341L", True),
    ("91110101MA01ABCD19", True),
    ("91110101MA01ABCD18", False),   # wrong check character
    ("91350100m000100y43", False),   # lower case is not part of the code
    ("91350100M000100I43", False),   # I, O, S, V, Z are never used
    ("9135010AM000100Y43", False),   # positions 3-8 are an area code
    ("91350100M000100Y4", False),
])
def test_unified_social_credit_code(value, ok):
    assert formats.is_uscc(value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("13912345678", True), ("19900001111", True), ("12345678901", False), ("1391234567", False),
    ("+8613912345678", False), ("139-1234-5678", False),
])
def test_mobile(value, ok):
    assert formats.is_mobile(value) is ok


def test_not_in_the_past_is_judged_in_china_time(clock):
    clock.set(dt.datetime(2027, 3, 1, 0, 30, tzinfo=CHINA))  # still 28 February in UTC
    assert formats.is_date_not_past("2027-03-01")
    assert not formats.is_date_not_past("2027-02-28")
    assert formats.is_date_not_past("2030-12-31")
    assert not formats.is_date_not_past("2027-02-30")
    assert not formats.is_date_not_past("2027-3-5")


def test_registered_checker_checks_strings_only():
    checker = FormatChecker()
    formats.register(checker)
    for name in ("cn-id-card", "cn-uscc", "cn-mobile", "date-not-past", "date-time"):
        assert name in checker.checkers
    assert checker.conforms(12345, "cn-mobile")  # `type` rejects non-strings, not `format`
    assert not checker.conforms("12345", "cn-mobile")
    assert checker.conforms("2027-03-03T10:05:00+08:00", "date-time")
    assert not checker.conforms("2027-03-03T10:05:00", "date-time")  # no offset: ambiguous time
    assert not checker.conforms("2027-03-03 10:05", "date-time")
