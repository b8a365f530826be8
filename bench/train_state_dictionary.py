"""Train the zstd dictionary instance states are compressed with (`engine.core.codec`).

Runs every scenario case of the real process (tests/process_helpers: low and high voltage, rework,
timers, withdrawals) on a scratch SQLite database, keeps the raw state of every command, and trains
a dictionary on them. Write it under a NEW id (never overwrite a shipped one: stored states name the
dictionary that wrote them), then point `codec.WRITE_DICTIONARY` at it.

    .venv/bin/python bench/train_state_dictionary.py --id 59450002 [--size 65536]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zstandard  # noqa: E402

from bench.engine_overhead import prepare  # noqa: E402
from engine import wiring  # noqa: E402
from engine.core import clock, codec, runtime  # noqa: E402
from engine.core.clock import CHINA  # noqa: E402

SCENARIOS = ("lv_res_merged", "lv_res_surveyed_overdue", "lv_nonres_one_id", "lv_nonres_scheme_grid",
             "hv_single_ordinary", "hv_dual_important", "lv_res_field_rebooked", "withdraw_at_accept",
             "withdraw_during_lv", "withdraw_during_hv")


def samples(rounds: int) -> list[bytes]:
    """The raw state of every command of every scenario, `rounds` times over."""
    from tests import process_helpers as ph

    kept: list[bytes] = []
    original = codec.compress_state

    def keep(raw: bytes) -> bytes:
        kept.append(raw)
        return original(raw)

    wiring.install()
    runtime.SUBMISSION_CHECKS.clear()  # the scenarios use the forms' example data
    codec.WRITE_DICTIONARY = None  # the samples are written as before any dictionary
    codec.compress_state = keep  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db, _ = prepare(f"sqlite:///{tmp}/train.db", ROOT / "bpmn", ROOT / "forms")
            for _ in range(rounds):
                for name in SCENARIOS:
                    fixed = clock.FixedClock(dt.datetime(2026, 3, 2, 9, tzinfo=CHINA))
                    previous = clock.set_clock(fixed)
                    try:
                        getattr(ph, name)(db, fixed)
                    finally:
                        clock.set_clock(previous)
            db.dispose()
    finally:
        codec.compress_state = original  # type: ignore[assignment]
    return kept


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--id", required=True, help="the new dictionary id, hex (e.g. 59450002)")
    ap.add_argument("--size", type=int, default=64 * 1024)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    dict_id = int(args.id, 16)
    target = codec.DICTIONARY_DIR / f"{dict_id:08x}.zdict"
    if target.exists():
        print(f"{target} exists: dictionaries are never replaced, choose a new id")
        return 1
    raw = samples(args.rounds)
    trained = zstandard.train_dictionary(args.size, raw, dict_id=dict_id, level=3)
    plain = zstandard.ZstdCompressor(level=3)
    with_dict = zstandard.ZstdCompressor(level=3, dict_data=trained)
    before = sum(len(plain.compress(r)) for r in raw)
    after = sum(len(with_dict.compress(r)) for r in raw)
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(trained.as_bytes())
    print(f"{len(raw)} states, {sum(map(len, raw)) / len(raw):.0f} B raw on average: "
          f"zstd-3 {before / len(raw):.0f} B, with the dictionary {after / len(raw):.0f} B -> {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
