"""Keyset cursors: the next page of a sorted list starts after the last row's sort key and id, so a
deep page costs what the first does (no OFFSET that reads and drops every earlier row).

A cursor is opaque to clients: the sort it belongs to and the last row's key values, as JSON in
URL-safe base64, signed with an HMAC so a tampered or forged cursor is refused (`InvalidData`, a 422)
instead of being turned into SQL. A cursor of another sort is refused too."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, false, or_
from sqlalchemy.sql.elements import ColumnElement

from engine.core.errors import InvalidData

MAX_CURSOR = 1000  # characters; a real cursor is about 200
_SALT = b"yekuo.keyset.v1"


@dataclass(frozen=True)
class Key:
    """One sort column: its direction, whether it may be NULL (NULLs sort last either way), and the
    Python type of its values (`datetime`, `date`, `int` or `str`), which a decoded cursor must match."""

    column: Any
    descending: bool = False
    nullable: bool = False
    kind: type = str

    def order(self) -> Any:
        ordered = self.column.desc() if self.descending else self.column.asc()
        return ordered.nulls_last() if self.nullable else ordered


def _sign(payload: bytes, key: str | bytes) -> str:
    secret = key.encode() if isinstance(key, str) else key
    mac = hmac.new(_SALT + secret, payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else value


def encode(sort: str | None, values: Sequence[Any], key: str | bytes) -> str:
    """The cursor after a row whose sort key is `values` (in the order of the sort's `Key`s)."""
    payload = json.dumps({"s": sort, "k": [_plain(v) for v in values]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + _sign(payload, key)


def _refuse(reason: str) -> InvalidData:
    return InvalidData("invalid cursor", details={"cursor": [reason]})


def _value(raw: Any, k: Key) -> Any:
    if raw is None:
        if not k.nullable:
            raise _refuse("a value is missing")
        return None
    if k.kind is dt.datetime:
        if not isinstance(raw, str):
            raise _refuse("a time is not a time")
        try:
            value = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise _refuse("a time is not a time") from None
        if value.tzinfo is None:
            raise _refuse("a time has no time zone")
        return value
    if k.kind is dt.date:
        if not isinstance(raw, str):
            raise _refuse("a day is not a day")
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise _refuse("a day is not a day") from None
    if k.kind is int:
        if isinstance(raw, bool) or not isinstance(raw, int) or abs(raw) > 2**31:
            raise _refuse("a number is not a number")
        return raw
    if not isinstance(raw, str) or len(raw) > 200:
        raise _refuse("a text is not a text")
    return raw


def decode(token: str, sort: str | None, keys: Sequence[Key], key: str | bytes) -> list[Any]:
    """The key values a cursor carries, checked: signed by us, for this sort, of the right types."""
    if not isinstance(token, str) or not token or len(token) > MAX_CURSOR or token.count(".") != 1:
        raise _refuse("not a cursor of this list")
    body, mac = token.split(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise _refuse("not a cursor of this list") from None
    if not hmac.compare_digest(mac, _sign(payload, key)):
        raise _refuse("not a cursor of this list")
    try:
        data = json.loads(payload)
    except ValueError:
        raise _refuse("not a cursor of this list") from None
    if not isinstance(data, dict) or data.get("s") != sort:
        raise _refuse("the cursor belongs to another sort; start again from the first page")
    raw = data.get("k")
    if not isinstance(raw, list) or len(raw) != len(keys):
        raise _refuse("not a cursor of this list")
    return [_value(v, k) for v, k in zip(raw, keys, strict=True)]


def after(keys: Sequence[Key], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order of `keys` (NULLs last): the first key past its value,
    or equal on it and past on the next, and so on. The first key's bound is repeated on its own so
    the index the list is sorted by can start there."""
    branches: list[Any] = []
    equal: list[Any] = []
    for k, v in zip(keys, values, strict=True):
        if v is None:  # nothing sorts strictly after NULL at this level; later keys decide among NULLs
            equal.append(k.column.is_(None))
            continue
        past = k.column < v if k.descending else k.column > v
        if k.nullable:
            past = or_(past, k.column.is_(None))
        branches.append(and_(*equal, past))
        equal.append(k.column == v)
    if not branches:
        return false()
    first, v0 = keys[0], values[0]
    if v0 is None:
        lead: Any = first.column.is_(None)
    else:
        lead = first.column <= v0 if first.descending else first.column >= v0
        if first.nullable:
            lead = or_(lead, first.column.is_(None))
    return and_(lead, or_(*branches))
