"""The connectors page (/connectors) without a browser: who may open it, what it shows of each
system, and 重新投递 of a dead letter (a CSRF-checked POST that only queues connector messages).

SQLite only, like tests/test_web_pages.py: the engine parts are tested on both backends.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, update

from engine.connectors import health, outbound
from engine.core import clock as engine_clock
from engine.core import store, users
from engine.core.models import outbox_t
from engine.core.services import Effects
from tests.test_web_pages import app, calendar_db  # noqa: F401  (fixtures)
from tests.web_support import csrf_of, sign_in


def dead_letter(db: Any, iid: int = 7, *, system: str = "marketing", channel: str | None = None) -> int:
    """A connector message that used up its attempts (as the outbox leaves one)."""
    step = SimpleNamespace(instance_id=iid, business_key=f"YK-{iid}", now=engine_clock.now(), effects=Effects())
    if channel:
        step.effects.send(channel, "13800000000", "text", key=f"{channel}:{iid}:x", template="x")
    else:
        outbound.push(step, system, "account_request", "account_request", customer={"customer_name": "张伟"})
    with db.write() as conn:
        store.queue_outbox(conn, step)
        key = step.effects.outbox[0]["idempotency_key"]
        conn.execute(update(outbox_t).where(outbox_t.c.idempotency_key == key).values(
            status="failed", attempts=8, last_error="HTTP 503 Service Unavailable: simulated failure"))
        return conn.execute(select(outbox_t.c.id).where(outbox_t.c.idempotency_key == key)).scalar_one()


@pytest.fixture
def web(app: Any, calendar_db: Any, clock: Any) -> Any:  # noqa: F811
    for name in ("supervisor", "admin"):
        users.upsert_user(calendar_db, name, "demo", [name], display_name=f"演示{name}")
    app.db = calendar_db
    return app


def test_only_admins_and_supervisors_see_the_page(web: Any) -> None:
    for name in ("admin", "supervisor"):
        page = sign_in(web, name).get("/connectors")
        assert page.status_code == 200
        assert "系统接口" in page.text and 'data-testid="nav-connectors"' in page.text
    for name in ("clerk", "dispatcher", "auditor"):
        client = sign_in(web, name)
        assert client.get("/connectors").status_code == 403
        assert 'data-testid="nav-connectors"' not in client.get("/tasks").text
        assert client.post("/connectors/redeliver", data={"id": "1"}).status_code in (400, 403)
    assert web.test_client().get("/connectors").status_code in (302, 401)


def test_the_page_shows_each_system_and_its_dead_letters(web: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("YEKUO_CONNECTOR_MARKETING_URL", "http://127.0.0.1:9/marketing")
    monkeypatch.setenv("YEKUO_CONNECTOR_MARKETING_SECRET", "s")
    monkeypatch.setenv("YEKUO_CONNECTOR_MARKETING_ENABLED", "1")
    dead = dead_letter(web.db)
    page = sign_in(web, "supervisor").get("/connectors").text
    for name in ("95598 供电服务系统", "营销系统", "话务平台", "短信平台", "鉴定平台"):
        assert name in page
    assert page.count('data-testid="connector-row"') == 5
    assert f'data-testid="dead-letter" data-id="{dead}"' in page and "重新投递" in page
    assert "simulated failure" in page and "已启用" in page and "未配置" in page
    [marketing] = [s for s in health.overview(web.db) if s.system == "marketing"]
    assert (marketing.dead_letters, marketing.pending, marketing.enabled) == (1, 0, True)
    assert "Connectors" not in page and "Dead letters" not in page  # no English on the zh-CN page


def test_redeliver_queues_the_dead_letter_again_with_a_valid_token_only(web: Any) -> None:
    dead = dead_letter(web.db)
    other = dead_letter(web.db, 8, channel="webhook")  # not a connector message: not this page's to touch
    client = sign_in(web, "admin")
    page = client.get("/connectors").text
    assert client.post("/connectors/redeliver", data={"id": str(dead)}).status_code == 400  # no token
    assert client.post("/connectors/redeliver", data={"id": str(dead), "csrf_token": "forged"}).status_code == 400
    done = client.post("/connectors/redeliver", data={"id": [str(dead), str(other), "x'; drop"],
                                                      "csrf_token": csrf_of(page)}, follow_redirects=True)
    assert done.status_code == 200 and "已重新投递 1 条消息" in done.text
    with web.db.read() as conn:
        rows = dict(conn.execute(select(outbox_t.c.id, outbox_t.c.status)).all())
    assert (rows[dead], rows[other]) == ("pending", "failed")
    again = client.post("/connectors/redeliver", data={"id": str(dead), "csrf_token": csrf_of(page)},
                        follow_redirects=True)
    assert "无需重新投递" in again.text
