"""The Session: a catalog of tables, a cluster connection, and the way in for queries.

>>> import dataflow, pyarrow as pa
>>> with dataflow.Session(runtime="local", parallelism=2) as s:
...     t = s.register("t", pa.table({"k": [1, 2, 1], "v": [10, 20, 30]}))
...     s.table("t").group_by("k").agg(dataflow.functions.sum("v").alias("v")).sort("k").to_arrow().to_pydict()
{'k': [1, 2], 'v': [Decimal('40'), Decimal('20')]}
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from . import logical as L
from .errors import DataflowError, PlanError, UnknownTableError
from .limits import allow_deep_plans, refuse_too_deep
from .operators.base import DEFAULT_BATCH_ROWS
from .progress import wanted
from .types import normalize_schema, schema_from_arrow

# a file, directory, glob or URI, or a list of them (the readers' ``path``)
PathArg = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]

if TYPE_CHECKING:
    from dataflow.optimizer import Optimized  # noqa: F401

    from .dataframe import DataFrame
    from .runtime.job import Job


ACCEPTED = (
    "a pyarrow Table, RecordBatch or RecordBatchReader, a list of RecordBatches, a pandas or polars "
    "DataFrame, a Ray Dataset, an object with __arrow_c_stream__, or a dataflow DataFrame (registered as a view)"
)


def _to_arrow(data: Any) -> pa.Table:
    """An Arrow table from the in-memory kinds :meth:`Session.register` accepts."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if isinstance(data, (list, tuple)) and data and all(isinstance(b, pa.RecordBatch) for b in data):
        return pa.Table.from_batches(list(data))
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and type(data).__name__ == "DataFrame":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars" and type(data).__name__ in ("DataFrame", "LazyFrame"):
        frame = data.collect() if type(data).__name__ == "LazyFrame" else data
        return frame.to_arrow()
    if hasattr(data, "to_arrow_refs") and hasattr(data, "schema"):
        return _ray_dataset_to_arrow(data)
    if hasattr(data, "__arrow_c_stream__"):  # the Arrow PyCapsule protocol (DuckDB relations, ...)
        return pa.table(data)
    raise TypeError(f"register() takes {ACCEPTED}; got {type(data).__module__}.{type(data).__name__}")


def _ray_dataset_to_arrow(ds: Any) -> pa.Table:
    """A Ray Dataset's blocks as one table, through its object references (each
    resolved with ``ObjectRef.future()``: no ``import ray`` above the runtime)."""
    tables = [ref.future().result() for ref in ds.to_arrow_refs()]
    tables = [t if isinstance(t, pa.Table) else pa.Table.from_pandas(t, preserve_index=False) for t in tables]
    if not tables:
        schema = ds.schema()
        return getattr(schema, "base_schema", schema).empty_table()
    return pa.concat_tables(tables, promote_options="default")


def _memory_ids(plan: L.LogicalPlan) -> set[str]:
    """The in-memory tables a plan reads."""
    out: set[str] = set()
    if isinstance(plan, L.Scan) and isinstance(plan.source, L.MemorySource):
        out.add(plan.source.table_id)
    for c in plan.children():
        out |= _memory_ids(c)
    return out


def _label(path: Any) -> str:
    """A short table label for an unregistered file source (its base name)."""
    if isinstance(path, (str, os.PathLike)):
        first = os.fspath(path)
    else:
        first = str(next(iter(path), "files")) if isinstance(path, Sequence) else "files"
    base = first.rstrip("/").rsplit("/", 1)[-1]
    return base.split(".", 1)[0] or "files"


def _rows_read(graph: Any) -> int | None:
    """The rows a job's scans read, by the files' row counts in their (cached) footers,
    before filters and pruning; ``None`` where a scan cannot tell (CSV and JSON files)."""
    from .io import read_parquet_metadata

    total = 0
    for s in graph.stages:
        for _, node in s.scans():
            src = node.source
            if src.kind == "memory":
                total += src.num_rows
            elif src.kind == "parquet":
                total += sum(read_parquet_metadata(path).num_rows for path in src.paths)
            else:
                return None
    return total


def _udfs_called(plan: Any) -> set[str]:
    """The registered UDFs a plan calls (walked without recursion: plans can be deep)."""
    from pydantic import BaseModel

    from .expr import Call

    out: set[str] = set()
    stack = [plan]
    while stack:
        x = stack.pop()
        if isinstance(x, Call) and x.fn.startswith("udf:"):
            out.add(x.fn[4:])
        if isinstance(x, BaseModel):
            stack.extend(getattr(x, f) for f in type(x).model_fields)
        elif isinstance(x, (tuple, list)):
            stack.extend(x)
        elif isinstance(x, dict):
            stack.extend(x.values())
    return out


class Session:
    """Where queries are registered, planned and run.

    ``address=None`` starts a local Ray cluster (or uses the one this process already
    started); an address joins a running cluster. ``parallelism`` is the default
    degree of parallelism (default: the cluster's CPUs). With
    ``chain_operators=False`` every operator instance runs on an actor of its own.
    ``runtime="local"`` runs plans on threads of this process, without Ray.
    ``adaptive_parallelism`` lets the cost model run small stages on fewer instances;
    ``disabled_rules`` turns optimizer rules off by name. A query whose scans read at
    most ``leader_rows`` rows (default 1,000,000, or ``DATAFLOW_LEADER_ROWS``) runs in
    this process on threads, without actors: there the actors' round trips would cost
    more than they bring; ``leader_rows=0`` sends every query to the actors.
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
        share_subplans: bool = False,
        warm_actors: int | None = None,
        max_actors: int | None = None,
        max_retries: int = 2,
        name: str | None = None,
        progress: bool = True,
        leader_rows: int | None = None,
    ) -> None:
        from .config import validate

        allow_deep_plans()
        self._closed = True  # until the runtime is up: close() and __del__ have nothing to do
        self.config = validate(
            address=address, num_cpus=num_cpus, parallelism=parallelism, chain_operators=chain_operators,
            runtime=runtime, batch_rows=batch_rows, disabled_rules=disabled_rules, broadcast_rows=broadcast_rows,
            adaptive_parallelism=adaptive_parallelism, range_sort_rows=range_sort_rows,
            share_subplans=share_subplans, warm_actors=warm_actors,
            max_actors=max_actors, max_retries=max_retries, name=name, progress=progress,
            **({} if leader_rows is None else {"leader_rows": leader_rows}),
        )
        cfg = self.config
        self.name = cfg.name or uuid.uuid4().hex[:6]
        self.chain_operators = cfg.chain_operators
        self.batch_rows = cfg.batch_rows
        # how to optimize: the settings every optimize() call starts from
        self.optimizer_settings = cfg.optimizer
        self._catalog: dict[str, L.Scan] = {}
        self._views: dict[str, L.LogicalPlan] = {}
        # name -> (function, return type name, parallel safe)
        self._udfs: dict[str, tuple[Any, str, bool]] = {}
        self._tables: dict[str, pa.Table] = {}
        if cfg.runtime == "ray":
            from .runtime.ray_runtime import RayRuntime

            self._runtime: Any = RayRuntime(
                cfg.address, cfg.num_cpus, session=self.name, max_actors=cfg.max_actors,
                max_retries=cfg.max_retries, namespace="dataflow",
            )
        else:
            from .runtime.local import LocalRuntime

            self._runtime = LocalRuntime()
        # the leader: where the Ray runtime's small queries run (see leader_rows)
        self._leader: Any = None
        if cfg.runtime == "ray" and cfg.leader_rows > 0:
            from .runtime.local import LocalRuntime

            self._leader = LocalRuntime()
        self._closed = False
        self.runtime_kind = cfg.runtime
        try:
            self.parallelism = cfg.parallelism or max(1, int(self._runtime.total_cpus()))
            if cfg.runtime == "ray":
                if cfg.max_actors is None:
                    # threads and memory are finite: each worker is a process of ~30 threads
                    # and ~150 MB, so 64 of them take ~2,000 of a machine's 32,768 pids
                    self._runtime.pool.cap = self._runtime.max_actors = max(64, 16 * self.parallelism)
                self._runtime.coordinator()  # first in the raylet's queue of actors to start
                self._runtime.pool.warm(cfg.warm_actors if cfg.warm_actors is not None else 2 * self.parallelism)
        except BaseException:
            self.close()
            raise

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Cancel running jobs, stop the actors (and the local Ray cluster, if this
        Session started it)."""
        if not self._closed:
            self._closed = True
            if self._leader is not None:
                self._leader.close()
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

    def read_parquet(self, path: PathArg, *, hive_partitioning: bool | None = None) -> DataFrame:
        """A DataFrame over Parquet data: a file, a directory (its ``.parquet`` files,
        recursively), a glob, or a list of these; local paths or ``pyarrow.fs`` URIs
        (``file:///...``, ``s3://...``). ``k=v`` directories become partition
        columns (unless ``hive_partitioning=False``), and filters on them skip whole
        files. Every file must have the same schema (checked now)."""
        return self._file_frame(_label(path), path, "parquet", hive_partitioning=hive_partitioning)

    def read_csv(
        self,
        path: PathArg,
        *,
        schema: pa.Schema | None = None,
        delimiter: str = ",",
        header: bool = True,
        hive_partitioning: bool | None = None,
    ) -> DataFrame:
        """A DataFrame over CSV files (found as :meth:`read_parquet` finds Parquet
        files, with ``.csv`` / ``.tsv``). Column types are inferred from the first
        block of every file (they must agree) unless ``schema`` gives them."""
        return self._file_frame(
            _label(path), path, "csv", schema=schema, delimiter=delimiter, header=header,
            hive_partitioning=hive_partitioning,
        )

    def read_json(
        self, path: PathArg, *, schema: pa.Schema | None = None, hive_partitioning: bool | None = None
    ) -> DataFrame:
        """A DataFrame over newline-delimited JSON files (``.json``, ``.jsonl``,
        ``.ndjson``), one object a line; types as for :meth:`read_csv`."""
        return self._file_frame(_label(path), path, "json", schema=schema, hive_partitioning=hive_partitioning)

    def register_parquet(self, name: str, path: PathArg, **options: Any) -> DataFrame:
        """Register Parquet data as table ``name`` (see :meth:`read_parquet`)."""
        return self._register_scan(self._file_frame(name, path, "parquet", **options).plan)  # type: ignore[arg-type]

    def register_csv(self, name: str, path: PathArg, **options: Any) -> DataFrame:
        """Register CSV data as table ``name`` (see :meth:`read_csv`)."""
        return self._register_scan(self._file_frame(name, path, "csv", **options).plan)  # type: ignore[arg-type]

    def register_json(self, name: str, path: PathArg, **options: Any) -> DataFrame:
        """Register newline-delimited JSON data as table ``name`` (see :meth:`read_json`)."""
        return self._register_scan(self._file_frame(name, path, "json", **options).plan)  # type: ignore[arg-type]

    def _file_frame(self, name: str, path: PathArg, fmt: str, **options: Any) -> DataFrame:
        from .dataframe import DataFrame
        from .io import resolve_source

        source, schema = resolve_source(path, fmt, **options)
        return DataFrame(self, L.Scan(table=name, source=source, table_schema=schema_from_arrow(schema)))

    def _register_scan(self, scan: L.Scan) -> DataFrame:
        self._drop_name(scan.table)
        self._catalog[scan.table] = scan
        return self.table(scan.table)

    def register(self, name: str, data: Any) -> DataFrame:
        """Register data as table ``name``: a pyarrow Table, RecordBatch or
        RecordBatchReader, a list of RecordBatches, a pandas or polars DataFrame, a
        Ray Dataset, an object with ``__arrow_c_stream__`` (a DuckDB relation, ...),
        or a dataflow DataFrame. Anything else raises ``TypeError``. In-memory data is copied into the Session (strings
        normalized); a DataFrame becomes a view (its plan, expanded when queried)."""
        from .dataframe import DataFrame

        if not isinstance(name, str) or not name:
            raise TypeError(f"a table name must be a non-empty str, got {name!r}")
        if isinstance(data, DataFrame):
            return self.create_view(name, data)
        table = _to_arrow(data)
        table = table.cast(normalize_schema(table.schema))
        table_id = f"{name}-{uuid.uuid4().hex[:8]}"
        self._drop_name(name)
        self._tables[table_id] = table
        scan = L.Scan(
            table=name,
            source=L.MemorySource(table_id=table_id, num_rows=table.num_rows),
            table_schema=schema_from_arrow(table.schema),
        )
        self._catalog[name] = scan
        return self.table(name)

    def create_view(self, name: str, df: DataFrame | L.LogicalPlan, replace: bool = True) -> DataFrame:
        """Register a DataFrame's (or a logical plan's) query as view ``name``: queries
        that name it read the plan in its place. The view keeps the tables it reads
        as they were when it was made (as Spark's temporary views do)."""
        from .dataframe import DataFrame

        plan = df.plan if isinstance(df, DataFrame) else df
        if isinstance(df, DataFrame) and df.session is not self:
            raise PlanError("cannot register a DataFrame of another Session as a view")
        if not replace and (name in self._catalog or name in self._views):
            raise PlanError(f"a table or view named {name!r} already exists (use CREATE OR REPLACE VIEW)")
        self._drop_name(name)
        self._views[name] = plan
        return self.table(name)

    def drop_view(self, name: str, if_exists: bool = False) -> None:
        """Remove view ``name``; unless ``if_exists``, it must be a view."""
        key = self._find(name, self._views)
        if key is None:
            if if_exists:
                return
            if self._find(name, self._catalog) is not None:
                raise PlanError(f"{name!r} is a table, not a view; use Session.deregister")
            raise UnknownTableError(name, list(self._views))
        del self._views[key]
        self._release_unused()

    def deregister(self, name: str) -> None:
        """Remove table or view ``name`` (nothing if there is none)."""
        self._drop_name(name)

    def _drop_name(self, name: str) -> None:
        self._views.pop(name, None)
        self._catalog.pop(name, None)
        self._release_unused()

    def _release_unused(self) -> None:
        """Free in-memory tables that no table or view reads any more."""
        used = {s.source.table_id for s in self._catalog.values() if isinstance(s.source, L.MemorySource)}
        for plan in self._views.values():
            used |= _memory_ids(plan)
        for table_id in [t for t in self._tables if t not in used and not t.startswith("__")]:
            self._tables.pop(table_id, None)
            self._runtime.forget_table(table_id)

    @staticmethod
    def _find(name: str, where: dict[str, Any]) -> str | None:
        if name in where:
            return name
        lowered = {k.lower(): k for k in where}
        return lowered.get(name.lower())

    def table_names(self) -> list[str]:
        """The names of the registered tables and views."""
        return sorted(set(self._catalog) | set(self._views))

    def view_names(self) -> list[str]:
        return sorted(self._views)

    def scan(self, name: str) -> L.LogicalPlan:
        """The plan of a registered table (its Scan node) or view (its query): the
        SQL front end's catalog interface."""
        key = self._find(name, self._catalog)
        if key is not None:
            return self._catalog[key]
        key = self._find(name, self._views)
        if key is not None:
            return self._views[key]
        raise UnknownTableError(name, self.table_names())

    def table(self, name: str) -> DataFrame:
        """A lazy DataFrame over a registered table."""
        from .dataframe import DataFrame

        return DataFrame(self, self.scan(name))

    def sql(self, text: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> DataFrame:
        """A lazy DataFrame for a SQL query over the registered tables and views.

        ``params`` binds placeholders as typed literals: a list for ``$1, $2`` or
        ``?`` (in order), a dict for ``$name``. ``CREATE [OR REPLACE] [TEMP] VIEW v AS
        query`` registers a view at once and returns it as a DataFrame (not run);
        ``DROP VIEW [IF EXISTS] v`` drops one at once and returns an empty DataFrame
        (no rows; one string column ``dropped``). ``EXPLAIN [ANALYZE] [VERBOSE] query``
        (or ``EXPLAIN (ANALYZE, VERBOSE, FORMAT TEXT|DOT) query``) returns the plan as
        a DataFrame of one string column ``plan``, a row per line; ANALYZE runs the
        query at once (see :meth:`DataFrame.explain`)."""
        from .dataframe import DataFrame
        from .sql.statements import plan_statement

        if not isinstance(text, str):
            raise TypeError(f"Session.sql() takes the SQL text as a str, got {type(text).__name__}")
        with refuse_too_deep("the query"):
            st = plan_statement(text, self, params)
        if st.kind == "create_view":
            assert st.plan is not None
            if st.if_exists and (self._find(st.name, self._views) or self._find(st.name, self._catalog)):
                return self.table(st.name)  # CREATE VIEW IF NOT EXISTS: keep the one there
            return self.create_view(st.name, st.plan, replace=st.replace)
        if st.kind == "drop_view":
            self.drop_view(st.name, if_exists=st.if_exists)
            return self._text_frame("dropped", [], "__dropped__")
        if st.kind == "explain":
            assert st.plan is not None
            text = DataFrame(self, st.plan).explain(verbose=st.verbose, analyze=st.analyze, format=st.format)
            # kept while the Session lives (ids starting "__" are never released)
            return self._text_frame("plan", text.splitlines(), f"__explain_{uuid.uuid4().hex[:12]}")
        assert st.plan is not None
        with refuse_too_deep("the query"):
            return DataFrame(self, st.plan)

    def _text_frame(self, column: str, lines: list[str], table_id: str) -> DataFrame:
        """A DataFrame over one string column held in memory (a statement's answer)."""
        from .dataframe import DataFrame

        table = pa.table({column: pa.array(lines, pa.string())})
        self._tables[table_id] = table
        scan = L.Scan(
            table=column, source=L.MemorySource(table_id=table_id, num_rows=len(lines)),
            table_schema=schema_from_arrow(table.schema),
        )
        return DataFrame(self, scan)

    # -- user-defined functions -----------------------------------------------------------

    def register_udf(self, name: str, fn: Any, return_type: str | pa.DataType, parallel_safe: bool = True) -> Any:
        """Register a scalar UDF over Arrow arrays: ``fn(*arrays) -> pa.Array`` of the
        same length. Returns a function that builds calls: ``f = s.register_udf(...)``,
        then ``df.select(f(col("x")))``. A UDF that is not ``parallel_safe`` (it keeps
        state, or calls something that must not run twice at once) makes the part of
        a plan that calls it run on one instance."""
        from .expr import Call, Expr, to_expr
        from .kernels.udf import register_udf
        from .types import type_name

        if not callable(fn):
            raise TypeError(f"register_udf({name!r}, ...): fn must be callable, not {type(fn).__name__}")
        rtype = return_type if isinstance(return_type, str) else type_name(return_type)
        self._runtime.check_udf(name, fn)
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
        from dataflow.optimizer import optimize

        base = self.optimizer_settings
        settings = base.model_copy(
            update={
                "dop": parallelism or cap or self.parallelism,
                "adaptive_parallelism": base.adaptive_parallelism if parallelism is None else False,
                "unsafe_udfs": tuple(sorted(n for n, (_, _, safe) in self._udfs.items() if not safe)),
            }
        )
        return optimize(plan, settings)

    def stages(self, physical: Any) -> Any:
        from .runtime.stages import build_stages

        return build_stages(physical, chain=self.chain_operators)

    def execute(self, plan: L.LogicalPlan, parallelism: int | None = None, *, stream: bool = False) -> Job:
        """Optimize and start a logical plan; returns the running :class:`Job`
        (``stream``: see :meth:`DataFrame.submit`)."""
        if self._closed:
            raise DataflowError("this Session is closed")
        with refuse_too_deep("the query"):
            from .optimizer.shared import repeated_subplans

            if self.optimizer_settings.share_subplans and repeated_subplans(plan):
                from .staged import StagedJob

                job: Job = StagedJob(self, plan, parallelism, stream)
                job.show_progress = wanted(self.config.progress)
                return job
            return self._execute(plan, parallelism, stream)

    def _execute(self, plan: L.LogicalPlan, parallelism: int | None, stream: bool = False) -> Job:
        opt = self.optimize(plan, parallelism)
        graph = self.stages(opt.physical)
        notes: list[str] = []
        runtime = self._runtime
        read = None if self._leader is None or stream else _rows_read(graph)
        if read is not None and read <= self.config.leader_rows:
            runtime = self._leader
            notes.append(
                f"ran in the driver on threads: its scans read {read:,} rows, at most leader_rows "
                f"({self.config.leader_rows:,}), too few to be worth the actors' round trips"
            )
        available = runtime.available_actors()
        if available and graph.instances() > available:
            # PostgreSQL's lesson: a plan still runs with fewer workers than planned.
            # (With none free at all, the job keeps its plan and queues for actors.)
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
        tables: dict[str, pa.Table] = {}
        for s in graph.stages:
            for _, n in s.scans():
                if isinstance(n.source, L.MemorySource):
                    t = self._tables.get(n.source.table_id)
                    if t is None:
                        raise DataflowError(
                            f"table {n.table!r} was deregistered or registered again after this DataFrame "
                            "was made; build the DataFrame again from the current table"
                        )
                    tables[n.source.table_id] = t
        used = _udfs_called(opt.physical)
        udfs = {n: v for n, v in self._udfs.items() if n in used}
        job = runtime.submit(graph, opt.physical, tables, self.batch_rows, udfs, stream=stream)
        job.optimized = opt
        job.show_progress = wanted(self.config.progress)
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
