"""Settings, read from the environment once; every value has a working default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///instance/yekuo.db"
    secret_key: str = "dev-only-change-me"
    forms_dir: Path = PROJECT_ROOT / "forms"
    bpmn_dir: Path = PROJECT_ROOT / "bpmn"
    demo_password: str = "demo"
    max_bpmn_bytes: int = 5 * 1024 * 1024
    script_time_limit: float = 1.0
    scheduler_interval: float = 5.0
    extra: dict[str, str] = field(default_factory=dict)


def from_env(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    base = Settings()
    return Settings(
        database_url=env.get("YEKUO_DATABASE_URL", base.database_url),
        secret_key=env.get("YEKUO_SECRET_KEY", base.secret_key),
        forms_dir=Path(env.get("YEKUO_FORMS_DIR", str(base.forms_dir))),
        bpmn_dir=Path(env.get("YEKUO_BPMN_DIR", str(base.bpmn_dir))),
        demo_password=env.get("YEKUO_DEMO_PASSWORD", base.demo_password),
        max_bpmn_bytes=int(env.get("YEKUO_MAX_BPMN_BYTES", base.max_bpmn_bytes)),
        script_time_limit=float(env.get("YEKUO_SCRIPT_TIME_LIMIT", base.script_time_limit)),
        scheduler_interval=float(env.get("YEKUO_SCHEDULER_INTERVAL", base.scheduler_interval)),
    )
