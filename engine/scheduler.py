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

from engine import config, outbox, sinks, timers
from engine.db import Database

log = logging.getLogger("yekuo.scheduler")


def fire_due_job(db: Database) -> None:
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
    return scheduler
