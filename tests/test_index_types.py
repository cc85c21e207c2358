"""Indexes over pgvector's other types and over expressions: `halfvec_*_ops`, `bit_hamming_ops`,
`bit_jaccard_ops`, and `((binary_quantize(e)::bit(n)) bit_hamming_ops)`-style expression indexes.
Each search must run through the index (EXPLAIN says which), return k rows with the engine's own
distances, match the NumPy oracle within recall, and stay right after writes and a reopen."""

import numpy as np
import pytest

import vsql
from vsql.sql.metrics import INDEXED

N, DIM, BITS, K = 600, 16, 48, 10


def _oracle(name: str, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return INDEXED[name].distances(queries, rows)[0]


def _half(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16).astype(np.float32)


def _text(bits: np.ndarray) -> str:
    return "".join("1" if b else "0" for b in bits)


# (index DDL, ORDER BY operand, operator, metric, how a row's indexed value is computed from (e, h, b),
#  the query parameter's SQL and how its value is computed from a float query q and bit query qb)
CASES = {
    "halfvec-l2": ("USING hnsw (h halfvec_l2_ops)", "h", "<->", "l2", lambda e, h, b: h, "%s::halfvec", "half"),
    "halfvec-ip": ("USING hnsw (h halfvec_ip_ops)", "h", "<#>", "ip", lambda e, h, b: h, "%s::halfvec", "half"),
    "halfvec-cosine": ("USING hnsw (h halfvec_cosine_ops)", "h", "<=>", "cosine", lambda e, h, b: h, "%s::halfvec", "half"),
    "halfvec-l1": ("USING hnsw (h halfvec_l1_ops)", "h", "<+>", "l1", lambda e, h, b: h, "%s::halfvec", "half"),
    "halfvec-ivfflat": ("USING ivfflat (h halfvec_l2_ops) WITH (lists = 10)", "h", "<->", "l2", lambda e, h, b: h,
                        "%s::halfvec", "half"),
    "bit-hamming": ("USING hnsw (b bit_hamming_ops)", "b", "<~>", "hamming", lambda e, h, b: b, "%s::bit(48)", "bits"),
    "bit-hamming-ivfflat": ("USING ivfflat (b bit_hamming_ops) WITH (lists = 10)", "b", "<~>", "hamming",
                            lambda e, h, b: b, "%s::bit(48)", "bits"),
    "bit-hamming-rabitq": ("USING hnsw (b bit_hamming_ops) WITH (quantizer = 'rabitq')", "b", "<~>", "hamming",
                           lambda e, h, b: b, "%s::bit(48)", "bits"),
    "bit-jaccard": ("USING hnsw (b bit_jaccard_ops)", "b", "<%>", "jaccard", lambda e, h, b: b, "%s::bit(48)", "bits"),
    "expr-binary-quantize": (f"USING hnsw ((binary_quantize(e)::bit({DIM})) bit_hamming_ops)",
                             f"binary_quantize(e)::bit({DIM})", "<~>", "hamming", lambda e, h, b: e > 0,
                             "binary_quantize(%s::vector)", "quantized"),
    "expr-halfvec": (f"USING hnsw ((e::halfvec({DIM})) halfvec_l2_ops)", f"e::halfvec({DIM})", "<->", "l2",
                     lambda e, h, b: _half(e), "%s::halfvec", "half"),
    "expr-subvector": ("USING hnsw ((subvector(e, 1, 8)::vector(8)) vector_cosine_ops)", "subvector(e, 1, 8)::vector(8)",
                       "<=>", "cosine", lambda e, h, b: e[:, :8], "%s::vector(8)", "prefix"),
}


def _data(seed=5):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((N, DIM)).astype(np.float32)
    h = _half(rng.standard_normal((N, DIM)).astype(np.float32))
    b = rng.random((N, BITS)) < 0.3
    return e, h, b


def _database(path, e, h, b):
    con = vsql.connect(path, autocommit=True)
    con.execute(f"CREATE TABLE items (id BIGINT PRIMARY KEY, cat INT, e VECTOR({DIM}), h HALFVEC({DIM}), b BIT({BITS}))")
    con.cursor().executemany("INSERT INTO items VALUES (%s, %s, %s, %s::halfvec, %s::bit(48))",
                             [(i, i % 10, e[i], h[i], _text(b[i])) for i in range(len(e))])
    con.execute("SET vsql.exact_below = 0")
    return con


def _query(kind: str, rng):
    q = rng.standard_normal(DIM).astype(np.float32)
    qb = rng.random(BITS) < 0.3
    value = {"half": (q, _half(q)), "bits": (_text(qb), qb), "quantized": (q, q > 0), "prefix": (q[:8], q[:8])}[kind]
    return value  # (parameter, the indexed-space query the oracle uses)


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def shared(data, tmp_path_factory):
    con = _database(str(tmp_path_factory.mktemp("types") / "db.duckdb"), *data)
    yield con
    con.close()


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_index_serves_and_matches_the_oracle(case, data, shared):
    ddl, operand, op, metric, value, param, kind = CASES[case]
    e, h, b = data
    con = shared
    con.execute("DROP INDEX IF EXISTS idx")
    con.execute(f"CREATE INDEX idx ON items {ddl}")
    rows = value(e, h, b).astype(np.float32)
    rng = np.random.default_rng(1)
    recalls = []
    for round_ in range(8):
        asked, oracle_query = _query(kind, rng)
        where = "WHERE cat < 3 " if round_ % 2 else ""
        mask = (np.arange(N) % 10 < 3) if where else np.ones(N, bool)
        sql = f"SELECT id, {operand} {op} {param} AS d FROM items {where}ORDER BY {operand} {op} {param} LIMIT {K}"
        plan = "\n".join(r[1] for r in con.execute(f"EXPLAIN {sql}", [asked, asked]).fetchall())
        assert "index: idx " in plan and "strategy: exact_sql" not in plan, plan
        got = con.execute(sql, [asked, asked]).fetchall()
        assert len(got) == K
        truth = _oracle(metric, oracle_query[None, :].astype(np.float32), rows)
        for key, distance in got:
            assert mask[key]
            assert distance == pytest.approx(truth[key], rel=1e-4, abs=1e-4), (key, distance, truth[key])
        assert [d for _, d in got] == sorted(d for _, d in got)
        kth = np.sort(truth[mask])[K - 1]
        recalls.append(sum(d <= kth + 1e-6 for _, d in got) / K)  # ties at the k-th distance count as found
    assert np.mean(recalls) >= 0.9, recalls


def test_writes_and_reopen_keep_expression_indexes_right(data, tmp_path):
    e, h, b = (x[:300] for x in data)
    path = str(tmp_path / "db.duckdb")
    con = _database(path, e, h, b)
    con.execute(f"CREATE INDEX bq ON items USING hnsw ((binary_quantize(e)::bit({DIM})) bit_hamming_ops)")
    con.execute("CREATE INDEX hv ON items USING hnsw (h halfvec_l2_ops)")
    q = np.ones(DIM, np.float32)
    bq_sql = f"SELECT id, binary_quantize(e)::bit({DIM}) <~> binary_quantize(%s::vector) AS d FROM items " \
             f"ORDER BY binary_quantize(e)::bit({DIM}) <~> binary_quantize(%s::vector) LIMIT 3"
    # rows written after the build: the nearest are new, updated and never deleted ones
    con.execute("INSERT INTO items VALUES (100000, 1, %s, %s::halfvec, %s::bit(48))", [q, q, "1" * BITS])
    con.execute("UPDATE items SET e = %s, h = %s::halfvec WHERE id = 7", [q, q])
    con.execute("DELETE FROM items WHERE id = 100000")
    con.execute("UPDATE items SET e = %s WHERE id = 8", [-q])
    got = con.execute(bq_sql, [q, q]).fetchall()
    assert got[0] == (7, 0.0) and 100000 not in [k for k, _ in got]
    assert con.execute("SELECT id, h <-> %s::halfvec FROM items ORDER BY h <-> %s::halfvec LIMIT 1", [q, q]).fetchall() \
        == [(7, 0.0)]
    con.close()
    con = vsql.connect(path, autocommit=True)
    con.execute("SET vsql.exact_below = 0")
    plan = "\n".join(r[1] for r in con.execute(f"EXPLAIN {bq_sql}", [q, q]).fetchall())
    assert "index: bq " in plan
    assert con.execute(bq_sql, [q, q]).fetchall()[0] == (7, 0.0)
    # a different expression is not served by the index: the exact plan says why
    other = f"SELECT id FROM items ORDER BY binary_quantize(h)::bit({DIM}) <~> binary_quantize(%s::vector) LIMIT 3"
    assert "index:" not in "\n".join(r[1] for r in con.execute(f"EXPLAIN {other}", [q]).fetchall())
    con.close()


def test_rerank_pattern_searches_the_index_and_reranks_exactly(data, shared):
    e, h, b = data
    con = shared
    con.execute("DROP INDEX IF EXISTS idx")
    con.execute(f"CREATE INDEX idx ON items USING hnsw ((binary_quantize(e)::bit({DIM})) bit_hamming_ops)")
    inner = f"SELECT id, e FROM items ORDER BY binary_quantize(e)::bit({DIM}) <~> binary_quantize(%s::vector) LIMIT 200"
    pattern = f"SELECT id FROM ({inner}) candidates ORDER BY e <=> %s LIMIT 5"
    hamming_all = None
    for seed in range(3):
        q = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
        plan = "\n".join(r[1] for r in con.execute(f"EXPLAIN {pattern}", [q, q]).fetchall())
        assert "index: idx " in plan and "strategy: exact_sql" not in plan, plan
        found = [k for (k, _) in con.execute(inner, [q]).fetchall()]
        hamming_all = ((e > 0) != (q > 0)).sum(axis=1)
        # the subquery: 200 rows, nearly all within the exact 200th Hamming distance
        assert len(found) == 200 and np.mean(hamming_all[found] <= np.sort(hamming_all)[199]) >= 0.9
        # the statement: exactly the 5 nearest by cosine among the subquery's rows
        cosine = INDEXED["cosine"].distances(q[None, :], e[found])[0]
        expected = [found[i] for i in np.lexsort((found, cosine))[:5]]
        assert [k for (k,) in con.execute(pattern, [q, q]).fetchall()] == expected


@pytest.mark.parametrize("ddl, error", [
    ("USING hnsw (e halfvec_l2_ops)", 'operator class "halfvec_l2_ops" does not accept data type vector'),
    ("USING hnsw (h vector_l2_ops)", 'operator class "vector_l2_ops" does not accept data type halfvec'),
    ("USING ivfflat (b bit_jaccard_ops)", 'operator class "bit_jaccard_ops" does not exist for access method "ivfflat"'),
    ("USING hnsw ((binary_quantize(e)) bit_hamming_ops)", "column does not have dimensions"),
    ("USING hnsw ((e + h::vector) vector_l2_ops)", "exactly one column"),
    ("USING hnsw ((nope::vector(3)) vector_l2_ops)", 'column "nope" does not exist'),
    ("USING hnsw (b)", 'data type bit has no default operator class for access method "hnsw"'),
    ("USING hnsw (b bit_jaccard_ops) WITH (quantizer = 'sq8')", 'quantizer "sq8" supports inner product and L2'),
])
def test_index_errors_name_the_problem(ddl, error, data):
    con = vsql.connect(":memory:", autocommit=True)
    con.execute(f"CREATE TABLE items (id BIGINT PRIMARY KEY, e VECTOR({DIM}), h HALFVEC({DIM}), b BIT({BITS}))")
    with pytest.raises(vsql.Error, match=error.replace("(", r"\(").replace(")", r"\)")):
        con.execute(f"CREATE INDEX ON items {ddl}")


@pytest.mark.parametrize("opclass, op, metric", [("sparsevec_l2_ops", "<->", "l2"), ("sparsevec_ip_ops", "<#>", "ip"),
                                                ("sparsevec_cosine_ops", "<=>", "cosine"), ("sparsevec_l1_ops", "<+>", "l1")])
def test_sparsevec_index_serves_and_matches_the_oracle(opclass, op, metric):
    rng = np.random.default_rng(2)
    dense = np.where(rng.random((400, 100)) < 0.3, rng.standard_normal((400, 100)), 0).astype(np.float32)
    con = vsql.connect(":memory:", autocommit=True)
    con.execute("CREATE TABLE s (id BIGINT PRIMARY KEY, v SPARSEVEC(100))")
    con.cursor().executemany("INSERT INTO s VALUES (%s, %s::vector::sparsevec)", [(i, row) for i, row in enumerate(dense)])
    con.execute(f"CREATE INDEX si ON s USING hnsw (v {opclass})")
    con.execute("SET vsql.exact_below = 0")
    for _ in range(4):
        q = dense[rng.integers(400)] + np.where(rng.random(100) < 0.05, rng.standard_normal(100), 0).astype(np.float32)
        sql = f"SELECT id, v {op} %s::vector::sparsevec AS d FROM s ORDER BY d LIMIT {K}"
        plan = "\n".join(r[1] for r in con.execute(f"EXPLAIN {sql}", [q]).fetchall())
        assert "index: si " in plan and "answered from the index" not in plan, plan
        got = con.execute(sql, [q]).fetchall()
        truth = _oracle(metric, q[None, :], dense)
        assert len(got) == K
        for key, distance in got:
            assert distance == pytest.approx(truth[key], rel=1e-4, abs=1e-4)
        assert np.mean([d <= np.sort(truth)[K - 1] + 1e-6 for _, d in got]) >= 0.9


def test_sparsevec_index_past_16000_dimensions_is_refused():
    con = vsql.connect(":memory:", autocommit=True)
    con.execute("CREATE TABLE s (id BIGINT PRIMARY KEY, v SPARSEVEC(30522))")
    with pytest.raises(vsql.NotSupportedError, match="at most 16000 dimensions"):
        con.execute("CREATE INDEX ON s USING hnsw (v sparsevec_ip_ops)")


def test_ivfflat_default_opclass_for_halfvec(data):
    con = vsql.connect(":memory:", autocommit=True)
    con.execute(f"CREATE TABLE items (id BIGINT PRIMARY KEY, h HALFVEC({DIM}))")
    con.execute("CREATE INDEX ON items USING ivfflat (h) WITH (lists = 1)")
    assert con.execute("SELECT name, opclass FROM vsql.indexes").fetchall() == [("items_h_idx", "halfvec_l2_ops")]


def test_recall_tools_refuse_what_they_cannot_measure(shared):
    shared.execute("DROP INDEX IF EXISTS idx")
    shared.execute("CREATE INDEX idx ON items USING hnsw (h halfvec_l2_ops)")
    with pytest.raises(vsql.NotSupportedError, match='index "idx" is over h \\(halfvec\\)'):
        shared.execute("SELECT * FROM vsql_evaluate('idx', 'SELECT e FROM items LIMIT 3')").fetchall()


def test_a_bound_halfvec_query_is_checked_on_the_index_path(shared):
    """The index path rounds a bound vector to float16 itself (no engine statement): it must still
    refuse what pgvector refuses."""
    shared.execute("DROP INDEX IF EXISTS idx")
    shared.execute("CREATE INDEX idx ON items USING hnsw (h halfvec_l2_ops)")
    q = np.full(DIM, 70000, np.float32)
    with pytest.raises(vsql.DataError, match='"70000" is out of range for type halfvec'):
        shared.execute("SELECT id FROM items ORDER BY h <-> %s::halfvec LIMIT 3", [q]).fetchall()


def test_an_index_name_used_again_reads_its_own_table():
    """A dropped index's name, reused on a table of another dimension, reads the new table's values."""
    con = vsql.connect(":memory:", autocommit=True)
    for table, dim in (("a", 2), ("b", 3)):
        con.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, h HALFVEC({dim}))")
        con.execute(f"INSERT INTO {table} VALUES (1, %s::halfvec), (2, %s::halfvec)", [[1.0] * dim, [2.0] * dim])
        con.execute(f"CREATE INDEX idx ON {table} USING hnsw (h halfvec_l2_ops)")
        assert con.execute(f"SELECT id FROM {table} ORDER BY h <-> %s::halfvec LIMIT 1", [[2.0] * dim]).fetchall() == [(2,)]
        con.execute("DROP INDEX idx")
