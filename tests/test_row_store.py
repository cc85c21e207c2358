"""The index's row store: k-NN statements that select plain columns, and filters made of plain
comparisons, answered in memory beside the index (vsql.index.rows) instead of by a fetch
statement. Each test checks which path ran (EXPLAIN), and that its rows are the table's."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vsql
from oracle import knn

DIM = 4
STORED = "answered from the index and its row store"
IN_MEMORY = "evaluated on the index row store"
BY_ENGINE = "evaluated by the engine"


def _table(rows=400, seed=0, path=":memory:"):
    """items(id, n INT, s TEXT, b BOOLEAN, f DOUBLE, embedding) with NULLs in every column but the
    vectors (a row without one comes last in k-NN order, from the engine: see test_nulls_and_limits)."""
    rng = np.random.default_rng(seed)
    con = vsql.connect(path, autocommit=True)
    con.execute(f"CREATE TABLE items (id INT PRIMARY KEY, n INT, s TEXT, b BOOLEAN, f DOUBLE, embedding VECTOR({DIM}))")
    data = []
    for i in range(rows):
        null = rng.random(5) < 0.1
        data.append((i, None if null[0] else int(rng.integers(-3, 4)), None if null[1] else ["a", "b", "é", "ab"][i % 4],
                     None if null[2] else bool(i % 3), None if null[3] else float(rng.normal()),
                     rng.normal(size=DIM).astype(np.float32)))
    con.cursor().executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", data)
    con.execute("CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)")
    con.execute("SET vsql.exact_below = 0")
    return con


def _explain(con, sql, params):
    return con.execute("EXPLAIN " + sql, params).fetchall()[0][1]


def _oracle(con, columns, where, params, query, k):
    """The k nearest of the rows the engine's own WHERE keeps, by NumPy; rows without a vector
    last, by key, as SQL orders NULL distances."""
    rows = con.execute(f"SELECT {columns}, embedding FROM items" + (f" WHERE {where}" if where else "")
                       + " ORDER BY id", params).fetchall()
    with_vector = [r for r in rows if r[-1] is not None]
    nearest = []
    if with_vector:
        order, _ = knn(np.stack([r[-1] for r in with_vector]), query, "l2", k)
        nearest = [with_vector[i][:-1] for i in order]
    return (nearest + [r[:-1] for r in rows if r[-1] is None])[:k]


@pytest.fixture(scope="module")
def items():
    con = _table()
    yield con
    con.close()


CONDITIONS = st.deferred(lambda: st.one_of(
    COMPARISON,
    st.tuples(CONDITIONS, st.sampled_from(["AND", "OR"]), CONDITIONS).map(lambda t: (f"({t[0][0]} {t[1]} {t[2][0]})",
                                                                                   t[0][1] + t[2][1])),
    CONDITIONS.map(lambda c: (f"NOT ({c[0]})", c[1])),
))
VALUES = {"n": st.one_of(st.none(), st.integers(-4, 4)), "s": st.one_of(st.none(), st.sampled_from(["a", "b", "é", "ab", "z"])),
          "b": st.one_of(st.none(), st.booleans())}
COMPARISON = st.one_of(
    st.tuples(st.sampled_from(list(VALUES)), st.sampled_from(["=", "<>", "<", "<=", ">", ">="])).flatmap(
        lambda t: VALUES[t[0]].map(lambda v: (f"{t[0]} {t[1]} ?", [v]))),
    st.sampled_from(list(VALUES)).flatmap(lambda c: st.lists(VALUES[c], min_size=1, max_size=3).map(
        lambda vs: (f"{c} IN ({', '.join('?' * len(vs))})", vs))),
    st.sampled_from(list(VALUES)).map(lambda c: (f"{c} IS NULL", [])),
    st.sampled_from(list(VALUES)).map(lambda c: (f"{c} IS NOT NULL", [])),
    st.tuples(st.integers(-4, 4), st.integers(-4, 4)).map(lambda t: ("n BETWEEN ? AND ?", list(t))),
    st.tuples(st.integers(-4, 4), st.integers(0, 3)).map(lambda t: ("n >= ? AND n < ? + 2", [t[0], t[0] + t[1]])),
    st.integers(-4, 4).map(lambda v: ("n <> ? - 1", [v])),
    st.just(("n = 2", [])), st.just(("s = 'é'", [])), st.just(("b = true", [])), st.just(("n = -1", [])),
)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(condition=CONDITIONS, k=st.sampled_from([1, 5, 50, 500]), seed=st.integers(0, 2**16))
def test_a_filter_evaluated_in_memory_keeps_the_rows_the_engine_keeps(items, condition, k, seed):
    where, values = condition
    query = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    sql = f"SELECT id, n, s, b FROM items WHERE {where} ORDER BY embedding <-> ? LIMIT {k}"
    plan = _explain(items, sql, [*values, query])
    assert IN_MEMORY in plan and STORED in plan, plan
    got = items.execute(sql, [*values, query]).fetchall()
    expected = _oracle(items, "id, n, s, b", where, values, query, k)
    assert got == expected


@pytest.mark.parametrize("where, values", [
    ("f > ?", [0.0]),  # floating columns: NaN's order is the engine's
    ("n = ?", [1.5]),  # a constant of another kind: the engine's casts decide
    ("n = ?", ["1"]),
    ("n + 1 = ?", [2]),  # an expression
    ("n = (SELECT max(n) FROM items)", []),  # a subquery
    ("s LIKE ?", ["a%"]),
])
def test_other_filters_are_evaluated_by_the_engine(items, where, values):
    query = np.ones(DIM, np.float32)
    sql = f"SELECT id, n FROM items WHERE {where} ORDER BY embedding <-> ? LIMIT 7"
    plan = _explain(items, sql, [*values, query])
    assert BY_ENGINE in plan, plan
    assert items.execute(sql, [*values, query]).fetchall() == _oracle(items, "id, n", where, values, query, 7)


def test_types_and_names_are_the_engines(items):
    query = np.ones(DIM, np.float32)
    stored = items.execute("SELECT id, s AS label, b FROM items ORDER BY embedding <-> ? LIMIT 3", [query])
    fetched = items.execute("SELECT id, s || '' AS label, b FROM items ORDER BY embedding <-> ? LIMIT 3", [query])
    assert [d[:2] for d in stored.description] == [d[:2] for d in fetched.description]
    assert stored.fetchall() == fetched.fetchall()


WRITES = [
    ("INSERT INTO items VALUES (1000, 1, 'new', true, 0, '[0.5,0.5,0.5,0.5]')", "insert"),
    ("UPDATE items SET s = 'changed', n = 1 WHERE id IN (SELECT id FROM items ORDER BY id DESC LIMIT 50)",
     "update of plain columns"),
    ("UPDATE items SET embedding = '[0.4,0.5,0.6,0.5]' WHERE id % 7 = 0", "update of vectors"),
    ("DELETE FROM items WHERE id % 5 = 0", "delete"),
    ("UPDATE items SET id = id + 5000 WHERE id % 11 = 0", "update of keys"),
    ("MERGE INTO items t USING (SELECT 3 AS id) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET s = 'merged'", "merge"),
    ("UPDATE items SET embedding = NULL WHERE id % 13 = 0", "vectors removed"),
]


@pytest.mark.parametrize("write, name", WRITES, ids=[name for _, name in WRITES])
def test_every_write_reaches_the_row_store(write, name):
    con = _table(rows=300, seed=1)
    query = np.full(DIM, 0.5, np.float32)
    sql = "SELECT id, n, s FROM items WHERE n = ? OR s = ? ORDER BY embedding <-> ? LIMIT 20"
    params = [1, "merged"]
    assert con.execute(sql, [*params, query]).fetchall() == _oracle(con, "id, n, s", "n = ? OR s = ?", params, query, 20)
    con.execute(write)
    plan = _explain(con, sql, [*params, query])
    assert STORED in plan and IN_MEMORY in plan, plan
    assert con.execute(sql, [*params, query]).fetchall() == _oracle(con, "id, n, s", "n = ? OR s = ?", params, query, 20)
    con.close()


def test_a_transaction_sees_its_own_writes_and_a_rollback_leaves_none():
    con = _table(rows=300, seed=2)
    con.autocommit = False
    query = np.full(DIM, 0.5, np.float32)
    sql = "SELECT id, s FROM items WHERE n = ? ORDER BY embedding <-> ? LIMIT 5"
    con.execute("UPDATE items SET n = 42, s = 'mine' WHERE id < 30")
    plan = _explain(con, sql, [42, query])
    assert STORED not in plan and BY_ENGINE in plan  # pending writes: the engine answers in the transaction
    assert con.execute(sql, [42, query]).fetchall() == _oracle(con, "id, s", "n = ?", [42], query, 5)
    con.rollback()
    assert con.execute(sql, [42, query]).fetchall() == []
    assert IN_MEMORY in _explain(con, sql, [42, query])
    con.close()


def test_schema_changes_and_writes_behind_vsqls_back_are_read_again(tmp_path):
    path = str(tmp_path / "rows.duckdb")
    con = _table(rows=200, seed=3, path=path)
    query = np.full(DIM, 0.5, np.float32)
    assert con.execute("SELECT id, s FROM items ORDER BY embedding <-> ? LIMIT 3", [query]).fetchall()
    con.execute("ALTER TABLE items ADD COLUMN extra INT DEFAULT 5")
    con.execute("ALTER TABLE items RENAME COLUMN s TO label")
    sql = "SELECT id, label, extra FROM items WHERE extra = ? ORDER BY embedding <-> ? LIMIT 4"
    assert IN_MEMORY in _explain(con, sql, [5, query])
    assert con.execute(sql, [5, query]).fetchall() == _oracle(con, "id, label, extra", "extra = ?", [5], query, 4)
    con.close()
    import duckdb  # another program writes the file: vsql compares it with the index when it opens

    raw = duckdb.connect(path)
    raw.execute("UPDATE items SET label = 'outside', extra = 6 WHERE id < 100")
    raw.close()
    con = vsql.connect(path, autocommit=True)
    con.execute("SET vsql.exact_below = 0")
    assert con.execute(sql, [6, query]).fetchall() == _oracle(con, "id, label, extra", "extra = ?", [6], query, 4)
    assert all(row[1] == "outside" for row in con.execute(sql, [6, query]).fetchall())
    con.close()
