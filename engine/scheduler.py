"""APScheduler wiring: the jobs that make time-driven work happen.

Runs inside `yekuo serve` (background thread) or alone as `yekuo scheduler`. Every job is safe to
run in several processes at once (claims in the database decide who does what), and the first run
happens at start-up, so anything that fell due while nothing was running is caught up at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine.core import config, heartbeat, timers
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.deadlines import calendar_watch
from engine.messages import outbox, sinks

log = logging.getLogger("yekuo.scheduler")


def fire_due_job(db: Database) -> None:
    heartbeat.beat(db, timers.worker_name())  # `/healthz` tells whether a scheduler is running
    report = timers.fire_due(db)
    if report.fired or report.failed:
        log.info("%s", report)


def deliver_outbox_job(db: Database, sink: sinks.Sink, policy: outbox.RetryPolicy, batch: int) -> None:
    report = outbox.deliver_due(db, sink=sink, policy=policy, batch=batch)
    if report.claimed:
        log.info("outbox: %s", report)


def build(db: Database, *, interval: float = 5.0, blocking: bool = False,
          settings: config.Settings | None = None) -> Any:
    settings = settings or config.from_env()
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=dt.timezone.utc)
    scheduler.add_job(fire_due_job, "interval", args=[db], seconds=interval, id="fire_due",
                      max_instances=1, coalesce=True, next_run_time=dt.datetime.now(dt.timezone.utc))
    # one sink per process: the file sink's key index lives as long as the scheduler
    scheduler.add_job(deliver_outbox_job, "interval", seconds=settings.outbox_interval, id="deliver_outbox",
                      args=[db, sinks.from_settings(settings), outbox.RetryPolicy.from_settings(settings),
                            settings.outbox_batch],
                      max_instances=1, coalesce=True, next_run_time=dt.datetime.now(dt.timezone.utc))
    # the dispatch centre: each team's list at the morning and afternoon times (and once at start-up,
    # which makes any list of today that fell due while nothing ran); the works list every so often
    for slot, at in (("am", settings.dispatch_am_at), ("pm", settings.dispatch_pm_at)):
        hour, minute = (int(x) for x in at.split(":"))
        scheduler.add_job(dispatch_lists_job, "cron", hour=hour, minute=minute, timezone=CHINA,
                          id=f"dispatch_lists_{slot}", args=[db, settings], max_instances=1, coalesce=True,
                          misfire_grace_time=3600)
    scheduler.add_job(dispatch_lists_job, "date", run_date=dt.datetime.now(dt.timezone.utc), id="dispatch_lists_start",
                      args=[db, settings])
    scheduler.add_job(works_list_job, "interval", seconds=settings.works_sync_interval, id="works_list",
                      args=[db, settings], max_instances=1, coalesce=True,
                      next_run_time=dt.datetime.now(dt.timezone.utc))
    # a calendar year still missing: the admins and supervisors hear of it every working morning
    scheduler.add_job(calendar_watch.daily, "cron", hour=8, minute=30, timezone=CHINA, id="calendar_watch",
                      args=[db], max_instances=1, coalesce=True, misfire_grace_time=6 * 3600)
    if settings.anchor_key:
        hour, minute = (int(x) for x in settings.anchor_at.split(":"))
        scheduler.add_job(anchor_job, "cron", hour=hour, minute=minute, timezone=CHINA, id="anchor",
                          args=[db, settings.anchor_key.encode(), settings.anchor_dir],
                          max_instances=1, coalesce=True, misfire_grace_time=6 * 3600)
    else:
        log.warning("YEKUO_ANCHOR_KEY is not set: no daily history anchors are written")
    return scheduler


def anchor_job(db: Database, key: bytes, directory: Any) -> None:
    """The daily signed digest of every chain head (see engine.audit.anchor)."""
    from pathlib import Path

    from engine.audit import anchor

    path = anchor.write(anchor.create(db, key), Path(directory))
    log.info("history anchor written to %s", path)


def dispatch_lists_job(db: Database, settings: config.Settings, now: dt.datetime | None = None) -> list[Any]:
    """Make every team's dispatch list that is due at `now` (idempotent: see engine.dispatch.lists)."""
    from engine.dispatch import lists as dispatch

    made = dispatch.generate_due(db, now, am_at=settings.dispatch_am_at, pm_at=settings.dispatch_pm_at)
    if made:
        log.info("dispatch lists: %s", ", ".join(f"{m.team} {m.day} {m.slot} ({len(m.entries)} jobs)" for m in made))
    return made


def works_list_job(db: Database, settings: config.Settings) -> Any:
    """Put cases now waiting for construction works on the 清册; close those whose works are done."""
    from engine.dispatch import works

    report = works.sync(db, interval_days=settings.works_follow_up_days)
    if report.added or report.done:
        log.info("%s", report)
    return report
