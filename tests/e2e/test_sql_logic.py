"""The SQL logic tests: every record of ``tests/sql/*.slt`` (format in
``tests/sql/slt.py``) through ``Session.sql`` on a local Ray cluster started once for
this module, at parallelism 2. Each query's hand-written answer is also checked
against DuckDB on the same data, so a wrong expectation cannot hide."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import dataflow
from dataflow.errors import DataflowError
from tests.sql.slt import Record, check, error_matches, parse_file

SLT_DIR = Path(__file__).resolve().parent.parent / "sql"
FILES = sorted(SLT_DIR.glob("*.slt"))
RECORDS = [r for f in FILES for r in parse_file(f)]
QUERIES = [r for r in RECORDS if r.kind == "query"]
ERRORS = [r for r in RECORDS if r.kind == "error"]
PARALLELISM = 2


class Data:
    """The test data of one .slt file: an in-memory DuckDB database, mirrored into the
    Session after each setup record."""

    def __init__(self, session: dataflow.Session) -> None:
        self.session = session
        self.path: Path | None = None
        self.applied = 0
        self.con: duckdb.DuckDBPyConnection | None = None
        self.registered: list[str] = []

    def prepare(self, record: Record) -> duckdb.DuckDBPyConnection:
        if self.path != record.path or self.applied > record.setups:
            for name in self.registered:
                self.session.deregister(name)
            self.registered = []
            self.con = duckdb.connect()
            self.path, self.applied = record.path, 0
        assert self.con is not None
        setups = [r for r in parse_file(record.path) if r.kind == "setup"]
        while self.applied < record.setups:
            self.con.execute(setups[self.applied].sql)
            self.applied += 1
            self._mirror()
        return self.con

    def _mirror(self) -> None:
        assert self.con is not None
        names = [r[0] for r in self.con.sql("select table_name from information_schema.tables").fetchall()]
        for name in names:
            self.session.register(name, _arrow(self.con.sql(f'select * from "{name}"')))
            if name not in self.registered:
                self.registered.append(name)


def _arrow(rel: duckdb.DuckDBPyRelation) -> pa.Table:
    out = rel.arrow()
    return out.read_all() if hasattr(out, "read_all") else out


@pytest.fixture(scope="module")
def session():
    with dataflow.Session(parallelism=PARALLELISM) as s:
        s.register("slt_one", pa.table({"x": [1]}))
        yield s


@pytest.fixture(scope="module")
def data(session):
    return Data(session)


def test_there_are_logic_tests():
    assert len(FILES) >= 6 and len(QUERIES) >= 100, (len(FILES), len(QUERIES))


@pytest.mark.parametrize("record", QUERIES, ids=[r.id for r in QUERIES])
def test_query(data: Data, session: dataflow.Session, record: Record) -> None:
    data.prepare(record)
    table = session.sql(record.sql).to_arrow(parallelism=PARALLELISM)
    check(record, table)


@pytest.mark.parametrize("record", QUERIES, ids=[r.id for r in QUERIES])
def test_expected_rows_agree_with_duckdb(data: Data, record: Record) -> None:
    con = data.prepare(record)
    check(record, _arrow(con.sql(record.sql)))


@pytest.mark.parametrize("record", ERRORS, ids=[r.id for r in ERRORS])
def test_error(data: Data, session: dataflow.Session, record: Record) -> None:
    data.prepare(record)
    with pytest.raises(DataflowError) as info:
        session.sql(record.sql).to_arrow(parallelism=PARALLELISM)
    assert error_matches(record, str(info.value)), (
        f"{record.id}: {info.value!s} does not match {record.error!r}"
    )
    # the Session stays usable after the error
    assert session.sql("select x from slt_one").to_arrow().to_pylist() == [{"x": 1}]
