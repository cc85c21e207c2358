"""Exact k-NN through vsql gives NumPy's answer, for random tables, metrics, filters and k."""

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vsql
from oracle import OPERATORS, distances, knn

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def db():
    connection = vsql.connect(":memory:", autocommit=True)
    yield connection
    connection.close()


def load(db, vectors, cats):
    dim = vectors.shape[1]
    db.execute("DROP TABLE IF EXISTS t")
    db.execute(f"CREATE TABLE t (id INT, cat INT, e VECTOR({dim}))")
    db.load("t", pa.table({
        "id": pa.array(np.arange(len(vectors), dtype=np.int32)),
        "cat": pa.array(cats.astype(np.int32)),
        "e": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
    }))


def data(seed, n, dim, integers, metric):
    rng = np.random.default_rng(seed)
    if integers:
        vectors = rng.integers(-3, 4, size=(n, dim)).astype(np.float32)
        query = rng.integers(-3, 4, size=dim).astype(np.float32)
    else:
        vectors = rng.standard_normal((n, dim)).astype(np.float32)
        query = rng.standard_normal(dim).astype(np.float32)
    if metric == "cosine":  # a zero vector has no direction: pgvector gives NaN
        vectors[~vectors.any(axis=1)] = 1
        query[:] = query if query.any() else 1
    return vectors, query, rng.integers(0, 5, size=n)


FILTERS = {
    None: lambda cats: None,
    "cat = 2": lambda cats: cats == 2,
    "cat < 3": lambda cats: cats < 3,
    "cat > 9": lambda cats: cats > 9,
}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 80),
    dim=st.integers(1, 12),
    integers=st.booleans(),
    metric=st.sampled_from(sorted(OPERATORS)),
    where=st.sampled_from(list(FILTERS)),
    k=st.integers(1, 90),
    bind=st.sampled_from(["numpy", "text", "literal"]),
)
def test_exact_knn_equals_numpy(db, seed, n, dim, integers, metric, where, k, bind):
    vectors, query, cats = data(seed, n, dim, integers, metric)
    load(db, vectors, cats)
    text = "[" + ",".join(repr(float(v)) for v in query) + "]"
    q, params = {"numpy": ("?", [query]), "text": ("?", [text]), "literal": (f"'{text}'", None)}[bind]
    sql = f"SELECT id, e {OPERATORS[metric]} {q} AS d FROM t"
    sql += f" WHERE {where}" if where else ""
    sql += f" ORDER BY d LIMIT {k}"
    rows = db.execute(sql, params).fetchall()

    expected_ids, expected_d = knn(vectors, query, metric, k, FILTERS[where](cats))
    assert len(rows) == len(expected_ids)
    ids = np.array([r[0] for r in rows], dtype=int)
    got_d = np.array([r[1] for r in rows], dtype=np.float64)
    true_d = distances(vectors, query, metric)
    scale = 1 + np.abs(expected_d).max(initial=0)
    assert len(set(ids)) == len(ids)
    np.testing.assert_allclose(got_d, true_d[ids], atol=TOLERANCE * scale)  # distances are right
    np.testing.assert_allclose(got_d, expected_d, atol=TOLERANCE * scale)  # and they are the k smallest
    if where:
        assert FILTERS[where](cats)[ids].all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60), dim=st.integers(1, 6), k=st.integers(1, 70))
def test_ties_are_broken_by_row_order(db, seed, n, dim, k):
    """Integer vectors make exact L2 ties; vsql breaks them by insertion order, every time."""
    vectors, query, cats = data(seed, n, dim, True, "l2")
    load(db, vectors, cats)
    rows = db.execute(f"SELECT id FROM t ORDER BY e <-> ? LIMIT {k}", [query]).fetchall()
    expected, _ = knn(vectors, query, "l2", k)
    assert [r[0] for r in rows] == expected.tolist()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 50), queries=st.integers(1, 6), k=st.integers(1, 8),
       metric=st.sampled_from(sorted(OPERATORS)))
def test_lateral_batch_equals_numpy_per_query(db, seed, n, queries, k, metric):
    vectors, _, cats = data(seed, n, 4, False, metric)
    load(db, vectors, cats)
    qs = np.random.default_rng(seed + 1).standard_normal((queries, 4)).astype(np.float32)
    db.execute("CREATE OR REPLACE TABLE qs (qid INT, q VECTOR(4))")
    db.cursor().executemany("INSERT INTO qs VALUES (?, ?)", [(i, v) for i, v in enumerate(qs)])
    rows = db.execute(
        f"SELECT qs.qid, s.id, s.d FROM qs CROSS JOIN LATERAL "
        f"(SELECT id, e {OPERATORS[metric]} qs.q AS d FROM t ORDER BY d LIMIT {k}) s ORDER BY qs.qid, s.d"
    ).fetchall()
    for qid, query in enumerate(qs):
        got = np.array([r[2] for r in rows if r[0] == qid])
        _, expected_d = knn(vectors, query, metric, k)
        np.testing.assert_allclose(got, expected_d, atol=TOLERANCE * (1 + np.abs(expected_d).max()))
