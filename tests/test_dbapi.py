"""PEP 249 surface: module globals, connections, cursors, transactions, types, bulk loads."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import vsql


def test_module_globals():
    assert vsql.apilevel == "2.0"
    assert vsql.threadsafety == 1
    assert vsql.paramstyle == "qmark"
    for name in ["Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
                 "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError"]:
        assert issubclass(getattr(vsql, name), Exception)
    assert issubclass(vsql.ProgrammingError, vsql.DatabaseError)
    assert issubclass(vsql.DatabaseError, vsql.Error)
    assert issubclass(vsql.VectorError, vsql.DataError)
    assert vsql.Date(2020, 1, 2).year == 2020
    assert vsql.TimestampFromTicks(0).year == 1970


def test_cursor_fetch_methods(con):
    cur = con.cursor()
    cur.execute("SELECT id, cat FROM items ORDER BY id")
    assert cur.rowcount == 4
    assert [d[0] for d in cur.description] == ["id", "cat"]
    assert cur.description[0][1] == vsql.NUMBER
    assert cur.description[0][1] != vsql.STRING
    assert cur.fetchone() == (1, 1)
    assert cur.fetchmany(2) == [(2, 2), (3, 1)]
    cur.arraysize = 5
    assert cur.fetchmany() == [(4, 2)]
    assert cur.fetchone() is None
    assert cur.fetchall() == []
    assert list(con.execute("SELECT id FROM items WHERE id < 3 ORDER BY id")) == [(1,), (2,)]
    cur.close()
    with pytest.raises(vsql.InterfaceError):
        cur.execute("SELECT 1")


def test_vectors_come_back_as_float32_arrays(con):
    cur = con.execute("SELECT embedding, tags FROM items WHERE id = 1")
    embedding, tags = cur.fetchone()
    assert isinstance(embedding, np.ndarray) and embedding.dtype == np.float32
    np.testing.assert_array_equal(embedding, [1, 2, 3])
    assert tags == [1.0, 2.0, 3.0]  # real[] stays a list: only vectors are vectors
    assert cur.description[0][1] == vsql.VECTOR
    assert con.execute("SELECT NULL::vector(3)").fetchone() == (None,)


def test_parameter_styles_bind_vectors(con):
    q = np.array([1, 1, 1], dtype=np.float32)
    expected = [(3,), (4,)]
    sql = "SELECT id FROM items ORDER BY embedding <-> {} LIMIT 2"
    assert con.execute(sql.format("?"), [q]).fetchall() == expected
    assert con.execute(sql.format("%s"), (q,)).fetchall() == expected
    assert con.execute(sql.format("$1"), [q.tolist()]).fetchall() == expected
    assert con.execute(sql.format(":q"), {"q": "[1,1,1]"}).fetchall() == expected
    assert con.execute(sql.format("$q"), {"q": (1, 1, 1)}).fetchall() == expected
    assert con.execute("SELECT ?::vector <-> ?::vector", ["[0,0]", [3, 4]]).fetchone()[0] == pytest.approx(5)


def test_rowcount_of_writes(con):
    assert con.execute("UPDATE items SET cat = 9 WHERE cat = 1").rowcount == 2
    assert con.execute("DELETE FROM items WHERE cat = 9").rowcount == 2
    assert con.execute("INSERT INTO items (id, embedding) VALUES (7, '[1,1,1]'), (8, '[2,2,2]')").rowcount == 2
    returned = con.execute("INSERT INTO items (id, embedding) VALUES (9, '[3,3,3]') RETURNING id").fetchall()
    assert returned == [(9,)]
    assert con.execute("CREATE TABLE z (a INT)").description is None


def test_transactions_commit_and_rollback(tmp_path):
    path = tmp_path / "t.duckdb"
    with vsql.connect(path) as con:
        assert not con.autocommit
        con.execute("CREATE TABLE t (id INT, e VECTOR(2))")
        con.execute("INSERT INTO t VALUES (1, '[1,2]')")
        con.commit()
        con.execute("INSERT INTO t VALUES (2, '[3,4]')")
        con.rollback()
        assert con.execute("SELECT id FROM t").fetchall() == [(1,)]
        con.execute("INSERT INTO t VALUES (3, '[5,6]')")  # committed by the with block
    with vsql.connect(path) as con:
        assert con.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (3,)]
        con.execute("INSERT INTO t VALUES (4, '[7,8]')")
        con.close()  # closing without commit rolls back, as PEP 249 says
    with vsql.connect(path, autocommit=True) as con:
        assert con.execute("SELECT count(*) FROM t").fetchone() == (2,)
        con.execute("BEGIN")
        con.execute("DELETE FROM t")
        con.execute("ROLLBACK")
        assert con.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_rollback_undoes_schema_changes(con):
    con.autocommit = False
    con.execute("CREATE TABLE gone (e VECTOR(2))")
    con.rollback()
    with pytest.raises(vsql.ProgrammingError, match="gone"):
        con.execute("SELECT * FROM gone")


def test_closed_connection_refuses_work():
    con = vsql.connect()
    con.close()
    with pytest.raises(vsql.InterfaceError):  # PEP 249: every use of a closed connection, closing it too
        con.close()
    with pytest.raises(vsql.InterfaceError):
        con.cursor()


@pytest.mark.parametrize("placeholders", ["?, ?, ?, ?", "%s, %s, %s, %s", "$1, $2, $3, $4"])
def test_executemany_goes_through_arrow(con, monkeypatch, placeholders):
    """One Arrow batch, not a statement per row: running a statement at all fails here (the test
    once passed with the fast path dead, since the per-row path inserts the same rows)."""
    def per_row(*args, **kwargs):
        raise AssertionError("executemany ran a statement per row")

    rows = [(100 + i, np.full(3, i, dtype=np.float32), i % 3, None) for i in range(5000)]
    cur = con.cursor()
    monkeypatch.setattr(con.session, "execute", per_row)
    cur.executemany(f"INSERT INTO items VALUES ({placeholders})", rows)
    monkeypatch.undo()
    assert cur.rowcount == 5000
    assert con.execute("SELECT count(*), sum(cat) FROM items WHERE id >= 100").fetchone() == (5000, sum(r[2] for r in rows))
    got = con.execute("SELECT embedding FROM items WHERE id = 4099").fetchone()[0]
    np.testing.assert_array_equal(got, [3999, 3999, 3999])


def test_executemany_other_statements_run_per_row(con):
    cur = con.cursor()
    cur.executemany("UPDATE items SET cat = ? WHERE id = ?", [(7, 1), (8, 2)])
    assert cur.rowcount == 2
    assert con.execute("SELECT id, cat FROM items WHERE id <= 2 ORDER BY id").fetchall() == [(1, 7), (2, 8)]


def test_executemany_rejects_a_bad_row_and_stores_nothing(con):
    rows = [(100, [1, 2, 3], 1, None), (101, [1, 2], 1, None)]
    with pytest.raises(vsql.DataError, match="expected 3 dimensions, not 2"):
        con.cursor().executemany("INSERT INTO items VALUES (?, ?, ?, ?)", rows)
    with pytest.raises(vsql.DataError, match="NaN not allowed"):
        con.cursor().executemany("INSERT INTO items VALUES (?, ?, ?, ?)", [(100, [1, float("nan"), 3], 1, None)])
    assert con.execute("SELECT count(*) FROM items").fetchone() == (4,)


def _arrow_items(n, dim, start=1000):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    return vectors, pa.table({
        "id": pa.array(np.arange(start, start + n, dtype=np.int32)),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
    })


def test_load_arrow_pandas_polars_parquet(con, tmp_path):
    vectors, table = _arrow_items(100, 3)
    assert con.load("items", table) == 100
    frame = table.to_pandas()
    frame["id"] += 1000
    assert con.load("items", frame) == 100
    import polars as pl

    polars_frame = pl.from_arrow(table).with_columns(pl.col("id") + 2000)
    assert con.load("items", polars_frame) == 100
    path = tmp_path / "items.parquet"
    pq.write_table(table.set_column(0, "id", pa.array(np.arange(5000, 5100, dtype=np.int32))), path)
    assert con.load("items", path) == 100
    assert con.execute("SELECT count(*) FROM items").fetchone() == (404,)
    got = con.execute("SELECT embedding FROM items WHERE id = 2005").fetchone()[0]
    np.testing.assert_array_equal(got, vectors[5])


def test_load_refuses_bad_vectors_and_keeps_data(con):
    _, table = _arrow_items(10, 2)
    with pytest.raises(vsql.DataError, match="expected 3 dimensions, not 2"):
        con.load("items", table)
    bad = _arrow_items(10, 3)[1]
    values = bad.column("embedding").combine_chunks().values.to_numpy().copy()
    values[7] = np.inf
    bad = bad.set_column(1, "embedding", pa.FixedSizeListArray.from_arrays(pa.array(values), 3))
    with pytest.raises(vsql.DataError, match="NaN or infinite value not allowed"):
        con.load("items", bad)
    assert con.execute("SELECT count(*) FROM items").fetchone() == (4,)


def test_fetch_arrow_and_df(con):
    table = con.execute("SELECT id, embedding FROM items ORDER BY id").fetch_arrow_table()
    assert table.num_rows == 4 and table.schema.field("embedding").type == pa.list_(pa.float32(), 3)
    frame = con.execute("SELECT id, embedding FROM items ORDER BY id").fetch_df()
    assert list(frame.columns) == ["id", "embedding"]
    np.testing.assert_array_equal(frame["embedding"][1], [4, 5, 6])


def test_persisted_vectors_survive_reopen(tmp_path):
    path = tmp_path / "v.duckdb"
    with vsql.connect(path, autocommit=True) as con:
        con.execute("CREATE TABLE t (id BIGSERIAL PRIMARY KEY, e VECTOR(3))")
        con.execute("INSERT INTO t (e) VALUES ('[1,2,3]'), ('[4,5,6]')")
    with vsql.connect(path, read_only=True) as con:
        rows = con.execute("SELECT id, e <-> '[4,5,6]' FROM t ORDER BY 2").fetchall()
        assert rows == [(2, 0.0), (1, pytest.approx(5.196152, rel=1e-6))]


def test_a_failed_commit_ends_the_transaction(tmp_path):
    path = tmp_path / "c.duckdb"
    first = vsql.connect(path)
    first.execute("CREATE TABLE t (id INT PRIMARY KEY, n INT)")
    first.execute("INSERT INTO t VALUES (1, 0)")
    first.commit()
    second = vsql.Connection(first.session.engine.fork())  # a second connection to the same database
    first.execute("UPDATE t SET n = 1 WHERE id = 1")
    with pytest.raises(vsql.DatabaseError):
        second.execute("UPDATE t SET n = 2 WHERE id = 1")  # conflicts with the open transaction
    try:
        second.commit()  # DuckDB refuses to commit an aborted transaction
    except vsql.DatabaseError:
        pass
    assert not second.session.in_transaction  # either way, it is over
    first.commit()
    assert second.execute("SELECT n FROM t").fetchall() == [(1,)]
    second.close()
    first.close()
