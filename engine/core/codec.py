"""Turning workflows into bytes and back, fast.

Three measured choices (see docs/architecture.md, "Persistence"):
- the spec is stored once per definition version, and restored *objects* are injected on every
  load (SpiffWorkflow passes non-dict values through), never deep-copied dicts;
- the instance state never converts the spec at all (a state-only converter);
- orjson plus zstd level 3. zstd's long window matters here: call activities keep copies of the
  case data in each subprocess, far more than zlib's 32 KB apart, and zstd folds them (the real
  process's 105 KB end state: zlib-1 14 KB in 0.5 ms, zstd-3 9 KB in 0.13 ms). States written with
  zlib (the first releases) still load;
- a finished call activity's subprocess keeps its tasks (history, diagrams) but not their copies
  of the case data: its end data went to the calling task when it finished;
- a zstd dictionary trained on real states (`engine/core/state_dictionaries/`, made by
  `bench/train_state_dictionary.py`): the field names, task-spec names and Spiff's structure every
  state repeats are in the dictionary, not in each row. The zstd frame names the dictionary's id,
  so a state says which dictionary wrote it; dictionaries are never changed or removed, only new
  ids added (`WRITE_DICTIONARY`), and states written before or without one still load.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import zstandard
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.spiff.serializer import DEFAULT_CONFIG

STATE_FORMAT = 1
#: The state's key for the versions of called processes the case bound (`engine.core.calls`).
CALLED_KEY = "yekuo_called"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_zstd = threading.local()  # zstd (de)compressor objects must not be shared between threads


#: Drop the task data copies of finished call activities from stored states (off: as before, for benchmarks).
PRUNE_FINISHED_CALLS = True
#: Trained state dictionaries, `<id>.zdict`, by the zstd dictionary id their frames carry.
DICTIONARY_DIR = Path(__file__).with_name("state_dictionaries")
#: The dictionary new states are written with (None: none, as before dictionaries).
WRITE_DICTIONARY: int | None = 0x59450001


@cache
def _dictionary(dict_id: int) -> Any:
    path = DICTIONARY_DIR / f"{dict_id:08x}.zdict"
    if not path.exists():
        raise LookupError(f"state written with zstd dictionary {dict_id:08x}, which this release does not ship")
    dictionary = zstandard.ZstdCompressionDict(path.read_bytes())
    dictionary.precompute_compress(level=3)  # once per process, not on every compress
    return dictionary


def _zstd_for(dict_id: int | None) -> tuple[Any, Any]:
    """This thread's (compressor, decompressor) for a dictionary id (None or 0: no dictionary)."""
    key = dict_id or 0
    pairs = getattr(_zstd, "pairs", None)
    if pairs is None:
        pairs = _zstd.pairs = {}
    pair = pairs.get(key)
    if pair is None:
        if key:
            d = _dictionary(key)
            pair = (zstandard.ZstdCompressor(level=3, dict_data=d), zstandard.ZstdDecompressor(dict_data=d))
        else:
            pair = (zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor())
        pairs[key] = pair
    return pair


def compress(raw: bytes) -> bytes:
    """Plain zstd (specs, tools): no dictionary."""
    return _zstd_for(None)[0].compress(raw)


def compress_state(raw: bytes) -> bytes:
    """An instance state, with the current state dictionary (its id goes into the frame)."""
    return _zstd_for(WRITE_DICTIONARY)[0].compress(raw)


def dictionary_of(blob: bytes) -> int:
    """The id of the dictionary a stored blob was written with (0: none, or zlib)."""
    return zstandard.get_frame_parameters(blob).dict_id if blob[:4] == _ZSTD_MAGIC else 0


def decompress(blob: bytes) -> bytes:
    if blob[:4] == _ZSTD_MAGIC:
        return _zstd_for(dictionary_of(blob))[1].decompress(blob)
    return zlib.decompress(blob)


class _StateOnlyConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        for sp_id, sp in workflow.subprocesses.items():
            if sp.completed and PRUNE_FINISHED_CALLS:  # its end data went to the calling task: the tasks' copies are dead weight
                for task in dct["subprocesses"][str(sp_id)]["tasks"].values():
                    task["data"] = {}
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


class _Parts:
    """One thread's serializers: SpiffWorkflow's registry flips a shared `_encoder_mode` flag while it
    serializes, so two threads sharing one registry would corrupt each other's output."""

    def __init__(self) -> None:
        config = dict(DEFAULT_CONFIG)
        config[BpmnWorkflow] = _StateOnlyConverter
        self.registry = BpmnWorkflowSerializer.configure(config)
        self.serializer = BpmnWorkflowSerializer(self.registry)
        self.spec_serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(DEFAULT_CONFIG))
        typenames, to_dict = self.registry.typenames, self.registry.convert_to_dict

        def default(obj: Any) -> Any:
            typename = typenames.get(type(obj))
            if typename is not None:
                return to_dict[typename](obj)
            if isinstance(obj, (set, frozenset)):
                return sorted(obj, key=repr)
            if callable(obj):
                return None
            raise TypeError(f"cannot store a value of type {type(obj).__name__} in task data")

        self.default = default


class Codec:
    def __init__(self) -> None:
        self._local = threading.local()

    def _parts(self) -> _Parts:
        parts = getattr(self._local, "parts", None)
        if parts is None:
            parts = self._local.parts = _Parts()
        return parts

    @property
    def registry(self) -> Any:
        return self._parts().registry

    @property
    def serializer(self) -> BpmnWorkflowSerializer:
        return self._parts().serializer

    @property
    def _spec_serializer(self) -> BpmnWorkflowSerializer:
        return self._parts().spec_serializer

    @property
    def _default(self) -> Any:
        return self._parts().default

    # -- specs: once per definition version -------------------------------------------------
    def dump_specs(self, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> bytes:
        reg = self._spec_serializer.registry
        doc = {
            "spec": reg.convert(spec),
            "subprocess_specs": {name: reg.convert(s) for name, s in subprocess_specs.items()},
        }
        return compress(orjson.dumps(doc))

    def load_specs(self, blob: bytes) -> tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]:
        doc = orjson.loads(decompress(blob))
        reg = self._spec_serializer.registry
        spec = reg.restore(doc["spec"])
        subs = {name: reg.restore(s) for name, s in doc["subprocess_specs"].items()}
        return spec, subs

    # -- instance state: every command ----------------------------------------------------
    def dumps(self, workflow: BpmnWorkflow) -> bytes:
        parts = self._parts()
        parts.registry._encoder_mode = True
        try:
            dct = parts.serializer.to_dict(workflow)
        finally:
            parts.registry._encoder_mode = False
        dct[BpmnWorkflowSerializer.VERSION_KEY] = parts.serializer.VERSION
        called = getattr(workflow.subprocess_specs, "bindings", None)
        if called:
            dct[CALLED_KEY] = called
        raw = orjson.dumps(dct, default=parts.default,
                           option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS)
        return compress_state(raw)

    def loads(self, blob: bytes, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec],
              bound: Callable[[dict[str, int]], dict[str, BpmnProcessSpec]] | None = None) -> BpmnWorkflow:
        """The workflow; `bound` turns the stored bindings of called processes into its spec dict."""
        dct = orjson.loads(decompress(blob))
        called = dct.pop(CALLED_KEY, {})
        self.serializer.migrate(dct)
        specs = bound(called) if bound is not None else dict(subprocess_specs)
        dct["spec"] = spec
        dct["subprocess_specs"] = dict(specs)
        workflow = self.serializer.from_dict(dct)
        workflow.subprocess_specs = specs
        return workflow

    def called_inside(self, blob: bytes) -> tuple[dict[str, int], set[str]]:
        """Without restoring the workflow: the called versions a stored state bound (key ->
        definition id) and the called processes it is inside now (subprocesses not completed)."""
        dct = orjson.loads(decompress(blob))
        active = {sp.get("spec") for sp in (dct.get("subprocesses") or {}).values() if not sp.get("completed")}
        return dict(dct.get(CALLED_KEY) or {}), {name for name in active if isinstance(name, str)}

    def to_jsonable(self, value: Any) -> Any:
        """Task data as plain JSON types (datetimes and the like in Spiff's typed form)."""
        return orjson.loads(orjson.dumps(value, default=self._default,
                                         option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS))


CODEC = Codec()
