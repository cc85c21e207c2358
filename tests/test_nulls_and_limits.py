"""NULLs, zero vectors and limits, the same through an index as through exact SQL: NULLS FIRST,
cosine's NaN for zero vectors, distances answered from the index alone (bit for bit, with
DuckDB's type names), NULL query vectors, arrays holding NULL, None parameters, the 16,000
dimension limit, index keys that must fit a BIGINT, and embedding models followed through
subqueries and arithmetic."""

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import vsql

ITEMS = "CREATE TABLE items (id BIGINT PRIMARY KEY, cat INT, embedding VECTOR(2))"
FILL = "INSERT INTO items SELECT i, i % 3, ARRAY[i, 0]::vector(2) FROM generate_series(0, 99) t(i)"


def items(opclass="vector_l2_ops", index=True):
    """The `items` table of rows [i, 0], i < 100; with an HNSW index every search must use."""
    con = vsql.connect(":memory:", autocommit=True)
    con.execute(ITEMS)
    con.execute(FILL)
    if index:
        con.execute(f"CREATE INDEX ON items USING hnsw (embedding {opclass})")
        con.execute("SET vsql.exact_below = 0")
    return con


def plan_of(con, sql, params=None):
    return con.execute(f"EXPLAIN ANALYZE {sql}", params).fetchall()[0][1]


def same(a, b):
    """Rows equal, NaN equal to NaN."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert all(u == v or (u != u and v != v) for u, v in zip(x, y)), (x, y)


def test_nulls_first_runs_exactly():
    con, twin = items(), items(index=False)
    sql = "SELECT id FROM items ORDER BY embedding <-> '[3,0]' NULLS FIRST LIMIT 3"
    for c in (con, twin):
        c.execute("INSERT INTO items VALUES (1000, 0, NULL)")
    assert con.execute(sql).fetchall() == twin.execute(sql).fetchall() == [(1000,), (3,), (2,)]
    assert "exact search on the engine: NULLS FIRST" in con.execute(f"EXPLAIN {sql}").fetchall()[0][1]
    # without NULLS FIRST the index answers
    assert "strategy: ann" in plan_of(con, sql.replace(" NULLS FIRST", ""))


def test_cosine_zero_rows_rank_last_with_nan():
    con, twin = items("vector_cosine_ops"), items(index=False)
    sql = "SELECT id, embedding <=> '[1,1]' AS d FROM items ORDER BY embedding <=> '[1,1]' LIMIT 100"
    got = con.execute(sql).fetchall()
    same(got, twin.execute(sql).fetchall())
    assert len(got) == 100 and got[-1][0] == 0 and got[-1][1] != got[-1][1]  # row [0,0]: NaN, last
    assert "strategy: exact (100 matching rows" in plan_of(con, sql)  # Faiss's brute force, not the engine's
    # a zero row (inner product 0) never displaces a row with a distance, even of 2 (opposite)
    few = "SELECT id, embedding <=> '[-1,0]' AS d FROM items ORDER BY embedding <=> '[-1,0]' LIMIT 5"
    got = con.execute(few).fetchall()
    assert len(got) == 5 and 0 not in [i for i, _ in got] and {d for _, d in got} == {2.0}
    assert "strategy: ann" in plan_of(con, few)


def test_cosine_zero_query_gives_nan_everywhere():
    con, twin = items("vector_cosine_ops"), items(index=False)
    literal = "SELECT id, embedding <=> '[0,0]' AS d FROM items ORDER BY embedding <=> '[0,0]' LIMIT 3"
    same(con.execute(literal).fetchall(), twin.execute(literal).fetchall())
    assert "zero query vector" in con.execute(f"EXPLAIN {literal}").fetchall()[0][1]
    bound = "SELECT id, cat, embedding <=> ? AS d FROM items ORDER BY embedding <=> ? LIMIT 3"
    zero = np.zeros(2, np.float32)
    got = con.execute(bound, [zero, zero]).fetchall()
    same(got, twin.execute(bound, [zero, zero]).fetchall())
    assert [r[0] for r in got] == [0, 1, 2] and all(r[2] != r[2] for r in got)
    assert "strategy: exact_sql" in plan_of(con, bound, [zero, zero])


@pytest.mark.parametrize("dim", [1, 2, 3, 7, 16, 100, 301])
def test_engine_distances_are_duckdbs_bit_for_bit(dim):
    from vsql.engine.duckdb.lowering import engine_distances

    rng = np.random.default_rng(dim)
    scale = rng.choice([1e-20, 1e-3, 1.0, 1e3, 1e17], (400, 1))
    rows = (rng.standard_normal((400, dim)) * scale).astype(np.float32)
    queries = rng.standard_normal((400, dim)).astype(np.float32)
    con = duckdb.connect()
    con.register("t", pa.table({"v": pa.FixedSizeListArray.from_arrays(pa.array(rows.ravel()), dim),
                                "q": pa.FixedSizeListArray.from_arrays(pa.array(queries.ravel()), dim)}))
    l2, ip = con.execute("SELECT array_distance(v, q), array_negative_inner_product(v, q) FROM t").fetchnumpy().values()
    assert np.array_equal(np.asarray(l2), engine_distances("l2", queries, rows))
    assert np.array_equal(np.asarray(ip), engine_distances("ip", queries, rows))


@pytest.mark.parametrize("opclass,op", [("vector_l2_ops", "<->"), ("vector_ip_ops", "<#>"), ("vector_cosine_ops", "<=>")])
def test_index_only_answers_match_the_engine(opclass, op):
    rng = np.random.default_rng(7)
    data = rng.standard_normal((600, 24)).astype(np.float32)
    twin = vsql.connect(":memory:", autocommit=True)
    con = vsql.connect(":memory:", autocommit=True)
    for c in (con, twin):
        c.execute("CREATE TABLE r (id BIGINT PRIMARY KEY, embedding VECTOR(24))")
        c.load("r", pa.table({"id": np.arange(600), "embedding": pa.FixedSizeListArray.from_arrays(pa.array(data.ravel()), 24)}))
    con.execute(f"CREATE INDEX ON r USING hnsw (embedding {opclass})")
    con.execute("SET vsql.exact_below = 0")
    sql = f"SELECT id, embedding {op} ? AS d FROM r ORDER BY d LIMIT 10"
    for q in rng.standard_normal((20, 24)).astype(np.float32):
        cursor = con.execute(sql, [q])
        got = cursor.fetchall()
        ids = [i for i, _ in got]
        truth = dict(twin.execute(f"SELECT id, embedding {op} ? FROM r WHERE id IN ({','.join(map(str, ids))})", [q]).fetchall())
        assert [d for _, d in got] == [truth[i] for i in ids]  # bit for bit
        exact = twin.execute(sql, [q])
        exact.fetchall()
        assert cursor.description == exact.description
        assert [d[1] for d in cursor.description] == ["BIGINT", "FLOAT"]
    answered = "answered from the index alone" in plan_of(con, sql, [q])
    assert answered == (op != "<=>")  # a cosine index holds normalised vectors: DuckDB computes those


def test_lateral_null_query_gives_rows_with_null_distances():
    for opclass, op in (("vector_l2_ops", "<->"), ("vector_cosine_ops", "<=>")):
        con, twin = items(opclass), items(index=False)
        sql = (f"SELECT q.qid, r.id, r.d FROM q CROSS JOIN LATERAL (SELECT t.id, t.embedding {op} q.v AS d FROM items t "
               f"ORDER BY t.embedding {op} q.v LIMIT 5) r ORDER BY q.qid, r.id")
        for c in (con, twin):
            c.execute("CREATE TABLE q (qid INT, v VECTOR(2))")
            c.execute("INSERT INTO q VALUES (1, NULL), (2, '[10.2, 0]'), (3, '[0, 0]')")
        got, want = con.execute(sql).fetchall(), twin.execute(sql).fetchall()
        assert "index batch" in con.execute(f"EXPLAIN {sql}").fetchall()[0][1]
        null_rows = [r for r in got if r[0] == 1]
        assert len(null_rows) == 5 and all(r[2] is None for r in null_rows)
        if op == "<->":  # (under cosine every row ties with [10.2, 0]: any 5 of them)
            assert [r for r in got if r[0] == 2] == [r for r in want if r[0] == 2]
        assert len(got) == len(want) == 15
        if op == "<=>":  # a zero query: cosine distance NaN to every row, still 5 rows
            assert all(r[2] != r[2] for r in got if r[0] == 3)


def test_arrays_holding_null_are_refused():
    con = items()
    for sql in ("SELECT ARRAY[1, NULL]::vector", "SELECT ARRAY[1,NULL]::real[]::vector",
                "UPDATE items SET embedding = ARRAY[1, NULL] WHERE id = 5",
                "INSERT INTO items VALUES (500, 1, ARRAY[NULL, 2])"):
        with pytest.raises(vsql.DataError, match="array must not contain nulls"):
            con.execute(sql)
    con.execute("CREATE TABLE t (id INT, tags REAL[])")
    con.execute("INSERT INTO t VALUES (5, [1, NULL])")
    with pytest.raises(vsql.DataError, match="array must not contain nulls"):  # known only at run time
        con.execute("UPDATE items SET embedding = t.tags::vector(2) FROM t WHERE items.id = t.id")
    with pytest.raises(vsql.DataError, match="array must not contain nulls"):
        con.execute("INSERT INTO items VALUES (?, ?, ?)", [501, 1, [1.0, None]])
    assert con.execute("SELECT embedding FROM items WHERE id = 5").fetchone()[0].tolist() == [5.0, 0.0]
    assert con.execute("SELECT count(*) FROM items").fetchone()[0] == 100


def test_none_binds_null_vectors():
    con, twin = items(), items(index=False)
    for c in (con, twin):
        c.execute("INSERT INTO items VALUES (?, ?, ?)", [200, 1, None])
        c.cursor().executemany("INSERT INTO items VALUES (?, ?, ?)", [(201, 1, None), (202, 2, np.array([1, 2]))])
    assert con.execute("SELECT id, embedding FROM items WHERE id >= 200 ORDER BY id").fetchall()[:2] == [(200, None), (201, None)]
    sql = "SELECT id, embedding <-> ? AS d FROM items ORDER BY embedding <-> ? LIMIT 4"
    got = con.execute(sql, [None, None]).fetchall()
    assert got == twin.execute(sql, [None, None]).fetchall() == [(0, None), (1, None), (2, None), (3, None)]
    assert "the query vector is NULL" in con.execute(f"EXPLAIN {sql}", [None, None]).fetchall()[0][1]
    # a NULL that only the engine sees: exact SQL's answer too
    sub = "SELECT id FROM items ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 200) LIMIT 3"
    assert con.execute(sub).fetchall() == twin.execute(sub).fetchall() == [(0,), (1,), (2,)]


def test_dimension_limit_holds_at_run_time():
    con = items()
    with pytest.raises(vsql.DataError, match="vector cannot have more than 16000 dimensions"):
        con.execute("SELECT ('[' || repeat('1,', 16000) || '1]')::vector")
    assert con.execute("SELECT vector_dims(('[' || repeat('1,', 15999) || '1]')::vector)").fetchone()[0] == 16000


def test_keys_beyond_a_bigint_are_hashed_not_truncated():
    """UBIGINT keys do not fit Faiss's signed ids: the index names rows by the key's hash."""
    con = vsql.connect(":memory:", autocommit=True)
    con.execute("CREATE TABLE u (id UBIGINT PRIMARY KEY, embedding VECTOR(2))")
    con.execute("INSERT INTO u VALUES (18446744073709551615, '[1,0]'), (1, '[0,1]')")
    con.execute("CREATE INDEX ON u USING hnsw (embedding vector_l2_ops)")
    assert con.execute("SELECT key_column FROM vsql.indexes").fetchone()[0] == '["id"]'
    con.execute("SET vsql.exact_below = 0")
    assert con.execute("SELECT id FROM u ORDER BY embedding <-> '[1,0]' LIMIT 1").fetchone()[0] == 2**64 - 1


def two_dimensional(texts):
    import hash_model

    return hash_model._embed(texts, 2)


def two_dimensional_b(texts):
    import hash_model

    return hash_model._embed([f"#{t}" for t in texts], 2)


def test_model_check_follows_values():
    con = items()
    con.execute(f"SELECT vsql_register_model('m', 'python', '{__name__}:two_dimensional')")
    con.execute(f"SELECT vsql_register_model('m', 'python', '{__name__}:two_dimensional_b')")
    con.execute("ALTER TABLE items ALTER COLUMN embedding SET MODEL 'm@2'")
    refused = [
        "INSERT INTO items SELECT 500, 1, embed('m@1', 'x')",
        "INSERT INTO items SELECT 500, 1, v FROM (SELECT embed('m@1', 'x') AS v) s",
        "INSERT INTO items SELECT 500, 1, embed('m@2', 'x') UNION ALL SELECT 501, 1, embed('m@1', 'y')",
        "UPDATE items SET embedding = s.v FROM (SELECT embed('m@1', 'x') AS v) s WHERE items.id = 1",
        "WITH s AS (SELECT embed('m@1', 'x') AS v) UPDATE items SET embedding = s.v FROM s WHERE items.id = 1",
        "SELECT id FROM items ORDER BY embedding <-> (SELECT embed('m@1', 'x')) LIMIT 1",
        "SELECT id FROM items ORDER BY embedding <-> embed('m@1', 'x') + embed('m@1', 'y') LIMIT 1",
        "UPDATE items SET embedding = embed('m@2', 'x') + embed('m@1', 'y') WHERE id = 2",
    ]
    for sql in refused:
        with pytest.raises(vsql.ProgrammingError, match='holds vectors of model "m@2".*from model "m@1"'):
            con.execute(sql)
    assert con.execute("SELECT count(*) FROM items WHERE id >= 500").fetchone()[0] == 0
    con.execute("UPDATE items SET embedding = s.v FROM (SELECT embed('m', 'x') AS v) s WHERE items.id = 1")
    con.execute("INSERT INTO items SELECT 500, 1, embed('m@2', 'x') + embed('m@2', 'y')")
    assert con.execute("SELECT id FROM items ORDER BY embedding <-> (SELECT embed('m@2', 'x')) LIMIT 1").fetchone()[0] == 1
