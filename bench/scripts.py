"""What the script sandbox costs per call: in-process (inline) against a worker process.

Baseline: plain `eval` of the same compiled code in this process. Measured in one run, variants
interleaved so machine noise hits them alike, and reported as medians and ratios against the
baseline (not absolute timings: the machine is shared):

  inline    small call-free code in the calling process (gateway conditions, DMN cells, timers)
  worker    the same code sent to a sandbox worker (`isolate_all=True`), small task data
  worker+   a script with a call (always a worker), with task data of ~1 KB and ~20 KB
  script    a short script task (exec with write-back), in a worker

    .venv/bin/python bench/scripts.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.core.scripting import worker  # noqa: E402
from engine.core.scripting.guards import GUARDS, SAFE_BUILTINS  # noqa: E402
from engine.core.scripting.policy import compile_script  # noqa: E402
from engine.core.scripting.script_engine import RestrictedEnvironment  # noqa: E402

CONDITION = "amount > 100 and business_type == 'hv_single'"
CALLING = "len(customer_name) > 1 and days_between('2026-01-01', '2026-03-01') > 30"
SCRIPT = "total = amount * 2\nlate = days_between('2026-01-01', '2026-03-01') > 30\nlabel = str(total)"


def _data(size_kb: int) -> dict[str, Any]:
    data: dict[str, Any] = {"amount": 120, "business_type": "hv_single", "customer_name": "张伟"}
    for i in range(size_kb * 1024 // 64):
        data[f"field_{i}"] = f"value {i} " + "x" * 48
    return data


def _median_us(fn: Any, calls: int) -> float:
    samples = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    inline, isolated = RestrictedEnvironment(), RestrictedEnvironment(isolate_all=True)
    small, kb1, kb20 = _data(0), _data(1), _data(20)
    code = compile_script(CONDITION, "eval").code
    scope = {**GUARDS, "__builtins__": SAFE_BUILTINS, **small}
    isolated.evaluate(CONDITION, dict(small))  # start the worker outside the measurement
    variants = {
        "baseline (plain eval)": lambda: eval(code, scope),  # noqa: S307 - the baseline
        "inline condition": lambda: inline.evaluate(CONDITION, small),
        "worker condition, small data": lambda: isolated.evaluate(CONDITION, small),
        "worker call, 1 KB data": lambda: inline.evaluate(CALLING, kb1),
        "worker call, 20 KB data": lambda: inline.evaluate(CALLING, kb20),
        "worker script (exec), 1 KB data": lambda: inline.execute(SCRIPT, dict(kb1)),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    rounds = 5
    for _ in range(rounds):
        for name, fn in variants.items():
            results[name].append(_median_us(fn, args.calls // rounds))
    base = statistics.median(results["baseline (plain eval)"])
    print(f"{'variant':36} {'median µs':>10} {'× baseline':>11}")
    for name, values in results.items():
        med = statistics.median(values)
        print(f"{name:36} {med:10.1f} {med / base:11.0f}")
    t = time.perf_counter()
    with worker.Pool(1).worker():
        pass
    print(f"{'worker start (once, or after a kill)':36} {(time.perf_counter() - t) * 1e6:10.0f}")


if __name__ == "__main__":
    main()
