"""The security tests reuse the browser tests' live server, Chromium and console-error check
(a Content-Security-Policy violation fails a test); the server here has its own database."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import (  # noqa: F401  (fixtures)
    LiveServer,
    _frozen,
    artifacts,
    browser_type_launch_args,
    console_errors,
    frozen_clock,
    live_server,
    new_context,
    web_db,
)


@pytest.fixture(scope="session")
def browser_context_args(live_server: LiveServer) -> dict[str, Any]:
    """This server's address; not built on the browser plugin's fixture, which is cached once per
    session with whichever server asked first (the browser tests' own)."""
    return {"base_url": live_server.url, "viewport": {"width": 1440, "height": 900}, "locale": "zh-CN",
            "timezone_id": "Asia/Shanghai"}
