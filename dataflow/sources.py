"""Where a scan's rows come from: Parquet files, CSV or JSON files, or an Arrow table
registered in the Session. Leaf models (pydantic only), named by both plan families.

>>> MemorySource(table_id="t1", num_rows=3).kind
'memory'
"""

from __future__ import annotations

from typing import Annotated
from typing import Literal as _L
from typing import Union as _Union

from pydantic import BaseModel, ConfigDict
from pydantic import Field as _PField


class ParquetSource(BaseModel):
    """Parquet files: a list of paths (local or ``pyarrow.fs`` URIs) resolved at
    registration. Hive partition columns (last in the table's schema) take their
    values from the path: ``partition_values[i]`` holds file i's raw values."""

    model_config = ConfigDict(frozen=True)
    kind: _L["parquet"] = "parquet"
    paths: tuple[str, ...]
    partition_columns: tuple[str, ...] = ()
    partition_values: tuple[tuple[str | None, ...], ...] = ()


class TextSource(BaseModel):
    """CSV or newline-delimited JSON files, one morsel per file; column types are the
    table's (inferred or given at registration). ``est_rows`` is estimated from the
    bytes and a sample; partitions as for :class:`ParquetSource`."""

    model_config = ConfigDict(frozen=True)
    kind: _L["csv", "json"]
    paths: tuple[str, ...]
    partition_columns: tuple[str, ...] = ()
    partition_values: tuple[tuple[str | None, ...], ...] = ()
    delimiter: str = ","
    header: bool = True
    est_rows: int = 0


class MemorySource(BaseModel):
    """An Arrow table registered in the Session, known by its id."""

    model_config = ConfigDict(frozen=True)
    kind: _L["memory"] = "memory"
    table_id: str
    num_rows: int


Source = Annotated[_Union[ParquetSource, TextSource, MemorySource], _PField(discriminator="kind")]


__all__ = ["MemorySource", "ParquetSource", "Source", "TextSource"]
