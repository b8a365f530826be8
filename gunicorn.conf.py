"""gunicorn settings for `yekuo serve --workers N` (or `gunicorn -c gunicorn.conf.py 'api.app:create_app()'`).

Sync workers, one request at a time each: a request is a few milliseconds of Python holding the GIL,
so a process per core is what scales (threads add nothing on two cores). The workers run no
scheduler — run `yekuo scheduler` beside them (one or more). Every value can be overridden on the
command line or in GUNICORN_CMD_ARGS; YEKUO_BIND and YEKUO_WORKERS are what `yekuo serve` passes.
"""

import multiprocessing
import os

bind = os.environ.get("YEKUO_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("YEKUO_WORKERS") or multiprocessing.cpu_count())
worker_class = "sync"
# each worker opens its own pool after the fork: never share a connection between processes
preload_app = False
timeout = int(os.environ.get("YEKUO_WORKER_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 5
# a clean restart now and then bounds what a long-lived worker can accumulate
max_requests = int(os.environ.get("YEKUO_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
proc_name = "yekuo-web"
accesslog = os.environ.get("YEKUO_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("YEKUO_LOG_LEVEL", "info")
