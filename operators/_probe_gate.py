"""Flow control of the hash join inside Acero (see :mod:`.hash_join`): the
:class:`ProbeGate` that holds the probe stream back, the scalar UDFs through which the
Acero plan reports progress to it, and the IO thread each running join reserves.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pyarrow as pa
import pyarrow.acero as ac
import pyarrow.compute as pc

SEQ = "__df_seq"  # probe batch number, a hidden column of the probe input, for the gate


class ProbeGate:
    """Flow control between the thread Acero reads the probe stream on and the consumer.

    The feeding generator calls :meth:`admit` before handing probe batch ``seq`` to
    Acero; it waits while batch ``seq - window`` has not reached the join yet, or while
    more than ``max_queued_rows`` output rows wait for the consumer. Acero reports
    through :meth:`probed` and :meth:`emitted`, the consumer through :meth:`consumed`."""

    def __init__(self, window: int = 4, max_queued_rows: int = 1 << 19) -> None:
        self.window = window
        self.max_queued_rows = max_queued_rows
        self.cond = threading.Condition()
        self.seen = -1  # highest probe batch number that reached the join
        self.produced = 0  # output rows handed to the sink
        self.taken = 0  # output rows the consumer read
        self.closed = False
        self.error: BaseException | None = None
        self.id = next(_GATE_IDS)
        _GATES[self.id] = self

    def admit(self, seq: int) -> bool:
        """Block until batch ``seq`` may go to Acero; ``False`` once the join is closed."""
        with self.cond:
            while not self.closed and (
                seq > self.seen + self.window or self.produced - self.taken > self.max_queued_rows
            ):
                self.cond.wait()
            return not self.closed

    def probed(self, seq: int) -> None:
        """Acero: probe batch ``seq`` reached the join."""
        with self.cond:
            if seq > self.seen:
                self.seen = seq
                self.cond.notify_all()

    def emitted(self, rows: int) -> None:
        """Acero: ``rows`` output rows went to the sink."""
        with self.cond:
            self.produced += rows

    def consumed(self, rows: int) -> None:
        """The consumer read ``rows`` output rows."""
        with self.cond:
            self.taken += rows
            self.cond.notify_all()

    def close(self) -> None:
        """The join is done (or abandoned): release the feeding generator."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        _GATES.pop(self.id, None)


# Acero reads a record_batch_reader_source on its IO thread pool, and the probe stream
# blocks that thread while it waits for upstream operators, often another join's output
# (whose own probe stream holds another IO thread). Joins nested deeper than the pool
# is wide would deadlock, so every running join reserves one IO thread of its own.
_IO_LOCK = threading.Lock()
_IO_BASE = pa.io_thread_count()
_ACTIVE_JOINS = 0


def reserve_io_thread() -> None:
    global _ACTIVE_JOINS
    with _IO_LOCK:
        _ACTIVE_JOINS += 1
        if pa.io_thread_count() < _IO_BASE + _ACTIVE_JOINS:
            pa.set_io_thread_count(_IO_BASE + _ACTIVE_JOINS)


def release_io_thread() -> None:
    global _ACTIVE_JOINS
    with _IO_LOCK:
        _ACTIVE_JOINS -= 1


# Progress reports from inside Acero: scalar UDFs that return their first argument.
_GATES: dict[int, ProbeGate] = {}
_GATE_IDS = itertools.count()
PROBED_UDF = "dataflow_hash_join_probed"
EMITTED_UDF = "dataflow_hash_join_emitted"
_UDF_LOCK = threading.Lock()
_UDFS_READY = False


def _gate_of(gate_id: Any) -> ProbeGate | None:
    gid = gate_id.as_py() if isinstance(gate_id, pa.Scalar) else gate_id[0].as_py()
    return _GATES.get(gid)


def _probed_udf(ctx: Any, seq: Any, gate_id: Any) -> Any:
    gate = _gate_of(gate_id)
    if gate is not None and len(seq):
        gate.probed(pc.max(seq).as_py())
    return seq


def _emitted_udf(ctx: Any, seq: Any, gate_id: Any) -> Any:
    gate = _gate_of(gate_id)
    if gate is not None:
        gate.emitted(len(seq))
    return seq


def register_udfs() -> None:
    global _UDFS_READY
    with _UDF_LOCK:
        if _UDFS_READY:
            return
        registered = set(pc.list_functions())
        for name, fn in ((PROBED_UDF, _probed_udf), (EMITTED_UDF, _emitted_udf)):
            if name not in registered:
                doc = {"summary": "hash join progress", "description": "Reports join progress; returns seq."}
                pc.register_scalar_function(
                    fn, name, doc, {"seq": pa.int64(), "gate": pa.int64()}, pa.int64()
                )
        _UDFS_READY = True


def report_progress(names: list[str], udf: str, gate: ProbeGate) -> ac.Declaration:
    """A projection passing ``names`` through, with ``SEQ`` routed through ``udf``."""
    register_udfs()
    exprs = [
        pc.Expression._call(udf, [pc.field(n), pc.scalar(gate.id)]) if n == SEQ else pc.field(n)
        for n in names
    ]
    return ac.Declaration("project", ac.ProjectNodeOptions(exprs, names))
