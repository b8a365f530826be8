"""Settings, read from the environment once; every value has a working default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///instance/yekuo.db"
    secret_key: str = "dev-only-change-me"
    forms_dir: Path = PROJECT_ROOT / "forms"
    bpmn_dir: Path = PROJECT_ROOT / "bpmn"
    demo_password: str = "demo"
    demo: bool = False  # YEKUO_DEMO=1 (set by `make run`): a banner on every page, the "fill demo data" button
    max_bpmn_bytes: int = 5 * 1024 * 1024
    script_time_limit: float = 1.0
    script_workers: int = 2  # sandbox worker processes per server process (engine.core.scripting.worker)
    script_memory_mb: int = 256  # what one script call may add to a worker's address space
    scheduler_interval: float = 5.0
    calendar_fallback: bool = False  # count years without official calendar Mon–Fri, provisionally
    # notifications outbox (engine.messages.outbox, engine.messages.sinks, engine.messages.templates)
    outbox_sink: str = "file"
    outbox_file: Path = Path("instance/outbox.jsonl")
    outbox_url: str = ""
    outbox_token: str = ""
    outbox_timeout: float = 10.0
    outbox_interval: float = 5.0
    outbox_batch: int = 50
    outbox_max_attempts: int = 8
    outbox_backoff: float = 30.0
    outbox_backoff_max: float = 3600.0
    outbox_lease: float = 300.0
    templates_file: Path | None = None
    # history anchors (engine.audit.anchor): the key must not live in the database
    anchor_key: str = ""
    anchor_dir: Path = Path("instance/anchors")
    anchor_at: str = "00:30"  # China time, daily
    # the dispatch centre (engine.dispatch.lists, engine.dispatch.works): China time of the two daily dispatch
    # lists, seconds between works-list synchronisations, days between works follow-ups
    dispatch_am_at: str = "07:30"
    dispatch_pm_at: str = "12:30"
    works_sync_interval: float = 3600.0
    works_follow_up_days: int = 7
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
        demo=env.get("YEKUO_DEMO", "").strip().lower() in {"1", "true", "yes", "on"},
        max_bpmn_bytes=int(env.get("YEKUO_MAX_BPMN_BYTES", base.max_bpmn_bytes)),
        script_time_limit=float(env.get("YEKUO_SCRIPT_TIME_LIMIT", base.script_time_limit)),
        script_workers=int(env.get("YEKUO_SCRIPT_WORKERS", base.script_workers)),
        script_memory_mb=int(env.get("YEKUO_SCRIPT_MEMORY_MB", base.script_memory_mb)),
        scheduler_interval=float(env.get("YEKUO_SCHEDULER_INTERVAL", base.scheduler_interval)),
        calendar_fallback=env.get("YEKUO_CALENDAR_FALLBACK", "").strip().lower() in {"1", "true", "yes", "on"},
        outbox_sink=env.get("YEKUO_OUTBOX_SINK", base.outbox_sink).strip().lower(),
        outbox_file=Path(env.get("YEKUO_OUTBOX_FILE", str(base.outbox_file))),
        outbox_url=env.get("YEKUO_OUTBOX_URL", base.outbox_url),
        outbox_token=env.get("YEKUO_OUTBOX_TOKEN", base.outbox_token),
        outbox_timeout=float(env.get("YEKUO_OUTBOX_TIMEOUT", base.outbox_timeout)),
        outbox_interval=float(env.get("YEKUO_OUTBOX_INTERVAL", base.outbox_interval)),
        outbox_batch=int(env.get("YEKUO_OUTBOX_BATCH", base.outbox_batch)),
        outbox_max_attempts=int(env.get("YEKUO_OUTBOX_MAX_ATTEMPTS", base.outbox_max_attempts)),
        outbox_backoff=float(env.get("YEKUO_OUTBOX_BACKOFF", base.outbox_backoff)),
        outbox_backoff_max=float(env.get("YEKUO_OUTBOX_BACKOFF_MAX", base.outbox_backoff_max)),
        outbox_lease=float(env.get("YEKUO_OUTBOX_LEASE", base.outbox_lease)),
        templates_file=Path(env["YEKUO_TEMPLATES_FILE"]) if env.get("YEKUO_TEMPLATES_FILE") else None,
        anchor_key=env.get("YEKUO_ANCHOR_KEY", base.anchor_key),
        anchor_dir=Path(env.get("YEKUO_ANCHOR_DIR", str(base.anchor_dir))),
        anchor_at=env.get("YEKUO_ANCHOR_AT", base.anchor_at),
        dispatch_am_at=env.get("YEKUO_DISPATCH_AM", base.dispatch_am_at).strip(),
        dispatch_pm_at=env.get("YEKUO_DISPATCH_PM", base.dispatch_pm_at).strip(),
        works_sync_interval=float(env.get("YEKUO_WORKS_SYNC_INTERVAL", base.works_sync_interval)),
        works_follow_up_days=int(env.get("YEKUO_WORKS_FOLLOW_UP_DAYS", base.works_follow_up_days)),
    )
