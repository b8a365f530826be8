"""Gateways that carry outbox messages out of the system: the interface and the two real sinks.

A sink delivers one message and either returns (delivered) or raises: `RetryableError` when trying
again later may help (gateway down, timeout, 5xx, 408/429), `PermanentError` when it cannot (the
receiver refused the message). Anything else a sink raises counts as retryable. Delivery is *at
least once*: a worker can crash after the sink delivered but before the row is marked sent, so the
same message may be handed over again — always with the same idempotency key, which receivers use
to drop repeats (the file sink does so itself).

- `FileSink` (default): appends one JSON line per message to a file, e.g. for a log shipper or a
  development machine; it never writes the same idempotency key twice to its file.
- `HttpSink`: POSTs the message as JSON to a webhook (the SMS gateway adapter, the in-app notice
  service), with the key in the `Idempotency-Key` header.
- `RoutedSink`: channels with a sink of their own (`CHANNEL_SINKS`, filled by `engine.wiring`: the
  connectors' per-system signed HTTP sink) go there, the rest to the configured sink.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from engine.core import clock
from engine.core.errors import YekuoError

try:  # POSIX: serialise writers from several processes on the same file
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per file (documented)
    fcntl = None  # type: ignore[assignment]

CHANNELS = ("sms", "notice", "webhook")


@dataclass(frozen=True)
class OutboundMessage:
    """One outbox row as a sink sees it; `attempt` counts from 1."""

    idempotency_key: str
    channel: str
    recipient: str
    body: str
    template: str | None = None
    instance_id: int | None = None
    id: int | None = None
    attempt: int = 1
    created_at: dt.datetime | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON document both sinks emit (the webhook contract in README "Notifications")."""
        return {"idempotency_key": self.idempotency_key, "channel": self.channel, "recipient": self.recipient,
                "template": self.template, "body": self.body, "instance_id": self.instance_id,
                "attempt": self.attempt,
                "created_at": self.created_at.isoformat() if self.created_at else None}


@dataclass(frozen=True)
class DeliveryResult:
    """A delivered message; `duplicate` when the receiver already had this idempotency key."""

    detail: str = ""
    duplicate: bool = False


class DeliveryError(Exception):
    """A delivery that did not happen; `retryable` says whether trying later may help."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RetryableError(DeliveryError):
    retryable = True


class PermanentError(DeliveryError):
    retryable = False


class DeferredError(DeliveryError):
    """Not attempted (the receiver is switched off): wait and try again without using up an attempt."""

    retryable = True


class Sink(Protocol):
    def deliver(self, message: OutboundMessage) -> DeliveryResult: ...


class FileSink:
    """Appends one JSON line per message; a key already in the file is not written again.

    The keys in the file are kept in memory and brought up to date from the file's tail under an
    exclusive `flock` before every append, so threads and processes sharing the file stay
    exactly-once. The guarantee holds per file: rotating the file away forgets its keys.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._keys: set[str] = set()
        self._offset = 0  # how far into the file `_keys` reflects
        self._lock = threading.Lock()

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        record = {**message.payload(), "delivered_at": clock.now().isoformat()}
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a+b") as f:
                    if fcntl is not None:
                        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # released when the file closes
                    torn = self._catch_up(f)
                    if message.idempotency_key in self._keys:
                        return DeliveryResult(detail=f"already in {self.path}", duplicate=True)
                    f.write((b"\n" if torn else b"") + line)
                    f.flush()
                    os.fsync(f.fileno())
                    self._keys.add(message.idempotency_key)
                    self._offset = f.tell()
        except OSError as exc:
            raise RetryableError(f"cannot write {self.path}: {exc}") from exc
        return DeliveryResult(detail=f"appended to {self.path}")

    def _catch_up(self, f: IO[bytes]) -> bool:
        """Index keys written since we last looked; True if the file ends in a torn line."""
        size = f.seek(0, os.SEEK_END)
        if size < self._offset:  # truncated or replaced: start over
            self._keys.clear()
            self._offset = 0
        f.seek(self._offset)
        tail = f.read()
        for raw in tail.splitlines():
            try:
                key = json.loads(raw).get("idempotency_key")
            except (ValueError, AttributeError):
                continue  # a torn or foreign line: not ours to interpret
            if isinstance(key, str):
                self._keys.add(key)
        self._offset = size
        return bool(tail) and not tail.endswith(b"\n")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured; urllib would turn the POST into a GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HttpSink:
    """POSTs the message as JSON; 2xx is delivered, 4xx (but 408/429) permanent, the rest retried."""

    def __init__(self, url: str, timeout: float = 10.0, token: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise YekuoError(f"outbox webhook URL must start with http:// or https://, got {url!r}")
        self.url = url
        self.timeout = timeout
        self.token = token or None
        self._opener = urllib.request.build_opener(_NoRedirect)

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        headers = {"Idempotency-Key": message.idempotency_key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return self.post(json.dumps(message.payload(), ensure_ascii=False).encode(), headers)

    def post(self, data: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        """POST `data` as JSON with `headers`; the outcome classified as `deliver` documents."""
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "yekuo-outbox/1", **headers}
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(1024)
                return DeliveryResult(detail=f"HTTP {response.status}")
        except urllib.error.HTTPError as err:
            raise _classify(err) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:  # incl. timeouts
            reason = getattr(err, "reason", err)
            raise RetryableError(f"POST {self.url}: {type(reason).__name__}: {reason}") from None


def _classify(err: urllib.error.HTTPError) -> DeliveryError:
    try:
        text = err.read(300).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    finally:
        err.close()
    message = f"HTTP {err.code} {err.reason}" + (f": {text}" if text else "")
    if 300 <= err.code < 400:
        return PermanentError(f"{message} (redirects are not followed: fix the webhook URL)")
    if 400 <= err.code < 500 and err.code not in (408, 429):
        return PermanentError(message)
    return RetryableError(message, retry_after=_retry_after(err.headers.get("Retry-After")))


def _retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header; the HTTP-date form is ignored (back-off applies)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


#: Sinks for channels of their own, by channel: `factory(settings) -> Sink`; filled by `engine.wiring`.
CHANNEL_SINKS: dict[str, Callable[[Any], Sink]] = {}


class RoutedSink:
    """Hands each message to its channel's own sink, or to the default one."""

    def __init__(self, default: Sink, routes: Mapping[str, Sink]) -> None:
        self.default = default
        self.routes = dict(routes)

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        return self.routes.get(message.channel, self.default).deliver(message)


def from_settings(settings: Any) -> Sink:
    """The sink `YEKUO_OUTBOX_SINK` names (configured from the other `YEKUO_OUTBOX_*` settings),
    routed around for the channels in `CHANNEL_SINKS`."""
    default = _configured(settings)
    if not CHANNEL_SINKS:
        return default
    return RoutedSink(default, {channel: factory(settings) for channel, factory in CHANNEL_SINKS.items()})


def configured(settings: Any) -> Sink:
    """The sink `YEKUO_OUTBOX_SINK` names, without the channel routes (a channel sink's fallback)."""
    return _configured(settings)


def _configured(settings: Any) -> Sink:
    kind = settings.outbox_sink
    if kind == "file":
        return FileSink(settings.outbox_file)
    if kind == "http":
        if not settings.outbox_url:
            raise YekuoError("YEKUO_OUTBOX_SINK=http needs YEKUO_OUTBOX_URL (the webhook to POST to)")
        return HttpSink(settings.outbox_url, settings.outbox_timeout, settings.outbox_token)
    raise YekuoError(f"YEKUO_OUTBOX_SINK must be 'file' or 'http', got {kind!r}")
