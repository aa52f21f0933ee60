"""The Session: a catalog of tables, a cluster connection, and the way in for queries.

>>> import dataflow, pyarrow as pa
>>> with dataflow.Session(runtime="local", parallelism=2) as s:  # doctest: +SKIP
...     s.register("t", pa.table({"k": [1, 2, 1], "v": [10, 20, 30]}))
...     s.table("t").group_by("k").agg(dataflow.functions.sum("v").alias("v")).sort("k").to_arrow()
"""

from __future__ import annotations

import glob
import os
import uuid
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from . import logical as L
from .errors import DataflowError, UnknownTableError
from .operators.base import DEFAULT_BATCH_ROWS
from .types import normalize_schema, schema_from_arrow

if TYPE_CHECKING:
    from dataflow.optimizer import Optimized  # noqa: F401

    from .dataframe import DataFrame
    from .runtime.job import Job


def _parquet_files(path: str) -> list[str]:
    """A file, a directory (its ``*.parquet`` files, recursively) or a glob."""
    p = os.path.expanduser(str(path))
    if os.path.isdir(p):
        files = sorted(glob.glob(os.path.join(p, "**", "*.parquet"), recursive=True))
    elif any(ch in p for ch in "*?["):
        files = sorted(glob.glob(p, recursive=True))
    elif os.path.exists(p):
        files = [p]
    else:
        raise DataflowError(f"no such file or directory: {path}")
    if not files:
        raise DataflowError(f"no Parquet files found at {path}")
    return [os.path.abspath(f) for f in files]


class Session:
    """Where queries are registered, planned and run.

    ``address=None`` starts a local Ray cluster (or uses the one this process already
    started); an address joins a running cluster. ``parallelism`` is the default
    degree of parallelism (default: the cluster's CPUs). With
    ``chain_operators=False`` every operator instance runs on an actor of its own.
    ``runtime="local"`` runs plans on threads of this process, without Ray.
    ``adaptive_parallelism`` lets the cost model run small stages on fewer instances;
    ``disabled_rules`` turns optimizer rules off by name.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        parallelism: int | None = None,
        chain_operators: bool = True,
        *,
        runtime: str = "ray",
        batch_rows: int = DEFAULT_BATCH_ROWS,
        disabled_rules: tuple[str, ...] = (),
        broadcast_rows: int = 2_000_000,
        adaptive_parallelism: bool = True,
        range_sort_rows: int = 2_000_000,
        warm_actors: int | None = None,
        max_actors: int | None = None,
    ) -> None:
        self.chain_operators = chain_operators
        self.batch_rows = batch_rows
        self.disabled_rules = frozenset(disabled_rules)
        self.broadcast_rows = broadcast_rows
        self.adaptive_parallelism = adaptive_parallelism
        self.range_sort_rows = range_sort_rows
        self._catalog: dict[str, L.Scan] = {}
        # name -> (function, return type name, parallel safe)
        self._udfs: dict[str, tuple[Any, str, bool]] = {}
        self._tables: dict[str, pa.Table] = {}
        self._closed = False
        if runtime == "ray":
            from .runtime.ray_runtime import RayRuntime

            self._runtime: Any = RayRuntime(address, num_cpus, max_actors=max_actors)
        elif runtime == "local":
            from .runtime.local import LocalRuntime

            self._runtime = LocalRuntime()
        else:
            raise DataflowError(f"unknown runtime {runtime!r}: use 'ray' or 'local'")
        self.runtime_kind = runtime
        self.parallelism = max(1, int(parallelism or self._runtime.total_cpus()))
        if runtime == "ray":
            self._runtime.pool.warm(warm_actors if warm_actors is not None else 2 * self.parallelism)

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the actors (and the local Ray cluster, if this Session started it)."""
        if not self._closed:
            self._closed = True
            self._runtime.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dashboard_url(self) -> str | None:
        """The Ray dashboard's address, to watch jobs and actors."""
        return self._runtime.dashboard_url

    # -- catalog ------------------------------------------------------------------------

    def register_parquet(self, name: str, path: str) -> DataFrame:
        """Register Parquet data (a file, a directory, or a glob) as table ``name``."""
        files = _parquet_files(path)
        schema = normalize_schema(pq.read_schema(files[0]))
        scan = L.Scan(table=name, source=L.ParquetSource(paths=tuple(files)), table_schema=schema_from_arrow(schema))
        self._catalog[name] = scan
        return self.table(name)

    def register(self, name: str, table: pa.Table | pa.RecordBatch | Any) -> DataFrame:
        """Register an in-memory Arrow table (or a pandas DataFrame) as table ``name``."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        elif not isinstance(table, pa.Table):
            table = pa.Table.from_pandas(table, preserve_index=False)
        table = table.cast(normalize_schema(table.schema))
        old = self._catalog.get(name)
        if old is not None and isinstance(old.source, L.MemorySource):
            self._tables.pop(old.source.table_id, None)
            self._runtime.forget_table(old.source.table_id)
        table_id = f"{name}-{uuid.uuid4().hex[:8]}"
        self._tables[table_id] = table
        scan = L.Scan(
            table=name,
            source=L.MemorySource(table_id=table_id, num_rows=table.num_rows),
            table_schema=schema_from_arrow(table.schema),
        )
        self._catalog[name] = scan
        return self.table(name)

    def deregister(self, name: str) -> None:
        scan = self._catalog.pop(name, None)
        if scan is not None and isinstance(scan.source, L.MemorySource):
            self._tables.pop(scan.source.table_id, None)
            self._runtime.forget_table(scan.source.table_id)

    def table_names(self) -> list[str]:
        return sorted(self._catalog)

    def scan(self, name: str) -> L.Scan:
        """The Scan node of a registered table (the SQL front end's catalog interface)."""
        try:
            return self._catalog[name]
        except KeyError:
            lowered = {k.lower(): k for k in self._catalog}
            if name.lower() in lowered:
                return self._catalog[lowered[name.lower()]]
            raise UnknownTableError(name, list(self._catalog)) from None

    def table(self, name: str) -> DataFrame:
        """A lazy DataFrame over a registered table."""
        from .dataframe import DataFrame

        return DataFrame(self, self.scan(name))

    def sql(self, text: str) -> DataFrame:
        """A lazy DataFrame for a SQL query over the registered tables."""
        from .dataframe import DataFrame
        from .sql import plan_sql

        return DataFrame(self, plan_sql(text, self))

    # -- user-defined functions -----------------------------------------------------------

    def register_udf(self, name: str, fn: Any, return_type: str | pa.DataType, parallel_safe: bool = True) -> Any:
        """Register a scalar UDF over Arrow arrays: ``fn(*arrays) -> pa.Array`` of the
        same length. Returns a function that builds calls: ``f = s.register_udf(...)``,
        then ``df.select(f(col("x")))``. A UDF that is not ``parallel_safe`` (it keeps
        state, or calls something that must not run twice at once) makes the part of
        a plan that calls it run on one instance."""
        from .compute import register_udf
        from .expr import Call, Expr, to_expr
        from .types import type_name

        rtype = return_type if isinstance(return_type, str) else type_name(return_type)
        register_udf(name, fn, rtype, parallel_safe)
        self._udfs[name] = (fn, rtype, parallel_safe)

        def call(*args: Any) -> Expr:
            return Expr(Call(fn=f"udf:{name}", args=tuple(to_expr(a).node for a in args)), name)

        return call

    # -- planning and running -------------------------------------------------------------

    def optimize(self, plan: L.LogicalPlan, parallelism: int | None = None, cap: int | None = None) -> Optimized:
        """Optimize a logical plan. By default the cost model picks each stage's degree
        of parallelism, up to the Session's ``parallelism``; an explicit
        ``parallelism`` here forces every stage to that many instances; ``cap`` lowers
        the Session's maximum for this plan."""
        from dataflow.optimizer import OptimizerConfig, optimize

        config = OptimizerConfig(
            dop=parallelism or cap or self.parallelism,
            disabled_rules=self.disabled_rules,
            broadcast_rows=self.broadcast_rows,
            adaptive_parallelism=self.adaptive_parallelism if parallelism is None else False,
            range_sort_rows=self.range_sort_rows,
            unsafe_udfs=frozenset(n for n, (_, _, safe) in self._udfs.items() if not safe),
        )
        return optimize(plan, config)

    def stages(self, physical: Any) -> Any:
        from .runtime.stages import build_stages

        return build_stages(physical, chain=self.chain_operators)

    def execute(self, plan: L.LogicalPlan, parallelism: int | None = None) -> Job:
        """Optimize and start a logical plan; returns the running :class:`Job`."""
        if self._closed:
            raise DataflowError("this Session is closed")
        opt = self.optimize(plan, parallelism)
        graph = self.stages(opt.physical)
        notes: list[str] = []
        available = self._runtime.available_actors()
        if available is not None and graph.instances() > available:
            # PostgreSQL's lesson: a plan still runs with fewer workers than planned
            planned_dop = parallelism or self.parallelism
            planned = graph.instances()
            dop = planned_dop
            while dop > 1 and graph.instances() > available:
                dop -= 1
                opt = self.optimize(plan, dop) if parallelism else self.optimize(plan, cap=dop)
                graph = self.stages(opt.physical)
            notes.append(
                f"planned {planned} actors at parallelism {planned_dop}, but only {available} were available: "
                f"ran {graph.instances()} actors at parallelism {dop}"
            )
        tables = {
            n.source.table_id: self._tables[n.source.table_id]
            for s in graph.stages
            for _, n in s.scans()
            if isinstance(n.source, L.MemorySource)
        }
        udfs = {n: v for n, v in self._udfs.items()}
        job = self._runtime.submit(graph, opt.physical, tables, self.batch_rows, udfs)
        job.optimized = opt
        job.notes = notes
        return job

    @property
    def dashboard_help(self) -> str | None:
        """How to open the dashboard with Ray's token: where the token lives, and the
        header scripts send (Ray's dashboard takes no token in the URL). ``None``
        without a dashboard."""
        if self.runtime_kind != "ray" or not self.dashboard_url:
            return None
        from .cluster import dashboard_help

        return dashboard_help(self.dashboard_url)
