"""A catalog of Scan nodes for planning SQL without a Session or data (unit tests)."""

from __future__ import annotations

from dataflow.logical import LogicalPlan, MemorySource, Scan
from dataflow.types import Field

D = "date32[day]"
M = "decimal128(15, 2)"
S = "string"
I64 = "int64"
I32 = "int32"

TPCH: dict[str, list[tuple[str, str]]] = {
    "region": [("r_regionkey", I64), ("r_name", S), ("r_comment", S)],
    "nation": [("n_nationkey", I64), ("n_name", S), ("n_regionkey", I64), ("n_comment", S)],
    "supplier": [
        ("s_suppkey", I64),
        ("s_name", S),
        ("s_address", S),
        ("s_nationkey", I64),
        ("s_phone", S),
        ("s_acctbal", M),
        ("s_comment", S),
    ],
    "customer": [
        ("c_custkey", I64),
        ("c_name", S),
        ("c_address", S),
        ("c_nationkey", I64),
        ("c_phone", S),
        ("c_acctbal", M),
        ("c_mktsegment", S),
        ("c_comment", S),
    ],
    "part": [
        ("p_partkey", I64),
        ("p_name", S),
        ("p_mfgr", S),
        ("p_brand", S),
        ("p_type", S),
        ("p_size", I32),
        ("p_container", S),
        ("p_retailprice", M),
        ("p_comment", S),
    ],
    "partsupp": [
        ("ps_partkey", I64),
        ("ps_suppkey", I64),
        ("ps_availqty", I32),
        ("ps_supplycost", M),
        ("ps_comment", S),
    ],
    "orders": [
        ("o_orderkey", I64),
        ("o_custkey", I64),
        ("o_orderstatus", S),
        ("o_totalprice", M),
        ("o_orderdate", D),
        ("o_orderpriority", S),
        ("o_clerk", S),
        ("o_shippriority", I32),
        ("o_comment", S),
    ],
    "lineitem": [
        ("l_orderkey", I64),
        ("l_partkey", I64),
        ("l_suppkey", I64),
        ("l_linenumber", I32),
        ("l_quantity", M),
        ("l_extendedprice", M),
        ("l_discount", M),
        ("l_tax", M),
        ("l_returnflag", S),
        ("l_linestatus", S),
        ("l_shipdate", D),
        ("l_commitdate", D),
        ("l_receiptdate", D),
        ("l_shipinstruct", S),
        ("l_shipmode", S),
        ("l_comment", S),
    ],
}

SMALL: dict[str, list[tuple[str, str]]] = {
    "t": [("a", I64), ("b", S), ("c", "double"), ("d", D), ("m", M)],
    "u": [("a", I64), ("e", S), ("f", I64)],
    "v": [("f", I64), ("g", S)],
}


class FakeCatalog:
    """Tables by name, each a Scan over an (empty) in-memory source."""

    def __init__(self, tables: dict[str, list[tuple[str, str]]]) -> None:
        self.tables = tables

    def table_names(self) -> list[str]:
        return sorted(self.tables)

    def scan(self, name: str) -> LogicalPlan:
        cols = self.tables[name]
        return Scan(
            table=name,
            source=MemorySource(table_id=name, num_rows=0),
            table_schema=tuple(Field(name=n, type=t, nullable=True) for n, t in cols),
        )


def catalog() -> FakeCatalog:
    return FakeCatalog({**TPCH, **SMALL})
