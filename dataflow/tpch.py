"""TPC-H helpers: data generation through ``tpchgen-cli`` and the 22 query texts.

>>> from dataflow import tpch
>>> "lineitem" in tpch.TABLES
True
>>> tpch.query_text(6).lstrip().startswith("-- TPC-H Q6")
True
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

TABLES: tuple[str, ...] = (
    "customer",
    "lineitem",
    "nation",
    "orders",
    "part",
    "partsupp",
    "region",
    "supplier",
)

QUERY_NUMBERS: tuple[int, ...] = tuple(range(1, 23))

# benchmarks/ sits next to the package in a source checkout (the package is installed editable).
QUERIES_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "tpch" / "queries"


def query_path(n: int) -> Path:
    """The file holding TPC-H query ``n`` (1..22)."""
    if n not in QUERY_NUMBERS:
        raise ValueError(f"TPC-H has queries 1 to 22, not {n}")
    return QUERIES_DIR / f"q{n:02d}.sql"


def query_text(n: int) -> str:
    """The SQL text of TPC-H query ``n`` (1..22), with the spec's qualification parameters."""
    return query_path(n).read_text()


def table_paths(data_dir: str | Path) -> dict[str, Path]:
    """The Parquet file of each table in a directory written by :func:`generate`."""
    d = Path(data_dir)
    return {t: d / f"{t}.parquet" for t in TABLES}


def is_generated(out_dir: str | Path) -> bool:
    """Whether every table's Parquet file is already in ``out_dir``."""
    return all(p.is_file() and p.stat().st_size > 0 for p in table_paths(out_dir).values())


def _tpchgen() -> str:
    # Prefer the one installed next to this interpreter (a venv not on PATH).
    local = Path(sys.executable).parent / "tpchgen-cli"
    if local.is_file():
        return str(local)
    found = shutil.which("tpchgen-cli")
    if found is None:
        raise RuntimeError("tpchgen-cli is not installed; install it with `pip install tpchgen-cli`")
    return found


def generate(sf: float, out_dir: str | Path, threads: int | None = None) -> Path:
    """Write the eight TPC-H tables at scale factor ``sf`` as Parquet files
    ``<out_dir>/<table>.parquet`` with ``tpchgen-cli``; does nothing if they are all
    there already. Returns ``out_dir``."""
    out = Path(out_dir)
    if is_generated(out):
        return out
    out.mkdir(parents=True, exist_ok=True)
    cmd = [_tpchgen(), "parquet", "-s", f"{sf:g}", "--output-dir", str(out), "--overwrite", "--quiet"]
    if threads is not None:
        cmd += ["--num-threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not is_generated(out):
        raise RuntimeError(
            f"tpchgen-cli failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return out


__all__ = ["QUERIES_DIR", "TABLES", "generate", "is_generated", "query_path", "query_text", "table_paths"]
