"""Per-system connector settings from `YEKUO_CONNECTOR_<SYSTEM>_URL/_SECRET/_ENABLED/_TIMEOUT`.

Read from the environment on use (not once at start), so a connector can be switched off for the
next delivery without a restart of the scheduler's settings object.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from engine.core.errors import NotFound

#: The systems with a connector, by the name used in URLs, channels and settings.
SYSTEMS: dict[str, str] = {"95598": "95598 供电服务系统", "marketing": "营销系统", "callcenter": "话务平台",
                           "sms": "短信平台", "verification": "鉴定平台"}
#: Inbound calls outside this many seconds of our clock are refused (replays, skewed clocks).
WINDOW_SECONDS = 300


@dataclass(frozen=True)
class ConnectorConfig:
    """One system's connector: where its receiver listens, the shared secret, and whether it is on."""

    system: str
    url: str = ""
    secret: str = ""
    enabled: bool = False
    timeout: float = 10.0

    @property
    def ready(self) -> bool:
        """Switched on and with a secret: what both directions need."""
        return self.enabled and bool(self.secret)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def get(system: str, environ: Mapping[str, str] | None = None) -> ConnectorConfig:
    """The connector of `system`; NotFound for a system without one."""
    if system not in SYSTEMS:
        raise NotFound(f"no connector for system {system!r}; known: {', '.join(SYSTEMS)}")
    env = os.environ if environ is None else environ
    prefix = f"YEKUO_CONNECTOR_{system.upper()}_"
    return ConnectorConfig(system=system, url=env.get(prefix + "URL", "").strip(), secret=env.get(prefix + "SECRET", ""),
                           enabled=_flag(env.get(prefix + "ENABLED")),
                           timeout=float(env.get(prefix + "TIMEOUT", "10") or 10))
