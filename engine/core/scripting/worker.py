"""Sandbox worker processes: script code runs where the OS bounds its CPU time and memory.

The policy's tick stops Python-level loops, but not one long C-level call (`re_match` with
catastrophic backtracking, `sum(lists, [])`, `b'x'.ljust(300000000)`, `str(huge)`), and nothing in
the web process can interrupt those. So code runs in a small pool of long-lived worker processes
(`python -m engine.core.scripting.worker`, talking over a socket pair: a fresh interpreter, never
a fork of the web process with its database connections and threads, and — unlike
multiprocessing's spawn/forkserver — no re-import of the caller's `__main__`). For each call a
worker sets

* `RLIMIT_AS` to its current size plus `memory_mb` (default 256 MB): an allocation beyond that
  fails with MemoryError, reported as the memory limit;
* `RLIMIT_CPU` to its CPU time so far plus the time limit plus 2 s (a backstop: SIGXCPU kills it),

and the caller waits at most the time limit plus `GRACE` seconds, then kills the worker and
starts another. The caller's thread waits on a pipe without the GIL, so the web process stays
responsive. Helpers that need the database (`step.SCRIPT_HELPERS`) are not sent along: a script's
call reaches them in the calling process through the same pipe. Replies are unpickled with an
allowlist (`_ReplyUnpickler`), so even a compromised worker cannot make the web process run code.

Cost per call (bench/scripts.py, median on a shared two-core machine): ~50 µs with almost no
task data, ~60 µs with 1 KB, ~130–160 µs with 20 KB (a pickle round trip each way), ~90 µs for a
short script task with 1 KB — against ~2 µs inline and 0.2 µs for a bare `eval`. A worker starts
in ~0.17 s, once per server process (or after a kill). See `script_engine` for what
runs inline.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import pickle
import resource
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from time import monotonic
from typing import Any

from engine.core import errors
from engine.core.errors import ScriptError
from engine.core.scripting import runner
from engine.core.scripting.helpers import DEFAULT_HELPERS, HelperNamespace
from engine.core.scripting.policy import compile_script

#: Seconds the caller waits beyond the script's own time limit before it kills the worker.
GRACE = 0.5
#: Largest reply (task data after the script, pickled); more is refused, not carried back.
MAX_REPLY_BYTES = 16 * 1024 * 1024
DEFAULT_WORKERS = 2
DEFAULT_MEMORY_MB = 256
_START_TIMEOUT = 60.0


# ---- the worker side --------------------------------------------------------------------------

def _vm_bytes() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _set_limits(memory: int, time_limit: float) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    cpu = int(usage.ru_utime + usage.ru_stime + time_limit) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu if cpu_hard == resource.RLIM_INFINITY else min(cpu, cpu_hard), cpu_hard))
    as_hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    size = _vm_bytes() + memory
    resource.setrlimit(resource.RLIMIT_AS, (size if as_hard == resource.RLIM_INFINITY else min(size, as_hard), as_hard))


def _clear_limits() -> None:
    for limit in (resource.RLIMIT_AS, resource.RLIMIT_CPU):
        resource.setrlimit(limit, (resource.getrlimit(limit)[1],) * 2)


def _remote_helper(conn: Connection, name: str) -> Callable[..., Any]:
    """A stand-in for a helper that lives in the calling process (it needs the database)."""
    def call(*args: Any, **kwargs: Any) -> Any:
        conn.send_bytes(pickle.dumps(("helper", name, args, kwargs), protocol=5))
        kind, value = pickle.loads(conn.recv_bytes())
        if kind == "raise":
            raise value
        return value
    call.__name__ = name
    return call


def _error_reply(exc: BaseException, memory: int, context: dict | None = None) -> tuple[Any, ...]:
    if isinstance(exc, MemoryError):
        exc = ScriptError(f"script exceeded its memory limit of {memory // 2**20} MB")
    line = 0
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<string>":
            line = tb.tb_lineno
        tb = tb.tb_next
    exc.__traceback__ = None
    exc.__context__ = exc.__cause__ = None
    name = exc.name if isinstance(exc, NameError) else None
    try:
        pickle.dumps(exc, protocol=5)
    except Exception:  # noqa: BLE001 - an exception that cannot travel is described instead
        exc = ScriptError(f"{type(exc).__name__}: {exc}")
    return ("raise", exc, name, line, context)


class _Failed(Exception):
    """A script's exception, with the task data as the script left it (assignments before the error
    are kept, as with SpiffWorkflow's own environment)."""

    def __init__(self, exc: BaseException, context: dict) -> None:
        super().__init__()
        self.exc, self.context = exc, context


def _run_request(conn: Connection, request: tuple[Any, ...]) -> tuple[Any, ...]:
    _, source, mode, context, external, remote, time_limit = request
    helpers: dict[str, Any] = dict(DEFAULT_HELPERS)
    for name in remote:
        space, dot, attr = name.partition(".")
        if dot:  # a module-like helper (`time.time`)
            setattr(helpers.setdefault(space, HelperNamespace()), attr, _remote_helper(conn, name))
        else:
            helpers[name] = _remote_helper(conn, name)
    compiled = compile_script(source, mode)
    scope = runner.scope_for(helpers, context, external)
    if mode == "eval":
        return ("ok", runner.run_code(compiled.code, scope, mode, time_limit), None)
    try:
        runner.run_code(compiled.code, scope, mode, time_limit)
    except BaseException as exc:  # noqa: BLE001 - re-raised with the data the script left
        runner.write_back(scope, context, external, helpers, strict=False)
        raise _Failed(exc, context) from None
    runner.write_back(scope, context, external, helpers)
    return ("ok", True, context)


def serve(conn: Connection, memory: int) -> None:
    """The worker's loop: one request at a time, each under fresh limits."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    conn.send_bytes(pickle.dumps(("ready", os.getpid())))
    while True:
        try:
            request = pickle.loads(conn.recv_bytes())
        except EOFError:
            return
        try:
            _set_limits(memory, request[-1])
            try:
                reply = _run_request(conn, request)
            except _Failed as failed:
                reply = _error_reply(failed.exc, memory, failed.context)
            except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
                reply = _error_reply(exc, memory)
            data = pickle.dumps(reply, protocol=5)
            if len(data) > MAX_REPLY_BYTES:
                data = pickle.dumps(_error_reply(ScriptError(
                    f"the script's task data is {len(data) // 2**20} MB, more than the limit of "
                    f"{MAX_REPLY_BYTES // 2**20} MB"), memory), protocol=5)
        except MemoryError:
            data = pickle.dumps(_error_reply(MemoryError(), memory), protocol=5)
        finally:
            _clear_limits()
        conn.send_bytes(data)


# ---- the caller side --------------------------------------------------------------------------

_REPLY_GLOBALS = {
    "datetime": {"date", "datetime", "time", "timedelta", "timezone"},
    "decimal": {"Decimal"},
    "engine.core.errors": {name for name, value in vars(errors).items()
                           if isinstance(value, type) and issubclass(value, BaseException)},
    "builtins": {name for name, value in vars(builtins).items()
                 if isinstance(value, type) and issubclass(value, BaseException)} | {"complex", "bytearray"},
}


class _ReplyUnpickler(pickle.Unpickler):
    """Only data types and exception classes: a reply can never name a callable to run."""

    def find_class(self, module: str, name: str) -> Any:
        if name in _REPLY_GLOBALS.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a sandbox reply may not contain {module}.{name}")


def _loads(data: bytes) -> Any:
    return _ReplyUnpickler(io.BytesIO(data)).load()


class WorkerDied(ScriptError):
    """The worker was killed (time limit) or died; it has been replaced."""


_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class _Worker:
    def __init__(self, memory: int) -> None:
        mine, theirs = socket.socketpair()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")])))
        with mine, theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine.core.scripting.worker", str(theirs.fileno()), str(memory)],
                pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL, close_fds=True)
            self.conn = Connection(os.dup(mine.fileno()))
        if not self.conn.poll(_START_TIMEOUT):
            self.kill()
            raise ScriptError("the script worker did not start")
        try:
            _loads(self.conn.recv_bytes())
        except EOFError:
            self.kill()
            raise ScriptError("the script worker did not start") from None

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.wait(5)
        self.conn.close()

    def call(self, request: bytes, time_limit: float, helpers: dict[str, Callable[..., Any]]) -> tuple[Any, ...]:
        self.conn.send_bytes(request)
        deadline = monotonic() + time_limit + GRACE
        while True:
            left = deadline - monotonic()
            try:
                ready = left > 0 and self.conn.poll(left)
                message = _loads(self.conn.recv_bytes()) if ready else None
            except (EOFError, OSError):
                message = None
                ready = True
            if message is None:
                self.kill()
                signum = -(self.process.returncode or 0)
                how = "was stopped" if not ready or signum in (signal.SIGKILL, signal.SIGXCPU) else "died"
                raise WorkerDied(f"script exceeded its time limit of {time_limit:g}s (the worker {how})")
            if message[0] != "helper":
                return message
            started = monotonic()
            self.conn.send_bytes(pickle.dumps(_call_helper(helpers, *message[1:]), protocol=5))
            deadline += monotonic() - started  # time in the caller's own helper is not the script's


def _call_helper(helpers: dict[str, Callable[..., Any]], name: str, args: tuple, kwargs: dict) -> tuple[str, Any]:
    try:
        space, dot, attr = name.partition(".")
        fn = getattr(helpers[space], attr) if dot else helpers[name]
        return ("ok", fn(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - the script sees the helper's error
        exc.__traceback__ = None
        try:
            pickle.dumps(exc, protocol=5)
        except Exception:  # noqa: BLE001
            exc = ScriptError(f"{type(exc).__name__}: {exc}")
        return ("raise", exc)


class Pool:
    """At most `size` workers, started on demand, reused, replaced when killed."""

    def __init__(self, size: int = DEFAULT_WORKERS, memory_mb: int = DEFAULT_MEMORY_MB) -> None:
        self.size = max(1, size)
        self.memory = memory_mb * 2**20
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.size)
        self.pid = os.getpid()
        self.started = 0

    @contextlib.contextmanager
    def worker(self) -> Iterator[_Worker]:
        with self._slots:
            with self._lock:
                found = self._idle.pop() if self._idle else None
            if found is None:
                found = _Worker(self.memory)
                self.started += 1
            try:
                yield found
            finally:
                if not found.conn.closed:
                    with self._lock:
                        self._idle.append(found)

    def run(self, request: bytes, time_limit: float, helpers: dict[str, Callable[..., Any]]) -> tuple[Any, ...]:
        with self.worker() as w:
            return w.call(request, time_limit, helpers)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for w in idle:
            w.kill()


_pool: Pool | None = None
_pool_lock = threading.Lock()


def pool() -> Pool:
    """This process's pool (a forked child, e.g. a gunicorn worker, makes its own)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            from engine.core import config

            settings = config.from_env()
            _pool = Pool(settings.script_workers, settings.script_memory_mb)
        return _pool


def run(request: tuple[Any, ...], time_limit: float, helpers: dict[str, Callable[..., Any]]) -> tuple[Any, ...]:
    """Run `request` ("run", source, mode, context, external context, remote helper names, time limit)
    in a worker: ("ok", value, context) or ("raise", exc, NameError name, line, context)."""
    try:
        data = pickle.dumps(request, protocol=5)
    except Exception as exc:  # noqa: BLE001 - e.g. a function a caller left in task data
        raise ScriptError(f"task data cannot be handed to the script sandbox: {type(exc).__name__}: {exc}") from None
    return pool().run(data, time_limit, helpers)




if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])), int(sys.argv[2]))
