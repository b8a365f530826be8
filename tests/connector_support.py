"""Shared set-up of the connector tests: configured systems, simulated peers, signed calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.connectors import outbound, signing, sms_platform
from engine.connectors.simulator import Faults, SimulatedPeer, serve
from engine.core import clock as engine_clock
from engine.intake import documents
from engine.messages import outbox
from engine.messages.sinks import FileSink, RoutedSink
from tests.api_support import PDF, application_example

SECRETS = {"95598": "secret-95598", "marketing": "secret-marketing", "callcenter": "secret-callcenter",
           "sms": "secret-sms", "verification": "secret-verification"}
POLICY = outbox.RetryPolicy(max_attempts=4, backoff=__import__("datetime").timedelta(seconds=30))


class Peers:
    """The simulated systems behind one loopback server, reaching the app through its test client."""

    def __init__(self, app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        self.client = app.test_client()
        self.peers = {s: SimulatedPeer(s, secret, transport=self._transport, now=engine_clock.now)
                      for s, secret in SECRETS.items()}
        self.server = serve(self.peers)
        for system, secret in SECRETS.items():
            prefix = f"YEKUO_CONNECTOR_{system.upper()}_"
            monkeypatch.setenv(prefix + "URL", f"http://127.0.0.1:{self.server.server_port}/{system}")
            monkeypatch.setenv(prefix + "SECRET", secret)
            monkeypatch.setenv(prefix + "ENABLED", "1")
            monkeypatch.setenv(prefix + "TIMEOUT", "0.5")
        files = FileSink(tmp_path / "outbox.jsonl")
        self.sink = RoutedSink(files, {outbound.CHANNEL: outbound.ConnectorSink(),
                                       sms_platform.CHANNEL: sms_platform.SmsPlatformSink(files)})

    def _transport(self, system: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        r = self.client.post(f"/api/v1/inbound/{system}", data=body, headers=headers,
                             content_type="application/json")
        return r.status_code, r.get_json()

    def __getitem__(self, system: str) -> SimulatedPeer:
        return self.peers[system]

    def fault(self, system: str, **faults: Any) -> None:
        self.peers[system].faults = Faults(**faults)

    def deliver(self, db: Any) -> outbox.DeliveryReport:
        return outbox.deliver_due(db, sink=self.sink, policy=POLICY)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def signed(system: str, payload: dict[str, Any], message_id: str, *, secret: str | None = None,
           now: Any = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return body, signing.headers(secret or SECRETS[system], message_id, body, now or engine_clock.now())


def application_95598(db: Any, tmp_path: Path, ticket: str) -> dict[str, Any]:
    """A 95598 application whose documents 95598 filed with us beforehand (client `system:95598`)."""
    data = application_example()
    data["documents"] = {name: {"ref": documents.store(db, PDF + name.encode(), filename=v["name"],
                                                       uploaded_by="system:95598", root=tmp_path / "docs").ref,
                                "name": v["name"]} for name, v in data["documents"].items()}
    return {"type": "application", "ticket_no": ticket, "application": data}
