"""The notifications outbox: delivery at least once through real sinks, back-off, visible failures,
exactly-once claiming across workers, the Chinese message templates, and the operator CLI."""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from engine import scheduler
from engine.core import clock as engine_clock
from engine.core import config, store
from engine.core.errors import YekuoError
from engine.core.models import outbox_t
from engine.core.services import Effects
from engine.messages import outbox, templates
from engine.messages.sinks import FileSink, HttpSink, OutboundMessage, PermanentError, RetryableError
from tests.cli_support import yekuo as run

ACCEPTED = {"customer_name": "张三", "business_type": "低压居民新装", "application_no": "YK20260302001",
            "service_phone": "95598"}


# --- helpers ----------------------------------------------------------------------------------

def queue(db, n=1, *, prefix="msg", template="accepted", fields=ACCEPTED, instance_id=7):
    """Queue `n` messages through the engine's own queueing (as a command's transaction does)."""
    effects = Effects()
    for i in range(n):
        effects.send("sms", f"1380013{i:04d}", templates.render(template, fields), key=f"{prefix}-{i}",
                     template=template)
    step = SimpleNamespace(effects=effects, instance_id=instance_id, now=engine_clock.now())
    with db.write() as conn:
        store.queue_outbox(conn, step)
    return [f"{prefix}-{i}" for i in range(n)]


def rows(db):
    with db.read() as conn:
        return {r.idempotency_key: r for r in conn.execute(select(outbox_t).order_by(outbox_t.c.id))}


class Gateway:
    """A webhook receiver: answers the planned statuses first, then `default`; records every request."""

    def __init__(self) -> None:
        self.plan: list[int | tuple[int, dict[str, str]]] = []
        self.default = 200
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.url = ""

    def keys(self) -> collections.Counter:
        return collections.Counter(r["key"] for r in self.requests)


@pytest.fixture
def gateway():
    gw = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/slow":
                gw.release.wait(5)
            with gw.lock:
                gw.requests.append({"key": self.headers["Idempotency-Key"], "body": body, "path": self.path})
                planned = gw.plan.pop(0) if gw.plan else gw.default
            status, headers = planned if isinstance(planned, tuple) else (planned, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    gw.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield gw
    gw.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def restore_templates():
    yield
    templates.reload()


# --- file sink --------------------------------------------------------------------------------

def test_file_sink_delivers_and_marks_sent(db, clock, tmp_path):
    path = tmp_path / "out" / "outbox.jsonl"
    keys = queue(db, 2)
    report = outbox.deliver_due(db, sink=FileSink(path))
    assert (report.claimed, report.sent, report.retrying, report.failed) == (2, 2, 0, [])
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["idempotency_key"] for line in lines] == keys
    assert lines[0]["body"].startswith("【供电服务】尊敬的张三，您的低压居民新装申请已受理")
    assert "已受理" in path.read_text(encoding="utf-8")  # readable Chinese, not \\u escapes
    for row in rows(db).values():
        assert (row.status, row.attempts, row.sent_at) == ("sent", 1, clock.now())
    assert outbox.deliver_due(db, sink=FileSink(path)).claimed == 0


def test_file_sink_writes_a_key_once_even_when_delivered_twice(db, clock, tmp_path):
    path = tmp_path / "outbox.jsonl"
    [key] = queue(db, 1)
    assert outbox.deliver_due(db, sink=FileSink(path)).sent == 1
    # the worker "crashed" after the sink wrote but before the row was marked sent
    with db.write() as conn:
        conn.execute(update(outbox_t).values(status="pending", sent_at=None, next_attempt_at=clock.now()))
    again = outbox.deliver_due(db, sink=FileSink(path))  # a fresh process: index rebuilt from the file
    assert (again.sent, again.duplicates) == (1, 1)
    assert len(path.read_text(encoding="utf-8").splitlines()) == 1
    assert rows(db)[key].status == "sent"


def test_file_sink_is_exactly_once_across_threads_and_torn_lines(tmp_path):
    path = tmp_path / "outbox.jsonl"
    path.write_bytes(b'{"idempotency_key":"old"}\n{"idempotency_key":"torn')  # a writer died mid-line
    message = OutboundMessage("k-1", "sms", "13800138000", "正文")
    sinks = [FileSink(path) for _ in range(4)]  # separate instances, like separate processes
    results = []
    threads = [threading.Thread(target=lambda s=s: results.append(s.deliver(message))) for s in sinks * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(not r.duplicate for r in results) == 1
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["idempotency_key"] == "k-1"
    assert len(lines) == 3  # old, the torn fragment kept on its own line, k-1
    assert sinks[0].deliver(OutboundMessage("old", "sms", "1", "x")).duplicate


# --- HTTP sink --------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_http_sink_retryable_statuses(gateway, status):
    gateway.plan = [status]
    with pytest.raises(RetryableError, match=f"HTTP {status}"):
        HttpSink(gateway.url, timeout=5).deliver(OutboundMessage("k", "sms", "1", "x"))


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
def test_http_sink_permanent_statuses(gateway, status):
    gateway.plan = [status]
    with pytest.raises(PermanentError, match=f"HTTP {status}"):
        HttpSink(gateway.url, timeout=5).deliver(OutboundMessage("k", "sms", "1", "x"))


def test_http_sink_posts_json_with_idempotency_key_and_token(gateway):
    result = HttpSink(gateway.url, timeout=5, token="s3cret").deliver(
        OutboundMessage("key-1", "sms", "13800138000", "您的申请已受理", template="accepted", instance_id=3))
    assert result.detail == "HTTP 200" and not result.duplicate
    [req] = gateway.requests
    assert req["key"] == "key-1"
    assert req["body"] == {"idempotency_key": "key-1", "channel": "sms", "recipient": "13800138000",
                           "template": "accepted", "body": "您的申请已受理", "instance_id": 3, "attempt": 1,
                           "created_at": None}


def test_http_sink_does_not_follow_redirects(gateway):
    gateway.plan = [(302, {"Location": gateway.url + "/elsewhere"})]
    with pytest.raises(PermanentError, match="redirects are not followed"):
        HttpSink(gateway.url, timeout=5).deliver(OutboundMessage("k", "sms", "1", "x"))
    assert len(gateway.requests) == 1


def test_http_sink_unreachable_and_timeout_are_retryable(gateway):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(RetryableError, match="Refused"):
        HttpSink(f"http://127.0.0.1:{port}/hook", timeout=5).deliver(OutboundMessage("k", "sms", "1", "x"))
    with pytest.raises(RetryableError, match="[Tt]imeout|timed out"):
        HttpSink(gateway.url.replace("/hook", "/slow"), timeout=0.2).deliver(OutboundMessage("k", "sms", "1", "x"))
    gateway.release.set()


def test_http_sink_refuses_a_non_http_url():
    with pytest.raises(YekuoError, match="http://"):
        HttpSink("ftp://example.org/hook")


# --- delivery: retry, back-off, failures ------------------------------------------------------

def test_failing_webhook_is_retried_with_backoff_then_sent(db, clock, gateway):
    gateway.plan = [503, 503]
    [key] = queue(db, 1)
    sink = HttpSink(gateway.url, timeout=5)
    t0 = clock.now()

    assert outbox.deliver_due(db, sink=sink).retrying == 1
    row = rows(db)[key]
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, t0 + dt.timedelta(seconds=30))
    assert "HTTP 503" in row.last_error

    clock.advance(seconds=29)
    assert outbox.deliver_due(db, sink=sink).claimed == 0  # not yet
    clock.advance(seconds=1)
    assert outbox.deliver_due(db, sink=sink).retrying == 1
    row = rows(db)[key]
    assert (row.attempts, row.next_attempt_at) == (2, t0 + dt.timedelta(seconds=30 + 60))

    clock.advance(seconds=60)
    assert outbox.deliver_due(db, sink=sink).sent == 1
    row = rows(db)[key]
    assert (row.status, row.attempts, row.sent_at) == ("sent", 3, clock.now())
    assert [r["key"] for r in gateway.requests] == [key] * 3  # same key every time
    assert [r["body"]["attempt"] for r in gateway.requests] == [1, 2, 3]
    assert gateway.requests[0]["body"]["body"] == templates.render("accepted", ACCEPTED)


def test_client_error_fails_at_once_visibly_and_operator_retries(db, clock, gateway):
    gateway.plan = [400]
    [key] = queue(db, 1)
    sink = HttpSink(gateway.url, timeout=5)
    report = outbox.deliver_due(db, sink=sink)
    row = rows(db)[key]
    assert report.failed == [row.id] and "1 failed" in str(report)
    assert (row.status, row.attempts) == ("failed", 1)
    [shown] = outbox.list_messages(db, status="failed")
    assert shown.id == row.id and "HTTP 400" in shown.last_error
    clock.advance(hours=2)
    assert outbox.deliver_due(db, sink=sink).claimed == 0  # failed stays failed
    assert outbox.retry_failed(db, [row.id]) == 1
    assert outbox.retry_failed(db, [row.id]) == 0  # no longer failed
    assert outbox.deliver_due(db, sink=sink).sent == 1
    assert rows(db)[key].status == "sent" and len(gateway.requests) == 2
    assert outbox.list_messages(db, status="failed") == []


def test_max_attempts_marks_failed(db, clock, gateway):
    gateway.default = 503
    [key] = queue(db, 1)
    sink, policy = HttpSink(gateway.url, timeout=5), outbox.RetryPolicy(max_attempts=3)
    reports = []
    for _ in range(4):
        reports.append(outbox.deliver_due(db, sink=sink, policy=policy))
        clock.advance(hours=1)
    assert [r.retrying for r in reports] == [1, 1, 0, 0]
    assert [len(r.failed) for r in reports] == [0, 0, 1, 0]
    row = rows(db)[key]
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error.startswith("attempt 3: HTTP 503")
    assert len(gateway.requests) == 3
    assert [m.idempotency_key for m in outbox.list_messages(db, "failed")] == [key]


def test_retry_after_is_honoured(db, clock, gateway):
    gateway.plan = [(429, {"Retry-After": "600"})]
    [key] = queue(db, 1)
    outbox.deliver_due(db, sink=HttpSink(gateway.url, timeout=5))
    assert rows(db)[key].next_attempt_at == clock.now() + dt.timedelta(seconds=600)


def test_backoff_doubles_and_is_capped():
    policy = outbox.RetryPolicy()
    assert [policy.delay(n).total_seconds() for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert policy.delay(200).total_seconds() == 3600
    assert policy.delay(1, retry_after=90).total_seconds() == 90
    assert policy.delay(1, retry_after=10 ** 9).total_seconds() == 3600
    with pytest.raises(YekuoError):
        outbox.RetryPolicy(backoff=dt.timedelta(0))


def test_a_sink_bug_is_retried_not_lost(db, clock):
    class Broken:
        def deliver(self, message):
            raise ValueError("boom")

    [key] = queue(db, 1)
    assert outbox.deliver_due(db, sink=Broken()).retrying == 1
    assert rows(db)[key].last_error == "attempt 1: ValueError: boom"


# --- claiming: leases, crashes, concurrency ---------------------------------------------------

def test_two_workers_deliver_each_message_exactly_once(db, clock, gateway):
    keys = queue(db, 60)
    reports = []

    def work(name):
        reports.append(outbox.deliver_due(db, sink=HttpSink(gateway.url, timeout=10), batch=5, worker=name))

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.sent for r in reports) == 60 and sum(r.lost for r in reports) == 0
    counts = gateway.keys()
    assert set(counts) == set(keys) and set(counts.values()) == {1}
    assert {r.status for r in rows(db).values()} == {"sent"}


def test_a_crashed_workers_lease_expires_and_the_message_goes_out(db, clock, gateway):
    [key] = queue(db, 1)
    policy = outbox.RetryPolicy()
    assert len(outbox.claim_due(db, clock.now(), policy=policy)) == 1  # claims, then dies
    sink = HttpSink(gateway.url, timeout=5)
    assert outbox.deliver_due(db, sink=sink).claimed == 0  # the lease holds
    clock.advance(seconds=policy.lease.total_seconds())
    assert outbox.deliver_due(db, sink=sink).sent == 1
    assert (rows(db)[key].attempts, len(gateway.requests)) == (2, 1)


def test_a_stale_worker_cannot_overwrite_the_newer_claim(db, clock, gateway):
    [key] = queue(db, 1)
    policy = outbox.RetryPolicy()
    [stale] = outbox.claim_due(db, clock.now(), policy=policy)
    clock.advance(minutes=10)
    gateway.plan = [503]
    outbox.deliver_due(db, sink=HttpSink(gateway.url, timeout=5), policy=policy)  # the new owner
    before = rows(db)[key]
    report = outbox.DeliveryReport()
    outbox._record_failure(db, stale.message, RetryableError("late"), policy, report, "stale")
    assert report.lost == 1 and rows(db)[key] == before


def test_a_message_that_kills_its_worker_ends_failed(db, clock):
    [key] = queue(db, 1)
    policy = outbox.RetryPolicy(max_attempts=2)
    for _ in range(2):  # two workers die delivering it
        assert len(outbox.claim_due(db, clock.now(), policy=policy)) == 1
        clock.advance(minutes=6)
    assert outbox.deliver_due(db, sink=FileSink(os.devnull), policy=policy).claimed == 0
    row = rows(db)[key]
    assert row.status == "failed" and "never reported back" in row.last_error


def test_a_running_out_lease_hands_the_rest_back(db, clock, tmp_path):
    keys = queue(db, 3)
    file_sink = FileSink(tmp_path / "out.jsonl")

    class Slow:
        def deliver(self, message):
            result = file_sink.deliver(message)
            clock.advance(seconds=150)  # each delivery takes half the 5-minute lease
            return result

    report = outbox.deliver_due(db, sink=Slow(), batch=3)
    assert (report.sent, report.released) == (2, 1)
    third = rows(db)[keys[2]]
    assert (third.status, third.attempts, third.next_attempt_at) == ("pending", 0, clock.now())
    assert outbox.deliver_due(db, sink=file_sink).sent == 1


def test_list_messages_filters_and_checks_status(db, clock, tmp_path):
    queue(db, 2, instance_id=1)
    queue(db, 1, prefix="other", instance_id=2)
    assert [m.idempotency_key for m in outbox.list_messages(db, instance_id=1)] == ["msg-1", "msg-0"]
    assert len(outbox.list_messages(db, "pending")) == 3 and outbox.list_messages(db, "sent") == []
    with pytest.raises(YekuoError, match="status must be one of"):
        outbox.list_messages(db, "bogus")


# --- templates --------------------------------------------------------------------------------

def test_customer_templates_render_chinese_sms():
    assert templates.render("accepted", {**ACCEPTED, "unused": 1}) == (
        "【供电服务】尊敬的张三，您的低压居民新装申请已受理，申请编号YK20260302001。"
        "您可通过“网上国网”App或95598网站查询办理进度，咨询请拨打95598。")
    booked = templates.render("appointment_booked", {
        "customer_name": "李四", "application_no": "YK1", "job": "现场勘查", "date": "2026年3月4日",
        "time_window": "09:00-12:00", "team": "城东供电服务班", "contact_name": "王工", "contact_phone": "13900001111"})
    assert "现场勘查：2026年3月4日 09:00-12:00，由城东供电服务班王工（电话13900001111）上门服务" in booked
    energized = templates.render("energized", {"customer_name": "李四", "address": "幸福路1号", "application_no": "YK1",
                                               "energized_at": "2026年3月9日15时", "service_phone": "95598"})
    assert "已于2026年3月9日15时送电" in energized and "安全用电提示" in energized and energized.endswith("95598。")


def test_staff_notices_render_without_sms_signature():
    text = templates.render("supervision", {"application_no": "YK1", "step": "现场勘查", "deadline": "3月4日",
                                            "team": "城东班"})
    assert text.startswith("【督办】工单YK1") and templates.get("supervision").channel == "notice"
    assert templates.render("pre_warning", {"assignee": "王工", "application_no": "YK1", "step": "勘查",
                                            "percent": 80, "deadline": "3月4日"}).startswith("【预警】王工")
    assert "超期" in templates.render("overdue", {"application_no": "YK1", "step": "勘查", "deadline": "3月4日",
                                                 "assignee": "王工"})


def test_templates_refuse_missing_fields_and_unknown_ids():
    with pytest.raises(templates.TemplateError, match="'accepted' needs field.s. application_no, service_phone"):
        templates.render("accepted", {"customer_name": "张三", "business_type": "新装", "application_no": None,
                                      "service_phone": " "})
    with pytest.raises(templates.TemplateError, match="no message template 'nope'"):
        templates.render("nope", {})


def test_an_administrator_overrides_templates_by_file(tmp_path, restore_templates):
    custom = tmp_path / "mine.toml"
    custom.write_text('sms_signature = "【某某供电】"\n'
                      '[templates.accepted]\nchannel = "sms"\nfields = ["customer_name", "application_no"]\n'
                      'text = "${customer_name}您好，申请${application_no}已受理，费用$$0。"\n'
                      '[templates.survey_done]\nchannel = "sms"\nfields = ["customer_name"]\n'
                      'text = "${customer_name}您好，勘查已完成。"\n', encoding="utf-8")
    templates.reload(custom)
    assert templates.render("accepted", ACCEPTED) == "【某某供电】张三您好，申请YK20260302001已受理，费用$0。"
    assert templates.render("survey_done", ACCEPTED) == "【某某供电】张三您好，勘查已完成。"
    assert "超期" in templates.render("overdue", {"application_no": "1", "step": "s", "deadline": "d",
                                                 "assignee": "a"})  # shipped ones still there


@pytest.mark.parametrize("entry, problem", [
    ('channel = "sms"\nfields = ["a"]\ntext = "${a}${b}"', "undeclared placeholder.s. b"),
    ('channel = "sms"\nfields = ["a", "c"]\ntext = "${a}"', "declared field.s. not in the text c"),
    ('channel = "fax"\nfields = []\ntext = "x"', "channel must be one of"),
    ('channel = "sms"\nfields = []\ntext = "100$"', "malformed placeholder"),
    ('channel = "sms"\nfield = []\ntext = "x"', "keys must be"),
])
def test_an_invalid_template_file_is_refused_with_its_place(tmp_path, restore_templates, entry, problem):
    bad = tmp_path / "bad.toml"
    bad.write_text(f"[templates.broken]\n{entry}\n", encoding="utf-8")
    with pytest.raises(templates.TemplateError, match=problem) as info:
        templates.reload(bad)
    assert "bad.toml [templates.broken]" in info.value.message


# --- scheduler and CLI ------------------------------------------------------------------------

def test_scheduler_has_the_delivery_job(db, clock, tmp_path):
    settings = config.Settings(outbox_file=tmp_path / "out.jsonl", outbox_interval=2.0)
    sched = scheduler.build(db, settings=settings)
    job = sched.get_job("deliver_outbox")
    assert (job.max_instances, job.coalesce, job.trigger.interval) == (1, True, dt.timedelta(seconds=2))
    queue(db, 1)
    job.func(*job.args)
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    with pytest.raises(YekuoError, match="YEKUO_OUTBOX_URL"):
        scheduler.build(db, settings=config.Settings(outbox_sink="http"))


def test_cli_deliver_list_and_retry(db, clock, tmp_path, gateway):
    file_env = {"YEKUO_OUTBOX_FILE": str(tmp_path / "outbox.jsonl")}
    queue(db, 2)
    out = run(db, "outbox", "deliver", "--now", "2026-03-02T09:00:00+08:00", env=file_env)
    assert out.stdout.strip() == "delivered 2 message(s), 0 to retry, 0 failed"
    assert len((tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()) == 2
    listed = run(db, "outbox", "list", "--status", "sent").stdout.splitlines()
    assert listed[-1] == "2 message(s)" and "sent=2026-03-02T01:00:00+00:00" in listed[0]

    http_env = {"YEKUO_OUTBOX_SINK": "http", "YEKUO_OUTBOX_URL": gateway.url}
    gateway.plan = [400]
    queue(db, 1, prefix="bad")
    failed = run(db, "outbox", "deliver", "--now", "2026-03-02T09:01:00+08:00", env=http_env, check=False)
    assert failed.returncode == 1 and "1 failed" in failed.stdout
    [line, total] = run(db, "outbox", "list", "--status", "failed").stdout.splitlines()
    assert line.startswith("#3 failed attempts=1 sms->13800130000 accepted") and "HTTP 400" in line
    assert total == "1 message(s)"
    assert json.loads(run(db, "outbox", "list", "--json", "--limit", "1").stdout)[0]["status"] == "failed"
    assert run(db, "outbox", "retry", "3").stdout.strip() == "1 failed message(s) queued again"
    assert run(db, "outbox", "deliver", env=http_env).stdout.startswith("delivered 1 message(s)")  # engine clock
    assert gateway.keys() == {"bad-0": 2}


def test_cli_errors_are_one_line(db, tmp_path):
    no_url = run(db, "outbox", "deliver", env={"YEKUO_OUTBOX_SINK": "http"}, check=False)
    assert no_url.returncode == 1 and no_url.stderr.strip() == (
        "error: YEKUO_OUTBOX_SINK=http needs YEKUO_OUTBOX_URL (the webhook to POST to)")
    assert run(db, "outbox", "retry", check=False).returncode == 1
    bad = tmp_path / "bad.toml"
    bad.write_text('[templates.x]\nchannel = "sms"\nfields = []\ntext = "${a}"\n', encoding="utf-8")
    out = run(db, "outbox", "templates", "--file", str(bad), check=False)
    assert out.returncode == 1 and "undeclared placeholder(s) a" in out.stderr
    assert f"{len(templates.catalog().templates)} template(s) valid" in run(db, "outbox", "templates").stdout
