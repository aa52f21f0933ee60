"""dataflow: a parallel query engine and dataflow runtime on Ray.

>>> import dataflow, pyarrow as pa
>>> from dataflow import col, functions as F
>>> with dataflow.Session(runtime="local") as s:  # runtime="ray" (the default) runs it on actors
...     t = s.register("t", pa.table({"k": ["a", "b", "a"], "v": [1, 2, 3]}))
...     t.filter(col("v") > 1).group_by("k").agg(F.count("v").alias("n")).sort("k").to_arrow().to_pydict()
{'k': ['a', 'b'], 'n': [1, 1]}

``s.register_parquet("lineitem", "data/lineitem.parquet")`` registers a file the same way.
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
