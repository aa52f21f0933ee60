"""dataflow: a parallel query engine and dataflow runtime on Ray.

>>> import dataflow
>>> from dataflow import col, functions as F
>>> # with dataflow.Session() as s:
>>> #     s.register_parquet("lineitem", "data/lineitem.parquet")
>>> #     s.table("lineitem").group_by("l_returnflag").agg(F.sum("l_quantity")).to_arrow()
"""

from __future__ import annotations

from . import functions
from ._version import __version__
from .dataframe import DataFrame, GroupedData
from .errors import (
    AmbiguousColumnError,
    DataflowError,
    ExecutionError,
    JobCancelled,
    PlanError,
    SqlSyntaxError,
    UnknownColumnError,
    UnknownTableError,
    UnsupportedError,
)
from .expr import Expr, col, interval, lit, when
from .session import Session

__all__ = [
    "AmbiguousColumnError", "DataFrame", "DataflowError", "ExecutionError", "Expr", "GroupedData",
    "JobCancelled", "PlanError", "Session", "SqlSyntaxError", "UnknownColumnError", "UnknownTableError",
    "UnsupportedError", "__version__", "col", "functions", "interval", "lit", "when",
]
