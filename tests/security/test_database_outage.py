"""PostgreSQL stopped and started again under a running app: 503s while it is gone, then the app
serves again by itself, with no restart and no request lost to a stale pooled connection.

The outage is a TCP relay in front of the test server that drops every connection and stops
listening, then listens again: to the app that is exactly a database server stopped and restarted.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from api.app import create_app
from engine.core import config
from engine.core.db import Database
from tests.api_support import TEST_SECRET, seed_users, token_for
from tests.conftest import PG_URL, _clean_postgres

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs YEKUO_TEST_PG_URL (a PostgreSQL outage)")


class Relay:
    """Forwards 127.0.0.1:port to the real server until `stop()`; `start()` listens on the same port again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """The server goes away: no new connections, every open one cut."""
        assert self._listener is not None
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def relayed(pg_database: str) -> Iterator[tuple[Relay, Database]]:
    direct = Database(pg_database)
    _clean_postgres(direct)
    seed_users(direct)
    direct.dispose()
    url = make_url(pg_database)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    relay.start()
    db = Database(url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False),
                  connect_args={"connect_timeout": 2})
    yield relay, db
    relay.stop()
    db.dispose()


def test_the_app_answers_503_while_postgresql_is_down_and_recovers_when_it_is_back(
        relayed: tuple[Relay, Database]) -> None:
    relay, db = relayed
    app = create_app(config.Settings(database_url=db.url, secret_key=TEST_SECRET), db)
    client = app.test_client()
    token = {"Authorization": f"Bearer {token_for(app, 'clerk')}"}
    assert client.get("/api/v1/tasks", headers=token).status_code == 200  # the pool now holds a connection

    relay.stop()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["error"]["code"] == "database_unavailable"
    down = client.get("/api/v1/tasks?candidate_group=clerk", headers=token)
    assert down.status_code == 503 and down.headers["Retry-After"]
    assert down.get_json()["error"]["code"] == "database_unavailable"

    relay.start()  # the server is back, on the same address
    assert client.get("/healthz").get_json()["status"] == "ok"
    back = client.get("/api/v1/tasks?candidate_group=clerk", headers=token)
    assert back.status_code == 200, back.get_json()
    started = client.post("/api/v1/process-instances", headers=token, json={"key": "nothing_deployed", "data": {}})
    assert started.status_code == 404  # a write path reaches the database again (and finds no such model)
