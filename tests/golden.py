"""Golden plan files and the local TPC-H Session that plan tests share.

Regenerate golden files with ``DATAFLOW_UPDATE_GOLDEN=1 pytest <test file>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dataflow
from dataflow import tpch
from tests.oracle import tpch_data

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("DATAFLOW_UPDATE_GOLDEN") == "1"


def check_golden(path: Path, text: str) -> None:
    """Compare ``text`` with the golden file at ``path`` exactly (or rewrite it)."""
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"missing golden file {path}; run with DATAFLOW_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"plan differs from {path}; run with DATAFLOW_UPDATE_GOLDEN=1 to update"


def tpch_session(disabled: tuple[str, ...] = (), sf: float = 0.01, parallelism: int = 2) -> dataflow.Session:
    """A local-runtime Session (no Ray) with the TPC-H tables at ``sf`` registered."""
    s = dataflow.Session(runtime="local", parallelism=parallelism, disabled_rules=disabled)
    data = tpch_data(sf)
    for t in tpch.TABLES:
        s.register_parquet(t, str(data / f"{t}.parquet"))
    return s
