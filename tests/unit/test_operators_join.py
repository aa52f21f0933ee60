"""Hash join and nested loop join against DuckDB: every join type, NULL keys, key type
mismatches, residual conditions (Acero filter and the fallback), null-aware anti."""

from __future__ import annotations

import decimal
import threading
import time
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest

from dataflow.errors import DataflowError
from dataflow.expr import col
from dataflow.operators import TaskContext, build_operator
from dataflow.operators.hash_join import ProbeGate, common_key_type, to_acero_expression
from dataflow.physical import PHashJoin, PNestedLoopJoin
from tests.oracle import assert_same
from tests.unit.test_operators import duck, run_op, source

HOWS = ["inner", "left", "right", "full", "semi", "anti", "right_semi", "right_anti"]
DUCK_JOIN = {
    "inner": "join",
    "left": "left join",
    "right": "right join",
    "full": "full join",
    "semi": "semi join",
    "anti": "anti join",
}


def tables(n_left: int = 600, n_right: int = 300, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """Probe and build sides with duplicate and NULL keys; key types differ (int32 vs
    int64, decimal scales, string vs large_string)."""
    rng = np.random.default_rng(seed)
    left = pa.table(
        {
            "lk": pa.array(
                rng.integers(0, 60, n_left).astype(np.int32), pa.int32(), mask=rng.random(n_left) < 0.1
            ),
            "ls": pa.array(rng.choice(["x", "y", "z"], n_left), pa.string(), mask=rng.random(n_left) < 0.1),
            "lx": pa.array(rng.integers(0, 100, n_left), pa.int64(), mask=rng.random(n_left) < 0.1),
            "ld": pa.array(
                [decimal.Decimal(int(v)).scaleb(-1) for v in rng.integers(0, 30, n_left)], pa.decimal128(5, 1)
            ),
            "lid": pa.array(np.arange(n_left), pa.int64()),
        }
    )
    right = pa.table(
        {
            "rk": pa.array(rng.integers(20, 90, n_right), pa.int64(), mask=rng.random(n_right) < 0.1),
            "rs": pa.array(
                rng.choice(["x", "y", "w"], n_right), pa.large_string(), mask=rng.random(n_right) < 0.1
            ),
            "ry": pa.array(rng.integers(0, 100, n_right), pa.int64(), mask=rng.random(n_right) < 0.1),
            "rd": pa.array(
                [decimal.Decimal(int(v)).scaleb(-2) for v in rng.integers(0, 300, n_right)],
                pa.decimal128(9, 2),
            ),
            "rid": pa.array(np.arange(n_right), pa.int64()),
        }
    )
    return left, right


def hash_join(
    left: pa.Table,
    right: pa.Table,
    how: str,
    lkeys,
    rkeys,
    condition=None,
    acero_filter: bool = True,
    null_aware: bool = False,
    size: int = 64,
) -> pa.Table:
    node = PHashJoin(
        left=source(left, "l"),
        right=source(right, "r"),
        how=how,
        left_keys=tuple(lkeys),
        right_keys=tuple(rkeys),
        condition=None if condition is None else condition.node,
        null_aware=null_aware,
    )
    op = build_operator(node, TaskContext())
    op.use_acero_filter = acero_filter  # type: ignore[attr-defined]
    return run_op(op, left, right, size=size)


def expected_join(left: pa.Table, right: pa.Table, how: str, on: str) -> pa.Table:
    if how in ("right_semi", "right_anti"):  # the right rows with (without) a match
        return duck(f"select r.* from r {DUCK_JOIN[how[6:]]} l on {on}", l=left, r=right)
    cols = "l.*" if how in ("semi", "anti") else "l.*, r.*"
    return duck(f"select {cols} from l {DUCK_JOIN[how]} r on {on}", l=left, r=right)


@pytest.mark.parametrize("how", HOWS)
def test_hash_join_single_key(how: str) -> None:
    left, right = tables()
    out = hash_join(left, right, how, ["lk"], ["rk"])
    assert_same(out, expected_join(left, right, how, "l.lk = r.rk"))


@pytest.mark.parametrize("how", HOWS)
def test_hash_join_multi_key_mixed_types(how: str) -> None:
    left, right = tables(seed=1)
    out = hash_join(left, right, how, ["ls", "ld"], ["rs", "rd"])
    assert_same(out, expected_join(left, right, how, "l.ls = r.rs and l.ld = r.rd"))
    # output types are the inputs' (normalized), not the common key types
    if how in ("right_semi", "right_anti"):
        assert out.schema.names == right.schema.names and out.schema.field("rd").type == pa.decimal128(9, 2)
        return
    assert out.schema.field("ld").type == pa.decimal128(5, 1)
    if how not in ("semi", "anti", "right_semi", "right_anti"):
        assert out.schema.field("rs").type == pa.string()


CONDITIONS = {
    # Acero can evaluate these
    "lt": (col("lx") < col("ry"), "l.lx < r.ry"),
    "or_null": ((col("lx") + 10 > col("ry")) | col("ry").is_null(), "(l.lx + 10 > r.ry or r.ry is null)"),
    # these go through the fallback (upper() is not in the translatable subset)
    "upper": (col("ls").upper() != col("rs").upper(), "upper(l.ls) <> upper(r.rs)"),
}


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("cond", list(CONDITIONS))
@pytest.mark.parametrize("acero_filter", [True, False])
def test_hash_join_residual_condition(how: str, cond: str, acero_filter: bool) -> None:
    left, right = tables(seed=2)
    expr, sql = CONDITIONS[cond]
    out = hash_join(left, right, how, ["lk"], ["rk"], condition=expr, acero_filter=acero_filter)
    assert_same(out, expected_join(left, right, how, f"l.lk = r.rk and {sql}"))


def test_condition_translation() -> None:
    assert to_acero_expression((col("a") < col("b")).node) is not None
    assert to_acero_expression(col("a").isin([1, 2], negated=True).node) is not None
    assert to_acero_expression((col("a") / col("b") > 1).node) is None
    assert to_acero_expression(col("s").like("a%").node) is None


def test_hash_join_empty_sides() -> None:
    left, right = tables(50, 20)
    for how in HOWS:
        out = hash_join(left, right.slice(0, 0), how, ["lk"], ["rk"])
        assert_same(out, expected_join(left, right.slice(0, 0), how, "l.lk = r.rk"))
        out = hash_join(left.slice(0, 0), right, how, ["lk"], ["rk"])
        assert_same(out, expected_join(left.slice(0, 0), right, how, "l.lk = r.rk"))


def test_null_aware_anti_join() -> None:
    left, right = tables(seed=3)
    na = duck("select * from l where lk not in (select rk from r)", l=left, r=right)
    out = hash_join(left, right, "anti", ["lk"], ["rk"], null_aware=True)
    assert na.num_rows == 0 and out.num_rows == 0  # the build side has a NULL key
    no_null = right.filter(pa.compute.is_valid(right.column("rk")))
    out = hash_join(left, no_null, "anti", ["lk"], ["rk"], null_aware=True)
    expected = duck("select * from l where lk not in (select rk from r)", l=left, r=no_null)
    assert expected.num_rows > 0 and left.column("lk").null_count > 0
    assert_same(out, expected)
    assert out.column("lk").null_count == 0
    # an empty build side keeps everything, NULL keys included
    out = hash_join(left, right.slice(0, 0), "anti", ["lk"], ["rk"], null_aware=True)
    assert_same(out, left)


def test_common_key_types() -> None:
    assert common_key_type(pa.int32(), pa.int64()) == pa.int64()
    assert common_key_type(pa.decimal128(5, 1), pa.decimal128(9, 2)) == pa.decimal128(9, 2)
    assert common_key_type(pa.decimal128(15, 2), pa.int64()) == pa.decimal128(21, 2)
    assert common_key_type(pa.string(), pa.large_string()) == pa.string()
    with pytest.raises(DataflowError):
        common_key_type(pa.string(), pa.date32())


def probe_stream(n_batches: int, rows: int, counter: list[int], keys: int = 1000) -> Iterator[pa.RecordBatch]:
    rng = np.random.default_rng(0)
    for _ in range(n_batches):
        counter[0] += 1
        yield pa.record_batch({"k": rng.integers(0, keys, rows), "v": np.arange(rows)})


def join_node(how: str = "inner") -> PHashJoin:
    lschema = pa.schema([("k", pa.int64()), ("v", pa.int64())])
    rschema = pa.schema([("bk", pa.int64()), ("bv", pa.float64())])
    return PHashJoin(
        left=source(lschema, "l"), right=source(rschema, "r"), how=how, left_keys=("k",), right_keys=("bk",)
    )


def build_table(n: int = 1000) -> pa.Table:
    return pa.table({"bk": np.arange(n), "bv": np.arange(n) * 2.0})


def _max_read_ahead(window: int, queued_rows: int) -> int:
    """Probe batches Acero has read beyond those whose output was consumed (max)."""
    pulled = [0]
    op = build_operator(join_node(), TaskContext())
    op.gate_window = window  # type: ignore[attr-defined]
    op.gate_rows = queued_rows  # type: ignore[attr-defined]
    out = op.execute([probe_stream(400, 10_000, pulled), iter([build_table().to_batches()[0]])])
    rows = 0
    max_ahead = 0
    for i, b in enumerate(out):
        rows += b.num_rows
        if i % 5 == 0:
            time.sleep(0.01)  # slow consumer
        max_ahead = max(max_ahead, pulled[0] - rows // 10_000)
    assert rows == 4_000_000
    return max_ahead


def test_hash_join_streams_the_probe_side() -> None:
    """A slow consumer: Acero must not read (and join) the probe side far ahead."""
    # Each probe batch of 10_000 rows gives 10_000 output rows. Gated, Acero holds at
    # most 4 batches in flight, 40_000 queued output rows, and its per-thread output
    # buffers of 32K rows; ungated it joins whatever it can read (up to 1 GiB queued).
    gated = _max_read_ahead(4, 40_000)
    ungated = _max_read_ahead(10**9, 10**12)
    assert gated <= 50 and ungated >= 3 * gated, (gated, ungated)


def test_hash_join_selective_probe_does_not_stall() -> None:
    """No probe row matches: the gate must still let the whole probe side through."""
    pulled = [0]
    op = build_operator(join_node(), TaskContext())
    out = list(
        op.execute(
            [
                probe_stream(300, 1000, pulled, keys=10**9),
                iter([pa.table({"bk": [-1], "bv": [0.0]}).to_batches()[0]]),
            ]
        )
    )
    assert pulled[0] == 300 and sum(b.num_rows for b in out) == 0


def _join_chain(depth: int, batches: int) -> int:
    """Rows out of ``depth`` joins, each probing with the previous one's output."""
    pulled = [0]
    stream: Iterator[pa.RecordBatch] = probe_stream(batches, 5000, pulled)
    lschema = pa.schema([("k", pa.int64()), ("v", pa.int64())])
    for d in range(depth):
        rschema = pa.schema([(f"bk{d}", pa.int64()), (f"bv{d}", pa.float64())])
        node = PHashJoin(
            left=source(lschema, "l"),
            right=source(rschema, "r"),
            how="inner",
            left_keys=("k",),
            right_keys=(f"bk{d}",),
        )
        build = build_table().rename_columns([f"bk{d}", f"bv{d}"])
        stream = build_operator(node, TaskContext()).execute([stream, iter(build.to_batches())])
        lschema = pa.schema(list(lschema) + list(rschema))
    return sum(b.num_rows for b in stream)


def test_hash_join_chain_does_not_deadlock() -> None:
    """Joins fed by joins, in several threads at once: more probe streams blocked on
    upstream joins than Acero has IO threads by default (8)."""
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(_join_chain(5, 12)), daemon=True) for _ in range(4)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert results == [60_000] * 4


def test_hash_join_propagates_probe_errors() -> None:
    def failing() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch({"k": [1, 2], "v": [1, 2]})
        raise KeyError("boom")

    op = build_operator(join_node(), TaskContext())
    with pytest.raises(KeyError, match="boom"):
        list(op.execute([failing(), iter(build_table().to_batches())]))


def test_hash_join_closes_early_without_hanging() -> None:
    pulled = [0]
    op = build_operator(join_node(), TaskContext())
    gen = op.execute([probe_stream(1000, 1000, pulled), iter(build_table().to_batches())])
    next(gen)
    gen.close()
    # Acero buffers up to 32K output rows per thread before emitting any
    assert pulled[0] < 200


def test_probe_gate_limits_batches_in_flight_and_queued_rows() -> None:
    gate = ProbeGate(window=2, max_queued_rows=100)

    def admitted_in_thread(seq: int) -> list[bool]:
        out: list[bool] = []
        threading.Thread(target=lambda: out.append(gate.admit(seq)), daemon=True).start()
        time.sleep(0.05)
        return out

    assert gate.admit(0) and gate.admit(1)
    waiting = admitted_in_thread(2)
    assert not waiting
    gate.probed(0)
    time.sleep(0.05)
    assert waiting == [True]
    gate.emitted(150)  # output piles up for the consumer
    waiting = admitted_in_thread(2)
    assert not waiting
    gate.consumed(100)
    time.sleep(0.05)
    assert waiting == [True]
    gate.close()
    assert gate.admit(100) is False


# -- nested loop join ------------------------------------------------------------------------


def nl_join(
    left: pa.Table, right: pa.Table, how: str, condition=None, max_pairs: int | None = None
) -> pa.Table:
    node = PNestedLoopJoin(
        left=source(left, "l"),
        right=source(right, "r"),
        how=how,
        condition=None if condition is None else condition.node,
    )
    op = build_operator(node, TaskContext())
    if max_pairs:
        op.max_pairs = max_pairs  # type: ignore[attr-defined]
    return run_op(op, left, right, size=70)


@pytest.mark.parametrize("how", ["inner", "left", "semi", "anti"])
@pytest.mark.parametrize("max_pairs", [None, 50, 1000])
def test_nested_loop_join_condition(how: str, max_pairs: int | None) -> None:
    left, right = tables(200, 120, seed=4)
    cond = (col("lx") > col("ry") + 50) & (col("ls") != col("rs"))
    out = nl_join(left, right, how, cond, max_pairs)
    assert_same(out, expected_join(left, right, how, "l.lx > r.ry + 50 and l.ls <> r.rs"))


def test_nested_loop_cross_join() -> None:
    left, right = tables(40, 30, seed=5)
    out = nl_join(left, right, "cross", max_pairs=100)
    assert_same(out, duck("select * from l cross join r", l=left, r=right))
    for how in ("semi", "anti", "left"):
        assert_same(nl_join(left, right, how), expected_join(left, right, how, "true"))
        assert_same(
            nl_join(left, right.slice(0, 0), how), expected_join(left, right.slice(0, 0), how, "true")
        )


def test_nested_loop_join_rejects_right_joins() -> None:
    left, right = tables(5, 5)
    node = PNestedLoopJoin(left=source(left, "l"), right=source(right, "r"), how="right", condition=None)
    with pytest.raises(DataflowError):
        build_operator(node, TaskContext())
