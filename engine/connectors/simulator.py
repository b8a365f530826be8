"""A simulated peer of 95598, the marketing system, the call centre, the SMS platform or the meter
verification platform, for tests
and demos (`yekuo peers serve`).

It receives Yekuo's signed documents like the real system: checks the signature, applies each
message id once (a repeat is answered 200 and applied no more), and can misbehave on purpose —
hold the answer past the sender's timeout (after applying, as a real peer whose answer got lost),
answer 503 a number of times, send its own calls twice, or send queued calls newest first. The
marketing peer answers an `account_request` with an `account_number` call back to Yekuo, the call
centre a `call_task` with a `call_result`, the SMS platform an `sms` with a `delivery_receipt`, the
verification platform a `verification_order` with a `verification_result` (what
they answer can be scripted, e.g. unreached calls or failed SMS); every peer can send any call
(`send`), signed with their secret.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from engine.connectors import signing

#: `transport(system, headers, body) -> (status, json body)`: how the peer reaches Yekuo's inbound API.
Transport = Callable[[str, dict[str, str], bytes], tuple[int, Any]]


@dataclass
class Faults:
    """How the peer misbehaves; counts are per message id, in this order."""

    timeouts: int = 0  # first deliveries: applied, but answered only after `delay` seconds
    failures: int = 0  # then: answered 503, not applied
    delay: float = 1.0
    duplicate_calls: bool = False  # each call to Yekuo is sent twice (same message id)
    reverse_calls: bool = False  # queued calls go out newest first


@dataclass
class Delivery:
    message_id: str
    type: str
    status: int


@dataclass
class SimulatedPeer:
    system: str
    secret: str
    faults: Faults = field(default_factory=Faults)
    transport: Transport | None = None
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))  # the peer's clock
    deliveries: list[Delivery] = field(default_factory=list)  # every POST Yekuo made, in order
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)  # message id → document, once each
    outbox: list[dict[str, Any]] = field(default_factory=list)  # calls to Yekuo waiting for `flush`
    replies: list[tuple[int, Any]] = field(default_factory=list)  # what Yekuo answered them
    script: list[dict[str, Any]] = field(default_factory=list)  # the next answers' fields, in order (then defaults)
    _tries: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # -- receiving Yekuo's documents ---------------------------------------------------------------
    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one POST from Yekuo (status, JSON); sleeps first when a timeout is due."""
        try:
            message_id = signing.verify(self.secret, headers, body, self.now())
        except signing.BadSignature as exc:
            return 401, {"error": str(exc)}
        document = json.loads(body)
        with self._lock:
            tries = self._tries[message_id] = self._tries.get(message_id, 0) + 1
            failing = self.faults.timeouts < tries <= self.faults.timeouts + self.faults.failures
            status, answer = (503, {"error": "simulated failure"}) if failing else self._apply(message_id, document)
            self.deliveries.append(Delivery(message_id, document.get("type", "?"), status))
        if tries <= self.faults.timeouts:
            time.sleep(self.faults.delay)
        return status, answer

    def _apply(self, message_id: str, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if message_id in self.applied:
            return 200, {"duplicate": True}
        self.applied[message_id] = document
        if self.system == "marketing" and document.get("type") == "account_request":
            self.outbox.append({"type": "account_number", "application_no": document.get("application_no"),
                                "account_no": f"30{len(self.applied):08d}",
                                "issued_at": self.now().isoformat()})
        answer = ANSWERS.get((self.system, document.get("type")))
        if answer is not None:
            self.outbox.append({**answer(document, self.now()), **(self.script.pop(0) if self.script else {})})
        return 200, {"accepted": True}

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """The documents of `kind` applied, each once."""
        return [d for d in self.applied.values() if d.get("type") == kind]

    # -- calling Yekuo ---------------------------------------------------------------------------
    def send(self, payload: dict[str, Any], message_id: str | None = None,
             now: dt.datetime | None = None) -> tuple[int, Any]:
        """Sign and send one call to Yekuo now (twice when `duplicate_calls`); the last reply."""
        if self.transport is None:
            raise RuntimeError("this peer has no way to reach Yekuo (transport)")
        body = json.dumps(payload, ensure_ascii=False).encode()
        message_id = message_id or f"{self.system}-sim-{next(self._ids):06d}"
        reply: tuple[int, Any] = (0, None)
        for _ in range(2 if self.faults.duplicate_calls else 1):
            headers = signing.headers(self.secret, message_id, body, now or self.now())
            reply = self.transport(self.system, headers, body)
            self.replies.append(reply)
        return reply

    def flush(self) -> list[tuple[int, Any]]:
        """Send the queued calls (newest first when `reverse_calls`); keep those Yekuo asked to resend."""
        with self._lock:
            queued, self.outbox = self.outbox, []
        order = list(reversed(queued)) if self.faults.reverse_calls else queued
        replies, keep = [], []
        for payload in order:
            status, body = self.send(payload)
            replies.append((status, body))
            if status in (404, 409, 503):
                keep.append(payload)
        with self._lock:
            self.outbox[:0] = keep
        return replies


def _call_result(document: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return {"type": "call_result", "task_no": document.get("task_no"), "result": "answered", "satisfaction": 5,
            "duration_s": 95, "recording_ref": f"rec/{document.get('task_no')}.mp3", "called_at": now.isoformat()}


def _receipt(document: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return {"type": "delivery_receipt", "message_id": document.get("message_id"), "status": "delivered",
            "reported_at": now.isoformat()}


def _verification(document: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return {"type": "verification_result", "verification_no": document.get("verification_no"), "passed": True,
            "error_pct": 0.3, "certificate_ref": f"JDZS-{document.get('verification_no')}",
            "verified_at": now.isoformat()}


#: What a peer calls back after applying a document, by (system, document type).
ANSWERS: dict[tuple[str, Any], Callable[[dict[str, Any], dt.datetime], dict[str, Any]]] = {
    ("callcenter", "call_task"): _call_result, ("sms", "sms"): _receipt,
    ("verification", "verification_order"): _verification}


def http_transport(base_url: str, timeout: float = 10.0) -> Transport:
    """Reach Yekuo's `POST /api/v1/inbound/<system>` over HTTP."""

    def post(system: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        request = urllib.request.Request(f"{base_url.rstrip('/')}/api/v1/inbound/{system}", data=body, method="POST",
                                         headers={**headers, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    return post


def serve(peers: dict[str, SimulatedPeer], host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Serve the peers at `/<system>` in a background thread; `server.server_port` is the port."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            peer = peers.get(self.path.strip("/"))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, answer = (404, {"error": "no such peer"}) if peer is None else peer.handle(dict(self.headers), body)
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the sender gave up waiting (a simulated timeout)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="yekuo-peers", daemon=True).start()
    return server
