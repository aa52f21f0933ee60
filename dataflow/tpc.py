"""What the TPC-H and TPC-DS helpers share: a suite's tables, its query texts, and the
program that writes its data as Parquet (``tpchgen-cli``, ``tpcgen-cli``).

:mod:`dataflow.tpch` and :mod:`dataflow.tpcds` each describe their suite once with a
:class:`Suite` and export its methods as module functions.

>>> from dataflow import tpch
>>> tpch.SUITE.query_path(1).name
'q01.sql'
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Suite:
    """A benchmark suite: what its data and queries are, and how its data is generated."""

    name: str  # "TPC-H"
    tables: tuple[str, ...]
    query_numbers: tuple[int, ...]
    # where the query files are: the first folder holding the file, else the last one
    query_dirs: tuple[Path, ...]
    program: str  # the generator, installed from PyPI under the same name
    program_args: tuple[str, ...]  # the generator's arguments before ``-s <sf>``

    def query_path(self, n: int) -> Path:
        """The file holding query ``n``."""
        if n not in self.query_numbers:
            lo, hi = self.query_numbers[0], self.query_numbers[-1]
            raise ValueError(f"{self.name} has queries {lo} to {hi}, not {n}")
        for d in self.query_dirs:
            p = d / f"q{n:02d}.sql"
            if p.is_file():
                return p
        return self.query_dirs[-1] / f"q{n:02d}.sql"

    def query_text(self, n: int) -> str:
        """The SQL text of query ``n``."""
        return self.query_path(n).read_text()

    def table_paths(self, data_dir: str | Path) -> dict[str, Path]:
        """The Parquet file of each table in a directory written by :meth:`generate`."""
        d = Path(data_dir)
        return {t: d / f"{t}.parquet" for t in self.tables}

    def is_generated(self, out_dir: str | Path) -> bool:
        """Whether every table's Parquet file is already in ``out_dir``."""
        return all(p.is_file() and p.stat().st_size > 0 for p in self.table_paths(out_dir).values())

    def _program(self) -> str:
        # Prefer the one installed next to this interpreter (a venv not on PATH).
        local = Path(sys.executable).parent / self.program
        if local.is_file():
            return str(local)
        found = shutil.which(self.program)
        if found is None:
            raise RuntimeError(f"{self.program} is not installed; install it with `pip install {self.program}`")
        return found

    def generate(self, sf: float, out_dir: str | Path, threads: int | None = None) -> Path:
        """Write the suite's tables at scale factor ``sf`` as Parquet files
        ``<out_dir>/<table>.parquet``; does nothing if they are all there already.
        Returns ``out_dir``."""
        out = Path(out_dir)
        if self.is_generated(out):
            return out
        out.mkdir(parents=True, exist_ok=True)
        cmd = [self._program(), *self.program_args, "-s", f"{sf:g}", "--output-dir", str(out), "--overwrite", "--quiet"]
        if threads is not None:
            cmd += ["--num-threads", str(threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not self.is_generated(out):
            raise RuntimeError(
                f"{self.program} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
            )
        return out


__all__ = ["Suite"]
