"""Delivering the outbox: every queued message leaves at least once, none is lost, failures show.

Commands queue rows (`store.queue_outbox`, in the step's own transaction); a delivery pass
(`deliver_due`, run by the scheduler or `yekuo outbox deliver`) hands them to a sink.

Claiming is exactly-once without extra columns: the lease lives in `next_attempt_at`. A claim moves
a due row's `next_attempt_at` to `now + lease` and increments `attempts` in one statement
(`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serialises writers), so no other worker sees it as
due until the lease runs out. The incremented `attempts` is the claim's fencing token: outcomes are
recorded only while `attempts` still equals it, so a worker whose lease expired and was re-claimed
cannot overwrite the newer claim's result. A crashed worker's rows become due again when the lease
expires; as the attempt was counted at claim time, a message that keeps killing its worker still
ends `failed` after `max_attempts`.

Delivery is at least once: a crash after the sink accepted a message but before it is marked sent
hands it over again, with the same idempotency key, which the receiver uses to drop the repeat.
Outcomes: `sent` (with `sent_at`); on a retryable error `next_attempt_at = now + back-off`
(base × 2^(attempt−1), capped, or the receiver's `Retry-After` if longer); after `max_attempts`,
or at once on a permanent error, `failed` with `last_error` — listed by `list_messages` and
`yekuo outbox list --status failed`, and queued again by `retry_failed` once the cause is fixed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, select, update

from engine.core import clock, config
from engine.core.db import Database
from engine.core.errors import YekuoError
from engine.core.models import outbox_t
from engine.messages import sinks
from engine.messages.sinks import DeferredError, DeliveryError, OutboundMessage, RetryableError, Sink

log = logging.getLogger("yekuo.outbox")
PENDING, SENT, FAILED = "pending", "sent", "failed"
STATUSES = (PENDING, SENT, FAILED)
_ERROR_CHARS = 1000


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry; from `YEKUO_OUTBOX_*` by default."""

    max_attempts: int = 8
    backoff: dt.timedelta = dt.timedelta(seconds=30)
    backoff_max: dt.timedelta = dt.timedelta(hours=1)
    lease: dt.timedelta = dt.timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise YekuoError("YEKUO_OUTBOX_MAX_ATTEMPTS must be at least 1")
        if self.backoff <= dt.timedelta(0) or self.backoff_max < self.backoff:
            raise YekuoError("YEKUO_OUTBOX_BACKOFF must be > 0 and no more than YEKUO_OUTBOX_BACKOFF_MAX")
        if self.lease <= dt.timedelta(0):
            raise YekuoError("YEKUO_OUTBOX_LEASE must be > 0")

    @classmethod
    def from_settings(cls, settings: config.Settings) -> RetryPolicy:
        return cls(max_attempts=settings.outbox_max_attempts,
                   backoff=dt.timedelta(seconds=settings.outbox_backoff),
                   backoff_max=dt.timedelta(seconds=settings.outbox_backoff_max),
                   lease=dt.timedelta(seconds=settings.outbox_lease))

    def delay(self, attempt: int, retry_after: float | None = None) -> dt.timedelta:
        """Wait after the `attempt`-th failure: 30 s, 60 s, 120 s … capped at `backoff_max`."""
        seconds = self.backoff.total_seconds() * 2 ** min(max(attempt - 1, 0), 40)
        if retry_after is not None:
            seconds = max(seconds, retry_after)
        return dt.timedelta(seconds=min(seconds, self.backoff_max.total_seconds()))


@dataclass(frozen=True)
class Claimed:
    """A leased row: the message, and the lease's end and fencing token (`message.attempt`)."""

    message: OutboundMessage
    lease_until: dt.datetime


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    duplicates: int = 0  # counted in `sent` too: the receiver already had the key
    retrying: int = 0
    failed: list[int] = field(default_factory=list)  # ids marked failed in this pass
    lost: int = 0  # outcome not recorded: the lease had passed to another worker
    released: int = 0  # handed back unattempted because the lease was running out
    deferred: int = 0  # not attempted: the receiver is switched off (no attempt used up)

    def __str__(self) -> str:
        text = f"delivered {self.sent} message(s), {self.retrying} to retry, {len(self.failed)} failed"
        extras = [f"{n} {what}" for n, what in ((self.duplicates, "already delivered"),
                                               (self.lost, "lost to another worker"),
                                               (self.released, "handed back"),
                                               (self.deferred, "held: receiver switched off")) if n]
        return text + (f" ({', '.join(extras)})" if extras else "")


@dataclass(frozen=True)
class MessageView:
    """One outbox row, for operators."""

    id: int
    idempotency_key: str
    channel: str
    recipient: str
    template: str | None
    body: str
    instance_id: int | None
    status: str
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str | None
    delivery_state: str | None = None  # the receiver's receipt (SMS platform): delivered, failed, unknown, given_up
    resend_of: int | None = None


def deliver_due(db: Database, now: dt.datetime | None = None, *, sink: Sink | None = None, batch: int = 50,
                worker: str | None = None, policy: RetryPolicy | None = None,
                max_batches: int | None = None) -> DeliveryReport:
    """Deliver every message due at `now` (default: the engine clock), then return.

    Only rows due when the pass starts are taken, so a pass always ends. `worker` names this
    process in the log (default host:pid).
    """
    if sink is None or policy is None:
        settings = config.from_env()
        sink = sink or sinks.from_settings(settings)
        policy = policy or RetryPolicy.from_settings(settings)
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    report = DeliveryReport()
    with clock.using(clock.FixedClock(now)) if now else contextlib.nullcontext():
        due_by = clock.now()
        batches = 0
        while max_batches is None or batches < max_batches:
            claimed = claim_due(db, clock.now(), limit=batch, policy=policy, due_by=due_by)
            if not claimed:
                break
            batches += 1
            report.claimed += len(claimed)
            if not _deliver_batch(db, sink, claimed, policy, report, worker):
                break  # the lease ran short: let the next pass (or another worker) go on
    return report


def claim_due(db: Database, now: dt.datetime, *, limit: int = 50, policy: RetryPolicy | None = None,
              due_by: dt.datetime | None = None) -> list[Claimed]:
    """Lease up to `limit` pending messages due by `due_by` (default `now`), oldest first."""
    policy = policy or RetryPolicy()
    due = and_(outbox_t.c.status == PENDING, outbox_t.c.next_attempt_at <= (due_by or now))
    pick = (select(outbox_t.c.id).where(due, outbox_t.c.attempts < policy.max_attempts)
            .order_by(outbox_t.c.next_attempt_at, outbox_t.c.id).limit(limit))
    if db.is_postgres:
        pick = pick.with_for_update(skip_locked=True)
    lease_until = now + policy.lease
    with db.write() as conn:
        _give_up_abandoned(conn, db, now, policy)
        rows = conn.execute(update(outbox_t).where(outbox_t.c.id.in_(pick.scalar_subquery()))
                            .values(attempts=outbox_t.c.attempts + 1, next_attempt_at=lease_until)
                            .returning(*_MESSAGE_COLUMNS)).all()
    return [Claimed(_message(r), lease_until) for r in sorted(rows, key=lambda r: r.id)]


def list_messages(db: Database, status: str | None = None, *, instance_id: int | None = None,
                  limit: int = 100) -> list[MessageView]:
    """Messages for operators, newest first; `status="failed"` is the list to act on."""
    if status is not None and status not in STATUSES:
        raise YekuoError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    query = select(*(outbox_t.c[f] for f in _VIEW_FIELDS)).order_by(outbox_t.c.id.desc()).limit(limit)
    if status:
        query = query.where(outbox_t.c.status == status)
    if instance_id is not None:
        query = query.where(outbox_t.c.instance_id == instance_id)
    with db.read() as conn:
        return [MessageView(**r._mapping) for r in conn.execute(query)]


def retry_failed(db: Database, ids: Collection[int] | None, now: dt.datetime | None = None) -> int:
    """Queue failed messages again with a fresh set of attempts (`ids=None`: all failed); returns
    how many. `last_error` is kept until the next attempt overwrites it."""
    stmt = (update(outbox_t).where(outbox_t.c.status == FAILED)
            .values(status=PENDING, attempts=0, next_attempt_at=now or clock.now()))
    if ids is not None:
        if not ids:
            return 0
        stmt = stmt.where(outbox_t.c.id.in_(list(ids)))
    with db.write() as conn:
        return conn.execute(stmt).rowcount


# ---------------------------------------------------------------------------------------------

_MESSAGE_COLUMNS = (outbox_t.c.id, outbox_t.c.idempotency_key, outbox_t.c.channel, outbox_t.c.recipient,
                    outbox_t.c.body, outbox_t.c.template, outbox_t.c.instance_id, outbox_t.c.attempts,
                    outbox_t.c.created_at)

_VIEW_FIELDS = tuple(MessageView.__dataclass_fields__)
_RELEASE = (update(outbox_t)
            .where(outbox_t.c.id == bindparam("b_id"), outbox_t.c.status == PENDING,
                   outbox_t.c.attempts == bindparam("b_attempt"))
            .values(attempts=outbox_t.c.attempts - 1, next_attempt_at=bindparam("b_now")))


def _message(row: Any) -> OutboundMessage:
    return OutboundMessage(idempotency_key=row.idempotency_key, channel=row.channel, recipient=row.recipient,
                           body=row.body, template=row.template, instance_id=row.instance_id, id=row.id,
                           attempt=row.attempts, created_at=row.created_at)


def _give_up_abandoned(conn: Any, db: Database, now: dt.datetime, policy: RetryPolicy) -> None:
    """Fail rows whose last allowed attempt never reported back (the worker died with the lease)."""
    stuck = select(outbox_t.c.id).where(outbox_t.c.status == PENDING, outbox_t.c.next_attempt_at <= now,
                                         outbox_t.c.attempts >= policy.max_attempts)
    if db.is_postgres:
        stuck = stuck.with_for_update(skip_locked=True)
    conn.execute(update(outbox_t).where(outbox_t.c.id.in_(stuck.scalar_subquery())).values(
        status=FAILED, last_error=f"gave up after {policy.max_attempts} attempt(s): the last one never "
                                  "reported back (worker stopped, or the lease is shorter than a delivery)"))


def _deliver_batch(db: Database, sink: Sink, claimed: list[Claimed], policy: RetryPolicy,
                   report: DeliveryReport, worker: str) -> bool:
    """Deliver one claimed batch; False if it stopped early because the lease was running out."""
    margin = policy.lease / 5
    for i, item in enumerate(claimed):
        if clock.now() >= item.lease_until - margin:
            _release(db, claimed[i:], report)
            log.warning("%s: outbox lease running out, handed back %d message(s)", worker, len(claimed) - i)
            return False
        _deliver_one(db, sink, item.message, policy, report, worker)
    return True


def _deliver_one(db: Database, sink: Sink, message: OutboundMessage, policy: RetryPolicy,
                 report: DeliveryReport, worker: str) -> None:
    try:
        result = sink.deliver(message)
    except DeferredError as exc:
        _defer(db, message, policy.backoff_max.total_seconds() if exc.retry_after is None else exc.retry_after,
               report)
    except DeliveryError as exc:
        _record_failure(db, message, exc, policy, report, worker)
    except Exception as exc:  # a sink bug or surprise: retry rather than lose the message
        log.exception("%s: sink raised on outbox message %s", worker, message.id)
        _record_failure(db, message, RetryableError(f"{type(exc).__name__}: {exc}"), policy, report, worker)
    else:
        _record_sent(db, message, result.duplicate, report)


def _record_sent(db: Database, message: OutboundMessage, duplicate: bool, report: DeliveryReport) -> None:
    """Delivered is the truth even if a stale sweep marked the row failed meanwhile."""
    with db.write() as conn:
        done = conn.execute(update(outbox_t).where(outbox_t.c.id == message.id,
                                                   outbox_t.c.status.in_((PENDING, FAILED)))
                            .values(status=SENT, sent_at=clock.now())).rowcount
    if done:
        report.sent += 1
        report.duplicates += int(duplicate)
    else:
        report.lost += 1


def _record_failure(db: Database, message: OutboundMessage, exc: DeliveryError, policy: RetryPolicy,
                    report: DeliveryReport, worker: str) -> None:
    now = clock.now()
    error = f"attempt {message.attempt}: {exc}"[:_ERROR_CHARS]
    give_up = not exc.retryable or message.attempt >= policy.max_attempts
    values: dict[str, Any] = {"last_error": error}
    if give_up:
        values["status"] = FAILED
    else:
        values["next_attempt_at"] = now + policy.delay(message.attempt, exc.retry_after)
    with db.write() as conn:
        done = conn.execute(update(outbox_t).where(outbox_t.c.id == message.id, outbox_t.c.status == PENDING,
                                                   outbox_t.c.attempts == message.attempt)
                            .values(**values)).rowcount
    if not done:
        report.lost += 1
    elif give_up:
        report.failed.append(message.id)
        log.warning("%s: outbox message %s (%s) failed for good: %s", worker, message.id,
                    message.idempotency_key, error)
    else:
        report.retrying += 1
        log.info("%s: outbox message %s will be retried at %s: %s", worker, message.id,
                 values["next_attempt_at"].isoformat(), error)


def _defer(db: Database, message: OutboundMessage, seconds: float, report: DeliveryReport) -> None:
    """The receiver is switched off: undo the claim's attempt and wait, so no attempt is used up."""
    with db.write() as conn:
        conn.execute(_RELEASE, [{"b_id": message.id, "b_attempt": message.attempt,
                                 "b_now": clock.now() + dt.timedelta(seconds=seconds)}])
    report.deferred += 1


def _release(db: Database, items: list[Claimed], report: DeliveryReport) -> None:
    """Hand unattempted rows back: undo the claim's attempt count, make them due at once."""
    now = clock.now()
    params = [{"b_id": c.message.id, "b_attempt": c.message.attempt, "b_now": now} for c in items]
    with db.write() as conn:
        conn.execute(_RELEASE, params)
    report.released += len(items)
