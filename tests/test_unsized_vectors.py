"""Unsized `vector` columns (issue 14): vectors of any dimension, one per row, as pgvector has them.

The expected messages and results are pgvector 0.8's, measured on PostgreSQL 17 (the differential
peer). DuckDB stores such a column as FLOAT[]; a CHECK on each value's length marks it as a vector
column, so that a `real[]` column stays a plain list.
"""

import numpy as np
import pytest

import vsql

ROWS = "INSERT INTO t VALUES (1, '[1,2]'), (2, '[1,2,3]'), (3, '[3,1,2]'), (4, NULL)"
PAIR = "FROM t a, t b WHERE a.id = 1 AND b.id = 2"  # a 2- and a 3-dimensional vector


@pytest.fixture
def con():
    con = vsql.connect(autocommit=True)
    con.execute("CREATE TABLE t (id int PRIMARY KEY, e vector)")
    con.execute(ROWS)
    con.execute("CREATE TABLE r (id int, x real[])")
    con.execute("INSERT INTO r VALUES (1, [1, NULL]), (2, []), (3, ['nan'::real]), (4, [7, 8, 9])")
    yield con
    con.close()


def one(con, sql, params=None):
    return con.execute(sql, params).fetchall()


@pytest.mark.parametrize("sql, rows", [
    ("SELECT id, e::text, vector_dims(e) FROM t ORDER BY id",
     [(1, "[1,2]", 2), (2, "[1,2,3]", 3), (3, "[3,1,2]", 3), (4, None, None)]),
    ("SELECT id FROM t WHERE vector_dims(e) = 3 ORDER BY e <-> '[1,2,3]' LIMIT 2", [(2,), (3,)]),
    ("SELECT id, e <-> '[1,2,4]', e <#> '[1,2,4]', e <=> '[1,2,3]', e <+> '[1,2,4]' FROM t WHERE id = 2",
     [(2, 1.0, -17.0, 0.0, 1.0)]),
    ("SELECT id FROM t WHERE e = '[1,2]'", [(1,)]),
    # pgvector compares vectors of different dimensions: elements first, then length
    ("SELECT id FROM t WHERE e < '[1,2,3]' ORDER BY id", [(1,)]),
    ("SELECT id FROM t WHERE e IS NOT NULL ORDER BY e DESC", [(3,), (2,), (1,)]),
    ("SELECT (a.e || b.e)::text, (b.e + b.e)::text, (b.e * b.e)::text, (b.e - b.e)::text " + PAIR,
     [("[1,2,1,2,3]", "[2,4,6]", "[1,4,9]", "[0,0,0]")]),
    ("SELECT avg(e)::text, sum(e)::text FROM t WHERE id > 1", [("[2,1.5,2.5]", "[4,3,5]")]),
    ("SELECT e::vector(2)::text, e::real[] FROM t WHERE id = 1", [("[1,2]", [1.0, 2.0])]),
    ("SELECT vector_norm(e), l2_normalize(e)::text, subvector(e, 2, 1)::text FROM t WHERE id = 1",
     [(pytest.approx(5 ** 0.5), "[0.4472136,0.8944272]", "[2]")]),
])
def test_unsized_values_work(con, sql, rows):
    assert one(con, sql) == rows


@pytest.mark.parametrize("sql, message", [
    *[(f"SELECT a.e {op} b.e {PAIR}", "different vector dimensions 2 and 3") for op in ("<->", "<#>", "<=>", "<+>", "+", "-", "*")],
    *[(f"SELECT {f}(a.e, b.e) {PAIR}", "different vector dimensions 2 and 3")
      for f in ("l2_distance", "inner_product", "cosine_distance", "l1_distance")],
    ("SELECT id FROM t ORDER BY e <-> '[1,2,3]' LIMIT 2", "different vector dimensions 2 and 3"),
    ("SELECT avg(e) FROM t", "expected 2 dimensions, not 3"),
    ("SELECT sum(e) FROM t", "different vector dimensions 2 and 3"),
    ("SELECT e::vector(2) FROM t WHERE id = 2", "expected 2 dimensions, not 3"),
])
def test_mismatched_dimensions_fail_as_in_pgvector(con, sql, message):
    with pytest.raises(vsql.DataError, match=f"^{message}"):
        con.execute(sql)


@pytest.mark.parametrize("sql, params, message", [
    ("INSERT INTO t VALUES (9, '[]')", None, "vector must have at least 1 dimension"),
    ("INSERT INTO t VALUES (9, '[1,nan]')", None, "NaN not allowed in vector"),
    ("INSERT INTO t VALUES (9, ?)", [[1.0, float("inf")]], "infinite value not allowed in vector"),
    ("INSERT INTO t VALUES (9, ?)", [np.ones(16001, np.float32)], "vector cannot have more than 16000 dimensions"),
    ("INSERT INTO t VALUES (9, ARRAY[1, NULL]::real[])", None, "array must not contain nulls"),
    ("UPDATE t SET e = '[]' WHERE id = 1", None, "vector must have at least 1 dimension"),
    # a real[] written into the column: the run-time checks of a cast to vector, then the column's CHECK
    ("INSERT INTO t SELECT id + 10, x FROM r WHERE id = 1", None, "array must not contain nulls"),
    ("INSERT INTO t SELECT id + 10, x FROM r WHERE id = 2", None, "vector must have at least 1 dimension"),
    ("INSERT INTO t SELECT id + 10, x FROM r WHERE id = 3", None, "NaN or infinite value not allowed in vector"),
])
def test_writes_are_checked_as_for_sized_vectors(con, sql, params, message):
    with pytest.raises(vsql.VectorError, match=f"^{message}"):
        con.execute(sql, params)
    assert one(con, "SELECT count(*) FROM t") == [(4,)]


def test_the_column_check_catches_what_analysis_cannot_see(con):
    """`SELECT *` leaves the values to the column's CHECK, which holds pgvector's words."""
    with pytest.raises(vsql.IntegrityError, match="vector must have at least 1 dimension"):
        con.execute("INSERT INTO t SELECT * FROM (SELECT id + 10 AS id, x FROM r) WHERE id = 12")
    con.execute("INSERT INTO t SELECT * FROM (SELECT id + 10 AS id, x FROM r) WHERE id = 14")
    assert one(con, "SELECT e::text FROM t WHERE id = 14") == [("[7,8,9]",)]


@pytest.mark.parametrize("method", ["hnsw", "ivfflat"])
def test_an_index_needs_dimensions(con, method):
    with pytest.raises(vsql.ProgrammingError, match="^column does not have dimensions$"):
        con.execute(f"CREATE INDEX ON t USING {method} (e vector_l2_ops)")
    with pytest.raises(vsql.ProgrammingError, match='column "x" of "r" is not a vector column'):
        con.execute(f"CREATE INDEX ON r USING {method} (x vector_l2_ops)")


def test_only_tables_vsql_creates_mark_a_column_unsized(con):
    """The CHECK is the marker: a real[] column is no vector; ADD COLUMN cannot carry one."""
    catalog = con.session.catalog
    assert catalog.table("t").unsized == {"e"} and catalog.table("t").is_vector("e")
    assert catalog.table("r").unsized == frozenset() and not catalog.table("r").is_vector("x")
    with pytest.raises(vsql.ProgrammingError, match="unsized vector"):
        con.execute("ALTER TABLE t ADD COLUMN f vector")


def test_the_marker_survives_renames_comments_and_reopening(tmp_path):
    path = str(tmp_path / "u.duckdb")
    with vsql.connect(path, autocommit=True) as con:
        con.execute("CREATE TABLE t (id int PRIMARY KEY, e vector, s vector(2))")
        con.execute(ROWS.replace("NULL)", "NULL, NULL)").replace("]')", "]', '[1,1]')"))
        con.execute("ALTER TABLE t RENAME COLUMN e TO emb")
        con.execute("ALTER TABLE t RENAME TO items")
        con.execute("COMMENT ON COLUMN items.emb IS 'any dimension'")
    with vsql.connect(path, autocommit=True) as con:
        info = con.session.catalog.table("items")
        assert info.unsized == {"emb"} and info.dims == {"s": 2}
        with pytest.raises(vsql.VectorError, match="^vector must have at least 1 dimension"):
            con.execute("INSERT INTO items VALUES (9, '[]', '[1,1]')")
        with pytest.raises(vsql.DataError, match="^different vector dimensions 2 and 3"):
            con.execute("SELECT emb <-> '[1,2,3]' FROM items")
        assert one(con, "SELECT id FROM items WHERE vector_dims(emb) = 3 ORDER BY emb <=> ? LIMIT 1",
                   [np.array([3, 1, 2], np.float32)]) == [(3,)]


def test_exact_knn_matches_numpy():
    rng = np.random.default_rng(14)
    data = [rng.standard_normal(rng.integers(3, 5)).astype(np.float32) for _ in range(200)]
    query = rng.standard_normal(4).astype(np.float32)
    with vsql.connect(autocommit=True) as con:
        con.execute("CREATE TABLE t (id int PRIMARY KEY, e vector)")
        for i, v in enumerate(data):
            con.execute("INSERT INTO t VALUES (?, ?)", [i, v])
        got = one(con, "SELECT id, e <-> ? AS d FROM t WHERE vector_dims(e) = 4 ORDER BY d LIMIT 5", [query])
    distances = {i: float(np.linalg.norm(v - query)) for i, v in enumerate(data) if len(v) == 4}
    expected = sorted(distances, key=distances.get)[:5]
    assert [i for i, _ in got] == expected
    assert [d for _, d in got] == pytest.approx([distances[i] for i in expected], rel=1e-6)


def test_executemany_checks_each_value_of_an_unsized_column():
    """The bulk path takes arrays, lists and text alike, each of its own dimension, with the
    errors a single INSERT gives."""
    con = vsql.connect(autocommit=True)
    con.execute("CREATE TABLE m (id INT, e vector)")
    con.cursor().executemany("INSERT INTO m VALUES (?, ?)",
                             [(1, np.array([1, 2], np.float32)), (2, [1, 2, 3]), (3, "[4,5]"), (4, None)])
    assert con.execute("SELECT id, e::text FROM m ORDER BY id").fetchall() == [
        (1, "[1,2]"), (2, "[1,2,3]"), (3, "[4,5]"), (4, None)]
    for bad, message in (("[]", "at least 1 dimension"), ([1, float("nan")], "NaN not allowed")):
        with pytest.raises(vsql.VectorError, match=message):
            con.cursor().executemany("INSERT INTO m VALUES (?, ?)", [(5, bad)])
    assert con.execute("SELECT count(*) FROM m").fetchone() == (4,)
