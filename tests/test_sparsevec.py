"""pgvector's `sparsevec` (issue 16): text form, casts, distances, functions, ordering and the DB-API.

A sparsevec is stored as `STRUCT(sparsevec_dim INTEGER, sparsevec_idx INTEGER[], sparsevec_val
FLOAT[])` (vsql/engine/duckdb/lowering.py) and computed by the `vsql_sparsevec_*` UDFs. Every
operator and function is checked here against a NumPy oracle over seeded random sparse vectors;
tests/test_pgvector_differential.py runs the same kinds of statements on real pgvector.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vsql
from vsql.client.dbapi import SPARSEVEC
from vsql.sql.vectors import SparseVector, parse_sparse

DIM = 40
ROWS = 120


def random_sparse(rng: np.random.Generator, dim: int = DIM, density: float = 0.15) -> np.ndarray:
    """A dense float32 vector with about `density` of its elements non-zero."""
    dense = rng.standard_normal(dim).astype(np.float32)
    dense[rng.random(dim) >= density] = 0
    return dense


def text(dense: np.ndarray) -> str:
    return SparseVector(dense).to_text()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(16)
    matrix = np.stack([random_sparse(rng) for _ in range(ROWS)])
    matrix[7] = 0  # an empty one: cosine distance NaN, norm 0
    matrix[8] = matrix[9]  # a tie
    return matrix, np.stack([random_sparse(rng, density=0.4) for _ in range(4)])


@pytest.fixture(scope="module")
def con(data):
    matrix, _ = data
    c = vsql.connect(":memory:", autocommit=True)
    c.execute(f"CREATE TABLE s (id int PRIMARY KEY, v sparsevec({DIM}), u sparsevec)")
    c.cursor().executemany("INSERT INTO s VALUES (?, ?, ?)",
                           [(i, SparseVector(row), None if i % 10 == 3 else text(row[: 1 + i % 5])) for i, row in enumerate(matrix)])
    c.execute("INSERT INTO s VALUES (1000, NULL, NULL)")
    yield c
    c.close()


def oracle(metric: str, x: np.ndarray, q: np.ndarray) -> np.ndarray:
    x, q = x.astype(np.float64), q.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"l2": lambda: np.sqrt(((x - q) ** 2).sum(axis=1)), "ip": lambda: -(x @ q),
                "cosine": lambda: 1 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q)),
                "l1": lambda: np.abs(x - q).sum(axis=1)}[metric]()


OPERATORS = {"l2": "<->", "ip": "<#>", "cosine": "<=>", "l1": "<+>"}
FUNCTIONS = {"l2": "l2_distance", "ip": "inner_product", "cosine": "cosine_distance", "l1": "l1_distance"}


# -- against the NumPy oracle -------------------------------------------------------------------

@pytest.mark.parametrize("metric", list(OPERATORS))
def test_operators_and_functions_match_the_oracle(con, data, metric):
    matrix, queries = data
    for q in queries:
        op, fn = OPERATORS[metric], FUNCTIONS[metric]
        got = con.execute(f"SELECT id, v {op} ?, {fn}(v, ?) FROM s WHERE id < 1000 ORDER BY id",
                          [SparseVector(q), text(q)]).fetchall()
        want = oracle(metric, matrix, q)
        for (i, by_op, by_fn), w in zip(got, want):
            if metric == "ip":
                by_fn = -by_fn  # inner_product is the positive one
            if np.isnan(w):
                assert np.isnan(by_op) and np.isnan(by_fn), i
            else:
                assert by_op == pytest.approx(w, rel=1e-5, abs=1e-6) and by_fn == by_op, (i, by_op, by_fn, w)


@pytest.mark.parametrize("metric", list(OPERATORS))
def test_distances_between_rows_match_the_oracle(con, data, metric):
    """Row against row (the UDF merges both sides' indices), not a query against every row."""
    matrix, _ = data
    got = con.execute(f"SELECT a.id, b.id, a.v {OPERATORS[metric]} b.v FROM s a, s b WHERE a.id < 12 AND b.id < 12").fetchall()
    for i, j, distance in got:
        want = oracle(metric, matrix[i:i + 1], matrix[j])[0]
        assert np.isnan(distance) if np.isnan(want) else distance == pytest.approx(want, rel=1e-5, abs=1e-6), (i, j)


@pytest.mark.parametrize("metric", list(OPERATORS))
def test_exact_knn_returns_the_oracles_rows(con, data, metric):
    """ORDER BY <distance> LIMIT k over a sparsevec column: exact, ties by key (8 and 9 are equal)."""
    matrix, queries = data
    for q in queries:
        got = [i for (i,) in con.execute(f"SELECT id FROM s ORDER BY v {OPERATORS[metric]} ? LIMIT 10", [text(q)]).fetchall()]
        dist = np.nan_to_num(oracle(metric, matrix, q), nan=np.inf)
        order = np.lexsort((np.arange(len(dist)), dist))[:10]
        assert got[:9] == order[:9].tolist() or np.allclose(np.sort(dist[got]), dist[order], rtol=1e-5), (got, order)
    ranked = con.execute("SELECT id, v <-> ? AS d FROM s ORDER BY d LIMIT 3", [text(matrix[9])]).fetchall()
    assert [r[0] for r in ranked[:2]] == [8, 9] and ranked[0][1] == ranked[1][1] == 0


def test_norm_and_normalize_match_the_oracle(con, data):
    matrix, _ = data
    for i, norm, normalized in con.execute("SELECT id, l2_norm(v), l2_normalize(v) FROM s WHERE id < 1000 ORDER BY id").fetchall():
        x = matrix[i].astype(np.float64)
        assert norm == pytest.approx(np.linalg.norm(x), rel=1e-12)
        want = (x / np.linalg.norm(x)).astype(np.float32) if norm else np.zeros(DIM, np.float32)
        assert isinstance(normalized, SparseVector) and np.array_equal(normalized.to_numpy(), want), i


def test_casts_round_trip(con, data):
    matrix, _ = data
    for i, dense, back, half in con.execute("SELECT id, v::vector, v::vector::sparsevec, v::halfvec FROM s "
                                            "WHERE id < 20 ORDER BY id").fetchall():
        assert np.array_equal(dense, matrix[i]) and back == SparseVector(matrix[i])
        assert half.dtype == np.float16 and np.array_equal(half, matrix[i].astype(np.float16))
    assert con.execute("SELECT '[1,0,-0,2]'::vector::sparsevec::text, '{2:0.1}/3'::sparsevec::halfvec::sparsevec::text, "
                       "ARRAY[0,3]::int[]::sparsevec(2)::text").fetchall() == [("{1:1,4:2}/4", "{2:0.099975586}/3", "{2:3}/2")]


def pg_cmp(a: SparseVector, b: SparseVector) -> int:
    """pgvector's sparsevec_cmp_internal, transcribed (0-based indices here)."""
    ai, av, bi, bv = a.indices(), a.values(), b.indices(), b.values()
    n = min(len(ai), len(bi))
    for k in range(n):
        if ai[k] < bi[k]:
            return -1 if av[k] < 0 else 1
        if ai[k] > bi[k]:
            return 1 if bv[k] < 0 else -1
        if av[k] != bv[k]:
            return -1 if av[k] < bv[k] else 1
    if len(ai) < len(bi) and bi[n] + 1 <= a.dimensions():
        return 1 if bv[n] < 0 else -1
    if len(ai) > len(bi) and ai[n] + 1 <= b.dimensions():
        return -1 if av[n] < 0 else 1
    return (a.dimensions() > b.dimensions()) - (a.dimensions() < b.dimensions())


def sparse_of(n: int):
    return st.builds(lambda values: SparseVector(np.asarray(values, np.float32)),
                     st.lists(st.sampled_from([0, 0, -1, 1, 2]), min_size=n, max_size=n))


@pytest.fixture(scope="module")
def scratch():
    c = vsql.connect(":memory:", autocommit=True)
    c.execute("CREATE TABLE t (id int PRIMARY KEY, v sparsevec, w sparsevec)")
    yield c
    c.close()


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mixed=st.lists(st.integers(1, 5).flatmap(sparse_of), min_size=2, max_size=6),
       same=st.integers(1, 6).flatmap(lambda n: st.lists(sparse_of(n), min_size=2, max_size=8)))
def test_comparisons_and_order_are_pgvectors(scratch, mixed, same):
    """`<` `<=` `=` `>=` `>` are pgvector's sparsevec_cmp, of any dimensions; ORDER BY sorts
    sparsevecs of one dimension by it."""
    con = scratch
    con.execute("DELETE FROM t")
    con.cursor().executemany("INSERT INTO t VALUES (?, ?, ?)",
                             [(i, mixed[i] if i < len(mixed) else None, same[i] if i < len(same) else None)
                              for i in range(max(len(mixed), len(same)))])
    pairs = con.execute("SELECT a.id, b.id, a.v < b.v, a.v <= b.v, a.v = b.v, a.v >= b.v, a.v > b.v "
                        "FROM t a, t b WHERE a.v IS NOT NULL AND b.v IS NOT NULL").fetchall()
    for i, j, lt, le, eq, ge, gt in pairs:
        c = pg_cmp(mixed[i], mixed[j])
        assert (lt, le, eq, ge, gt) == (c < 0, c <= 0, c == 0, c >= 0, c > 0), (mixed[i], mixed[j])
    got = [same[i] for (i,) in con.execute("SELECT id FROM t WHERE w IS NOT NULL ORDER BY w, id").fetchall()]
    assert len(got) == len(same) and all(pg_cmp(a, b) <= 0 for a, b in zip(got, got[1:])), got


def test_nulls(con):
    assert con.execute("SELECT v <-> NULL, l2_norm(NULL::sparsevec), l2_normalize(v), v::text, v::vector, v <-> ? "
                       "FROM s WHERE id = 1000", [None]).fetchall() == [(None,) * 6]
    assert con.execute("SELECT count(*) FROM s WHERE u IS NULL").fetchone() == (13,)


# -- the text form --------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None, derandomize=True)
@given(dim=st.integers(1, 30), data=st.data())
def test_text_form_round_trips(dim, data):
    indices = sorted(data.draw(st.sets(st.integers(0, dim - 1), max_size=dim)))
    values = data.draw(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False).filter(bool),
                                min_size=len(indices), max_size=len(indices)))
    vector = SparseVector(dict(zip(indices, values)), dim)
    assert parse_sparse(vector.to_text()) == vector
    elements = [f" {i + 1} : {v!r} " for i, v in reversed(list(zip(indices, values)))] + ["1:0"]
    shuffled = "{" + ",".join(elements) + f"}} / {dim} "
    assert parse_sparse(shuffled) == vector  # any order, spaces, and zeros dropped


@pytest.mark.parametrize("literal, message", [
    ("{1:1,1:2}/3", "sparsevec indices must not contain duplicates"),
    ("{0:1}/3", "sparsevec index out of bounds"),
    ("{4:1}/3", "sparsevec index out of bounds"),
    ("{1:nan}/3", "NaN not allowed in sparsevec"),
    ("{1:-inf}/3", "infinite value not allowed in sparsevec"),
    ("{1:1e39}/3", '"1e39" is out of range for type sparsevec'),
    ("{1:1e-46}/3", '"1e-46" is out of range for type sparsevec'),
    ("{1:1}/0", "sparsevec must have at least 1 dimension"),
    ("{1:1}/1000000001", "sparsevec cannot have more than 1000000000 dimensions"),
    ("{" + ",".join(f"{i}:1" for i in range(1, 16002)) + "}/20000", "sparsevec cannot have more than 16000 non-zero elements"),
    ("{1:1}", 'invalid input syntax for type sparsevec: "{1:1}"'),
    ("[1,2]", 'invalid input syntax for type sparsevec: "[1,2]"'),
    ("{1:1}/3x", 'invalid input syntax for type sparsevec: "{1:1}/3x"'),
])
def test_input_errors_in_pgvectors_words(con, literal, message):
    with pytest.raises(vsql.DataError, match=_re(message)):
        con.execute(f"SELECT '{literal}'::sparsevec")
    with pytest.raises(vsql.DataError, match=_re(message)):
        con.execute("SELECT v <-> ?::sparsevec FROM s", [literal])


@pytest.mark.parametrize("sql, error, message", [
    ("SELECT '{1:1}/5'::sparsevec(3)", vsql.DataError, "expected 3 dimensions, not 5"),
    ("SELECT '[1,2]'::vector::sparsevec(3)", vsql.DataError, "expected 3 dimensions, not 2"),
    ("SELECT '{1:1}/3'::sparsevec::vector(4)", vsql.DataError, "expected 4 dimensions, not 3"),
    ("SELECT u::sparsevec(2) FROM s", vsql.DataError, "expected 2 dimensions, not 1"),
    ("SELECT '{1:1}/16001'::sparsevec::vector", vsql.DataError, "vector cannot have more than 16000 dimensions"),
    ("SELECT '{1:70000}/3'::sparsevec::halfvec", vsql.DataError, '"70000" is out of range for type halfvec'),
    ("SELECT '{1:1}/3'::sparsevec <-> '{1:1}/4'::sparsevec", vsql.DataError, "different sparsevec dimensions 3 and 4"),
    ("SELECT l1_distance(u, '{1:1}/4') FROM s", vsql.DataError, "different sparsevec dimensions 1 and 4"),
    ("SELECT '{1:1}/3'::sparsevec <=> '[1,2]'::vector", vsql.DataError, "different sparsevec dimensions 3 and 2"),
    ("INSERT INTO s VALUES (2000, '{1:1}/4', NULL)", vsql.DataError, f"expected {DIM} dimensions, not 4"),
    ("UPDATE s SET v = '{1:1}/4' WHERE id = 1", vsql.DataError, f"expected {DIM} dimensions, not 4"),
    ("SELECT '{1:1}/3'::sparsevec(0)", vsql.DataError, "dimensions for type sparsevec must be at least 1"),
    ("SELECT v + v FROM s", vsql.ProgrammingError, "operator does not exist: sparsevec + sparsevec"),
    ("SELECT avg(v) FROM s", vsql.ProgrammingError, "function avg(sparsevec) does not exist"),
    ("SELECT vector_dims(v) FROM s", vsql.ProgrammingError, "function vector_dims(sparsevec) does not exist"),
    ("SELECT v::real[] FROM s", vsql.ProgrammingError, "cannot cast type sparsevec to real[]"),
    ("CREATE INDEX ON s USING ivfflat (v sparsevec_l2_ops)", vsql.ProgrammingError,
     'operator class "sparsevec_l2_ops" does not exist for access method "ivfflat"'),
    ("CREATE INDEX ON s USING hnsw (v halfvec_l2_ops)", vsql.ProgrammingError,
     'operator class "halfvec_l2_ops" does not accept data type sparsevec'),
    ("ALTER TABLE s ADD COLUMN w sparsevec(3)", vsql.ProgrammingError, "vsql cannot add or retype a column to sparsevec(n)"),
])
def test_errors(con, sql, error, message):
    with pytest.raises(error, match=_re(message)):
        con.execute(sql)


def _re(message: str) -> str:
    import re

    return re.escape(message)


# -- the DB-API ---------------------------------------------------------------------------------

def test_sparse_vector_is_pgvector_pythons_shape():
    v = vsql.SparseVector({2: 2.0, 0: 1.5, 1: 0}, 5)
    assert (v.dimensions(), v.indices(), v.values()) == (5, [0, 2], [1.5, 2.0])
    assert v.to_list() == [1.5, 0, 2, 0, 0] and v.to_numpy().dtype == np.float32
    assert repr(v) == "SparseVector({0: 1.5, 2: 2.0}, 5)" and str(v) == v.to_text() == "{1:1.5,3:2}/5"
    assert v == vsql.SparseVector([1.5, 0, 2, 0, 0]) == SparseVector.from_text("{3:2,1:1.5}/5") and v != SparseVector({0: 1.5}, 5)
    with pytest.raises(ValueError):
        vsql.SparseVector({0: 1})


def test_values_round_trip_through_the_dbapi(con):
    con.execute("CREATE TEMP TABLE rt (id int, v sparsevec(4))")
    pgvector = pytest.importorskip("pgvector")
    bound = [vsql.SparseVector({1: 0.1}, 4), "{4:-2}/4", np.array([0, 0, 3, 0], np.float32),
             pgvector.SparseVector({0: 1e-45, 3: 3.4028235e38}, 4), None]
    for i, value in enumerate(bound):
        con.execute("INSERT INTO rt VALUES (%s, %s)", [i, value])
    con.cursor().executemany("INSERT INTO rt VALUES (?, ?)", [(10 + i, value) for i, value in enumerate(bound)])
    rows = con.execute("SELECT v FROM rt ORDER BY id").fetchall()
    want = [SparseVector({1: float(np.float32(0.1))}, 4), SparseVector({3: -2.0}, 4), SparseVector({2: 3.0}, 4),
            SparseVector({0: float(np.float32(1e-45)), 3: float(np.float32(3.4028235e38))}, 4), None]
    assert [r[0] for r in rows] == want * 2
    cursor = con.execute("SELECT id, v FROM rt ORDER BY id")
    assert cursor.description[1][1] == SPARSEVEC
    frame = cursor.fetch_df()
    assert frame["v"][0] == want[0]
    assert con.execute("SELECT v::text FROM rt WHERE v = %s", [pgvector.SparseVector([0, 0, 3, 0])]).fetchall() == [("{3:3}/4",)] * 2
    assert con.execute("SELECT count(*) FROM rt WHERE v = ?", [want[0]]).fetchone() == (2,)


def test_storage_and_catalog(con):
    kinds = con.session.catalog.table("s").kinds
    assert kinds == {"v": ("sparsevec", DIM), "u": ("sparsevec", 0)}
    described = {r[0]: r[1] for r in con.execute("DESCRIBE s").fetchall()}
    assert described["v"] == described["u"] == "STRUCT(sparsevec_dim INTEGER, sparsevec_idx INTEGER[], sparsevec_val FLOAT[])"


def test_shown_in_text_form(con):
    """The shell and the notebook magics show a sparsevec in pgvector's text form."""
    from vsql.client.magic import Rows
    from vsql.client.shell.render import render
    from vsql.client.shell.result import Result

    rows = con.execute("SELECT id, v, u FROM s WHERE id IN (4, 1000) ORDER BY id").fetchall()
    want = rows[0][1].to_text()
    assert want in render(Result(["id", "v", "u"], rows)) and want in Rows(rows, ["id", "v", "u"])._repr_html_()
