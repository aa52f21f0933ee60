"""``tests/sql/functions.slt`` on the local runtime (no Ray), each expected answer also
checked against DuckDB; the e2e suite runs every .slt file again on Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

import dataflow
from dataflow.errors import DataflowError
from tests.e2e.test_sql_logic import Data, _arrow
from tests.sql.slt import Record, check, error_matches, parse_file

RECORDS = [r for r in parse_file(Path(__file__).resolve().parent.parent / "sql" / "functions.slt") if r.kind != "setup"]


@pytest.fixture(scope="module")
def data():
    with dataflow.Session(runtime="local", parallelism=2) as s:
        yield Data(s)


@pytest.mark.parametrize("record", RECORDS, ids=[r.id for r in RECORDS])
def test_record(data: Data, record: Record) -> None:
    con = data.prepare(record)
    if record.kind == "query":
        check(record, _arrow(con.sql(record.sql)))
        check(record, data.session.sql(record.sql).to_arrow())
        return
    with pytest.raises(DataflowError) as info:
        data.session.sql(record.sql).to_arrow()
    assert error_matches(record, str(info.value)), str(info.value)
