"""The runtime operator interface, shared by every operator module.

A runtime operator is built from one physical plan node for one instance
(``Operator(node, ctx)``) and turns input streams of Arrow record batches into an
output stream (``execute``), lazily: no work happens until the first batch is pulled.
Operators are plain Python over Arrow; nothing here knows about Ray, so every
operator is tested by feeding it lists of batches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from dataflow.types import schema_to_arrow

DEFAULT_BATCH_ROWS = 128 * 1024


@dataclass(frozen=True)
class Morsel:
    """One unit of scan work: a Parquet row group, or a slice of an in-memory table."""

    source: str  # a file path, or a memory table id
    row_group: int | None = None
    offset: int = 0
    length: int = 0
    rows: int = 0  # rows in the morsel (before filtering), for metrics and estimates


@dataclass
class TaskContext:
    """What the runtime gives an operator instance."""

    instance: int = 0
    dop: int = 1
    # next_morsel(scan_key) -> the next unit of work for that scan, or None when done;
    # morsels are handed out dynamically, so a slow instance takes fewer of them.
    next_morsel: Callable[[str], Morsel | None] | None = None
    # get_table(table_id) -> an in-memory table registered in the Session
    get_table: Callable[[str], pa.Table] | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS


class Operator(ABC):
    """One instance of a physical operator."""

    def __init__(self, node: Any, ctx: TaskContext, node_id: str = "0") -> None:
        self.node = node
        self.ctx = ctx
        # unique within a plan; e.g. the key under which a scan's morsels are handed out
        self.node_id = node_id
        self.schema: pa.Schema = schema_to_arrow(node.schema)

    @property
    def name(self) -> str:
        return self.node.name

    @abstractmethod
    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        """Consume the input streams (one per child, in order) and yield output batches
        with exactly :attr:`schema`."""

