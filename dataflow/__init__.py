"""dataflow: a parallel query engine and dataflow runtime on Ray."""

from __future__ import annotations

from .expr import Expr, col, interval, lit, when

__all__ = ["Expr", "col", "interval", "lit", "when"]
__version__ = "0.1.0"
