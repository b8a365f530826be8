"""States are compressed with a shipped, versioned zstd dictionary (issue 17: fewer bytes per case):
the frame names the dictionary that wrote it; states written before dictionaries (plain zstd, zlib)
still load and run on; a state naming a dictionary this release lacks is refused loudly, never
misread; and the dictionary actually makes a real state smaller."""

from __future__ import annotations

import zlib

import pytest
from sqlalchemy import select, update

from engine.core import codec, runtime
from engine.core.models import instance_t
from tests.helpers import ACCEPT, complete, open_items


def _state(db, iid: int) -> bytes:
    with db.read() as conn:
        return conn.execute(select(instance_t.c.state).where(instance_t.c.id == iid)).scalar_one()


def test_the_dictionary_is_shipped_and_named_in_every_new_state(db, engine_model) -> None:
    assert codec.WRITE_DICTIONARY is not None
    assert (codec.DICTIONARY_DIR / f"{codec.WRITE_DICTIONARY:08x}.zdict").is_file()
    iid = runtime.start_instance(db, "engine_model").instance_id
    blob = _state(db, iid)
    assert codec.dictionary_of(blob) == codec.WRITE_DICTIONARY
    raw = codec.decompress(blob)
    assert len(blob) < len(codec.compress(raw))  # smaller than plain zstd of the same state


@pytest.mark.parametrize("old_format", ["zstd", "zlib"])
def test_states_written_without_the_dictionary_still_load_and_run_on(db, engine_model, old_format) -> None:
    iid = runtime.start_instance(db, "engine_model").instance_id
    raw = codec.decompress(_state(db, iid))
    old = codec.compress(raw) if old_format == "zstd" else zlib.compress(raw, 1)
    assert codec.dictionary_of(old) == 0
    with db.write() as conn:
        conn.execute(update(instance_t).where(instance_t.c.id == iid).values(state=old))
    complete(db, iid, "accept", ACCEPT)  # restored from the old state, stored with the dictionary
    assert "verify_identity" in open_items(db, iid)
    assert codec.dictionary_of(_state(db, iid)) == codec.WRITE_DICTIONARY


def test_a_state_of_an_unknown_dictionary_is_refused(monkeypatch) -> None:
    import zstandard

    foreign = zstandard.train_dictionary(4096, [b'{"tasks": {"a%d": %d}}' % (i, i) * 20 for i in range(200)],
                                         dict_id=0x7E570001)
    blob = zstandard.ZstdCompressor(dict_data=foreign).compress(b'{"tasks": {}}' * 40)
    assert codec.dictionary_of(blob) == 0x7E570001
    with pytest.raises(LookupError, match="7e570001"):
        codec.decompress(blob)


def test_the_write_dictionary_can_be_switched_off(monkeypatch) -> None:
    monkeypatch.setattr(codec, "WRITE_DICTIONARY", None)
    raw = b'{"tasks": {}}' * 50
    blob = codec.compress_state(raw)
    assert codec.dictionary_of(blob) == 0 and codec.decompress(blob) == raw


def test_finished_call_activities_keep_their_tasks_but_not_the_case_data(db, clock) -> None:
    """The survey (a `field_job` call activity) is done by the customer's works: its tasks stay in the
    state (history, diagrams) with no data; the calling task has the survey's results, the case runs
    on to the end and replays."""
    import orjson

    from engine.audit import replay
    from tests import process_helpers as ph

    ph.deploy(db)
    accept = ph.example("accept", 2, power_sources=1, important_customer=False, load_level="2", capacity_kw=1600)
    iid = ph.start_case(db)
    scheme = ph.example("scheme-reply-hv", source_count=1, capacity_kva=2000)
    ph.drive(db, iid, {"accept": accept, "reply_scheme": scheme}, until="customer_works")
    state = orjson.loads(codec.decompress(_state(db, iid)))
    finished = [sp for sp in state["subprocesses"].values()
                if any(t["task_spec"] == "End" and t["state"] == 64 for t in sp["tasks"].values())]
    assert finished, "the survey call activity should be finished by the customer's works"
    assert all(t["data"] == {} for sp in finished for t in sp["tasks"].values())
    ph.drive(db, iid, {"accept": accept, "reply_scheme": scheme}, prefer=["draft_contract", "sign_contract"])
    with db.read() as conn:
        assert conn.execute(select(instance_t.c.status).where(instance_t.c.id == iid)).scalar_one() == "completed"
    assert replay.replay(db, iid).ok
