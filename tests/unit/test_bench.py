"""The benchmark harness without Ray, DuckDB or Spark: answer comparison, the table,
the JSON document, the summary and the targets."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pyarrow as pa
import pytest

from dataflow import tpch
from dataflow.bench.cli import _int_list, _peers, add_bench_parser
from dataflow.bench.compare import OrderSpec, compare_tables, multiset_diff, order_spec, values_equal
from dataflow.bench.report import (
    BenchResult,
    PeerRun,
    QueryRun,
    format_table,
    geomean,
    summary,
    targets,
    to_json,
)
from dataflow.bench.tpch import first_line, timed_runs

UNORDERED = OrderSpec(keys=None, ordered=False)


# -- values and rows ----------------------------------------------------------------------


def test_numbers_equal_to_relative_tolerance() -> None:
    assert values_equal(1e9, 1e9 * (1 + 5e-10))
    assert not values_equal(1e9, 1e9 * (1 + 5e-9))
    assert values_equal(0.0, 1e-13)  # a sum that should be zero, off in the last bits
    assert values_equal(7, 7.0) and not values_equal(7, 8)
    assert values_equal(float("nan"), float("nan"))
    assert values_equal(None, None) and not values_equal(None, 0)
    assert not values_equal(True, 1.0)  # booleans are not numbers


def test_decimals_compare_as_numbers() -> None:
    got = pa.table({"v": pa.array([decimal.Decimal("1.10")], pa.decimal128(15, 2))})
    want = pa.table({"v": [1.1]})
    assert compare_tables(got, want, UNORDERED) is None


def test_unordered_rows_may_come_in_any_order() -> None:
    got = pa.table({"k": ["b", "a", "a"], "v": [2.0, 1.0, 1.5]})
    want = pa.table({"k": ["a", "a", "b"], "v": [1.5, 1.0, 2.0 + 1e-12]})
    assert compare_tables(got, want, UNORDERED) is None


def test_missing_or_extra_rows_are_found() -> None:
    assert multiset_diff([(1, "a")], [(1, "b")]) is not None
    got = pa.table({"k": ["a", "a"]})
    want = pa.table({"k": ["a", "b"]})
    assert compare_tables(got, want, UNORDERED) is not None
    assert "rows" in compare_tables(pa.table({"k": ["a"]}), want, UNORDERED)  # type: ignore[operator]
    assert "columns" in compare_tables(pa.table({"k": ["a", "b"], "x": [1, 2]}), want, UNORDERED)  # type: ignore[operator]


def test_near_equal_floats_that_round_apart_still_match() -> None:
    # 1.0000005 and 1.0000004999999 round to different 7-digit keys; matching one by one copes
    got = pa.table({"v": [1.0000005, 2.0]})
    want = pa.table({"v": [2.0, 1.0000005 - 1e-13]})
    assert compare_tables(got, want, UNORDERED) is None


def test_ordered_answer_must_keep_order() -> None:
    got = pa.table({"k": [2, 1], "v": ["x", "y"]})
    want = pa.table({"k": [1, 2], "v": ["y", "x"]})
    assert compare_tables(got, want, OrderSpec(keys=[0], ordered=True)) is not None
    assert compare_tables(got, want, UNORDERED) is None


def test_ties_on_the_sort_keys_may_come_in_any_order() -> None:
    got = pa.table({"k": [1, 1, 2], "v": ["b", "a", "c"]})
    want = pa.table({"k": [1, 1, 2], "v": ["a", "b", "c"]})
    assert compare_tables(got, want, OrderSpec(keys=[0], ordered=True)) is None
    # but a tie group must hold the same rows
    bad = pa.table({"k": [1, 1, 2], "v": ["a", "z", "c"]})
    assert compare_tables(bad, want, OrderSpec(keys=[0], ordered=True)) is not None


def test_a_limit_may_cut_through_the_last_run_of_ties() -> None:
    got = pa.table({"k": [1, 2, 2], "v": ["a", "b", "x"]})
    want = pa.table({"k": [1, 2, 2], "v": ["a", "b", "c"]})
    assert compare_tables(got, want, OrderSpec(keys=[0], ordered=True, limit=3)) is None
    # not when the answer is shorter than the limit (nothing was cut)
    assert compare_tables(got, want, OrderSpec(keys=[0], ordered=True, limit=10)) is not None
    # nor in an earlier run of ties
    got2 = pa.table({"k": [1, 1, 2], "v": ["a", "x", "c"]})
    want2 = pa.table({"k": [1, 1, 2], "v": ["a", "b", "c"]})
    assert compare_tables(got2, want2, OrderSpec(keys=[0], ordered=True, limit=3)) is not None


def test_dates_and_strings_compare_exactly() -> None:
    d = dt.date(1995, 3, 15)
    got = pa.table({"d": [d], "s": ["x"]})
    assert compare_tables(got, pa.table({"d": [d], "s": ["x"]}), UNORDERED) is None
    assert compare_tables(got, pa.table({"d": [d + dt.timedelta(days=1)], "s": ["x"]}), UNORDERED) is not None


def test_order_spec_maps_sort_keys_to_output_columns() -> None:
    assert order_spec("select a, b as x from t order by x desc, 1", ["a", "x"]) == OrderSpec(
        [1, 0], True, None
    )
    # a key that is not an output column: the whole row is the key
    assert order_spec("select a from t order by b", ["a"]) == OrderSpec([0], True, None)
    assert order_spec("select a from t", ["a"]).is_ordered is False


@pytest.mark.parametrize("n", tpch.QUERY_NUMBERS)
def test_order_spec_of_every_tpch_query(n: int) -> None:
    text = tpch.query_text(n)
    spec = order_spec(text, ["c"] * 12)  # names unknown: falls back to whole rows
    assert spec.is_ordered == ("order by" in text.lower().rsplit(")", 1)[-1])
    if n in (2, 3, 10, 18, 21):
        assert spec.limit is not None and spec.limit > 0


def test_order_spec_of_q3_with_its_output_columns() -> None:
    spec = order_spec(tpch.query_text(3), ["l_orderkey", "revenue", "o_orderdate", "o_shippriority"])
    assert spec == OrderSpec(keys=[1, 2], ordered=True, limit=10)


# -- the report ---------------------------------------------------------------------------


def _result() -> BenchResult:
    r = BenchResult(sf=1.0, parallelism=2, runs=3, duckdb_threads=2, peers=["spark"])
    r.peers_skipped = {"ray-data": "polars is not installed"}
    r.queries = [
        QueryRun(1, dataflow_s=2.0, duckdb_s=0.5, agree=True, rows=4, peers={"spark": PeerRun(3.0, True)}),
        QueryRun(
            2,
            dataflow_s=None,
            duckdb_s=0.1,
            error="ExecutionError: boom in HashJoin",
            peers={"spark": PeerRun(1.0, True)},
        ),
        QueryRun(
            3,
            dataflow_s=1.0,
            duckdb_s=0.5,
            agree=False,
            diff="row 0: got (1,), expected (2,)",
            peers={"spark": PeerRun(error="AnalysisException: no")},
        ),
        QueryRun(
            6,
            dataflow_s=0.4,
            duckdb_s=0.1,
            agree=True,
            rows=1,
            peers={"spark": PeerRun(0.5, False, diff="x")},
        ),
    ]
    r.cold_start_s = 8.5
    r.cold_start_phases = {"import": 1.0, "session": 5.0, "query": 2.5}
    r.peak_rss_bytes = 3 * 1024**3
    r.peak_pss_bytes = 2 * 1024**3
    r.load = {"before": [1.0, 1.5, 2.0], "after": [2.0, 1.5, 1.0]}
    return r


def test_geomean() -> None:
    assert geomean([]) is None
    assert geomean([2.0, 8.0]) == pytest.approx(4.0)


def test_ratio_only_where_both_ran_and_agree() -> None:
    r = _result()
    assert r.queries[0].ratio == pytest.approx(4.0)
    assert r.queries[1].ratio is None and r.queries[1].status == "FAILED"
    assert r.queries[2].ratio is None and r.queries[2].status == "NO"


def test_summary_totals_over_queries_that_agree() -> None:
    s = summary(_result())
    assert s["compared"] == 2 and s["agree"] == 2 and s["failed"] == 1 and s["disagree"] == 1
    assert s["dataflow_total_s"] == pytest.approx(2.4)
    assert s["duckdb_total_s"] == pytest.approx(0.6)
    assert s["total_ratio"] == pytest.approx(4.0)
    assert s["geomean_ratio"] == pytest.approx(4.0)
    assert s["max_ratio_query"] == 1
    assert s["peers"]["spark"]["queries"] == 3 and s["peers"]["spark"]["failed"] == 1


def test_table_has_a_line_per_query_totals_and_notes() -> None:
    text = format_table(_result())
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("query"))
    for col in ("dataflow s", "DuckDB s", "ratio", "agree", "spark s", "note"):
        assert col in header
    q2 = next(line for line in lines if line.startswith("Q02"))
    assert "FAILED" in q2 and "ExecutionError: boom in HashJoin" in q2
    q3 = next(line for line in lines if line.startswith("Q03"))
    assert " NO " in q3 and "differs: row 0" in q3 and "spark: AnalysisException" in q3
    q6 = next(line for line in lines if line.startswith("Q06"))
    assert "(differs)" in q6
    total = next(line for line in lines if line.startswith("total"))
    assert "2.400" in total and "4.00" in total and "2/4" in total
    assert any(line.startswith("geomean") and "4.00" in line for line in lines)
    assert "ray-data: skipped (polars is not installed)" in text
    assert "cold start" in text and "8.5 s" in text
    assert "3.00 GB RSS" in text


def test_columns_line_up() -> None:
    lines = format_table(_result()).splitlines()
    table = [line for line in lines if line[:1] in ("Q", "t", "g", "-") and not line.startswith("targets")]
    header = next(line for line in lines if line.startswith("query"))
    end = header.index("DuckDB s") + len("DuckDB s")
    for line in table:
        if line.startswith(("Q", "total")):
            assert line[end - 1] != " ", line  # right-aligned numbers end under the header


def test_long_notes_are_cut() -> None:
    r = _result()
    r.queries[1].error = "PlanError: " + "x" * 500
    q2 = next(line for line in format_table(r, note_width=60).splitlines() if line.startswith("Q02"))
    assert q2.endswith("...") and len(q2) < 200


def test_json_holds_the_same_figures() -> None:
    doc = json.loads(json.dumps(to_json(_result())))
    assert doc["sf"] == 1.0 and doc["parallelism"] == 2
    assert [q["query"] for q in doc["queries"]] == [1, 2, 3, 6]
    assert doc["queries"][0]["ratio"] == pytest.approx(4.0)
    assert doc["queries"][1]["status"] == "FAILED" and doc["queries"][1]["error"].startswith("ExecutionError")
    assert doc["queries"][0]["peers"]["spark"]["seconds"] == 3.0
    assert doc["summary"]["total_ratio"] == pytest.approx(4.0)
    assert doc["cold_start_s"] == 8.5 and doc["peak_rss_bytes"] == 3 * 1024**3
    assert {t["target"] for t in doc["targets"]} >= {"faster than Spark local mode on every query"}


def test_targets() -> None:
    t = {name: (holds, detail) for name, holds, detail in targets(_result())}
    assert t["every query agrees with DuckDB"][0] is False
    assert t["no query slower than 10x DuckDB"][0] is True
    assert t["faster than Spark local mode on every query"][0] is False
    assert t["at least 20x faster than Ray Data on Q1, Q3, Q6"][0] is None  # not run
    assert t["cold start to the first result of Q6 <= 12 s"][0] is True
    assert t["peak memory of all processes <= 8 GB"][0] is True


def test_empty_run_formats() -> None:
    r = BenchResult(sf=0.01, parallelism=1, runs=1, duckdb_threads=1)
    assert "total" in format_table(r)
    assert to_json(r)["summary"]["total_ratio"] is None


# -- helpers and the command line --------------------------------------------------------


def test_timed_runs_warms_up_then_takes_the_median() -> None:
    calls = []
    median, times, answer = timed_runs(lambda: calls.append(1) or len(calls), runs=3)
    assert len(calls) == 4 and len(times) == 3 and answer == 4 and median >= 0


def test_first_line() -> None:
    assert first_line(ValueError("bad thing\n  at line 2")) == "ValueError: bad thing"
    assert first_line(RuntimeError()) == "RuntimeError"


def test_command_line() -> None:
    import argparse

    p = argparse.ArgumentParser(prog="dataflow")
    add_bench_parser(p.add_subparsers(dest="cmd"))
    args = p.parse_args(
        ["bench", "tpch", "--sf", "0.1", "--queries", "1,3,6", "--against", "spark", "--runs", "5"]
    )
    assert args.sf == 0.1 and args.queries == [1, 3, 6] and args.against == ["spark"] and args.runs == 5
    assert args.fn.__name__ == "cmd_bench_tpch"
    args = p.parse_args(["bench", "tpch"])
    assert args.queries == list(range(1, 23)) and args.against == [] and args.sf == 1.0
    assert _int_list("1, 2") == [1, 2]
    with pytest.raises(argparse.ArgumentTypeError):
        _int_list("23")
    with pytest.raises(argparse.ArgumentTypeError):
        _peers("flink")
