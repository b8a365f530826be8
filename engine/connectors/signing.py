"""The signature both directions use: HMAC-SHA256 over `<timestamp>.<body>` with the shared secret.

Headers: `X-Yekuo-Timestamp` (Unix seconds), `X-Yekuo-Signature` (lowercase hex), and
`X-Yekuo-Message-Id` (the sender's id of this message, the receiver's duplicate check). The
timestamp is inside the MAC, so a captured call cannot be replayed outside the window.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping

from engine.connectors.config import WINDOW_SECONDS

TIMESTAMP, SIGNATURE, MESSAGE_ID = "X-Yekuo-Timestamp", "X-Yekuo-Signature", "X-Yekuo-Message-Id"


class BadSignature(Exception):
    """The call is not from the peer, or not from now: answered 401 and logged."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def headers(secret: str, message_id: str, body: bytes, now: dt.datetime) -> dict[str, str]:
    """The three headers of a signed call sent at `now`."""
    ts = str(int(now.timestamp()))
    return {TIMESTAMP: ts, SIGNATURE: sign(secret, ts, body), MESSAGE_ID: message_id}


def verify(secret: str, found: Mapping[str, str], body: bytes, now: dt.datetime,
           window: int = WINDOW_SECONDS) -> str:
    """The message id of a correctly signed, timely call; BadSignature otherwise. Header names are
    matched in any case (urllib, for one, sends `X-yekuo-timestamp`)."""
    lower = {k.lower(): v for k, v in found.items()}
    ts, given, message_id = (lower.get(h.lower()) or "" for h in (TIMESTAMP, SIGNATURE, MESSAGE_ID))
    if not message_id or len(message_id) > 120:
        raise BadSignature("missing or overlong X-Yekuo-Message-Id")
    if not ts.isdigit() or len(ts) > 12:
        raise BadSignature("missing or malformed X-Yekuo-Timestamp")
    if abs(now.timestamp() - int(ts)) > window:
        raise BadSignature(f"timestamp outside the {window}-second window")
    if not secret or not hmac.compare_digest(sign(secret, ts, body), given.strip().lower()):
        raise BadSignature("bad signature")
    return message_id
