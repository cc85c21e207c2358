"""vsql indexes on Spark (issue 17, slice 2): one Faiss shard per data file, searched with the
filter as a bitmap, Spark computing the statement over the candidates; files added or changed
since the build searched exactly. Never a wrong row; k rows whenever k rows match.

Slow: `pytest -m slow tests/test_spark_ann.py` (one local[2] session, shared with test_spark.py's
when both run). Skipped without pyspark or Java.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import vsql

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None,
                       reason="the Spark engine needs pyspark: pip install -c constraints.txt -e '.[spark]'"),
    pytest.mark.skipif(shutil.which("java") is None, reason="the Spark engine needs Java 17 (openjdk-17-jre-headless)"),
]

ROWS, DIM, K = 20_000, 32, 10
SELECTIVITIES = {"100%": 1000, "10%": 100, "1%": 10, "0.1%": 1}  # WHERE sel < n, sel = id % 1000


@pytest.fixture(scope="session")
def spark_con():
    """One local[2] session for the run: vsql's connect returns the one test_spark.py started, if it did."""
    connection = vsql.connect("spark://local[2]", config={"spark.sql.shuffle.partitions": "2"})
    yield connection
    connection.close()


def _vectors(rows: int, seed: int) -> np.ndarray:
    """Clustered vectors (as embeddings are): 50 centres, rows scattered around them."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, DIM)).astype(np.float32)
    return (centres[rng.integers(0, 50, rows)] + 0.4 * rng.standard_normal((rows, DIM))).astype(np.float32)


def _load(con, table: str, vectors: np.ndarray, first: int = 0) -> None:
    """Four loads: four Parquet files (a load writes one file per 128 MB)."""
    for part in np.array_split(np.arange(len(vectors)), 4):
        ids = part + first
        con.load(table, pa.table({
            "id": pa.array(ids, pa.int64()), "sel": pa.array(ids % 1000, pa.int32()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors[part].ravel()), DIM)}))


def _truth(vectors: np.ndarray, allowed: np.ndarray, query: np.ndarray, metric: str = "l2") -> tuple:
    rows = vectors[allowed].astype(np.float64)
    q = query.astype(np.float64)
    if metric == "l2":
        distances = np.sqrt(((rows - q) ** 2).sum(1))
    else:
        distances = 1 - rows @ q / (np.linalg.norm(rows, axis=1) * np.linalg.norm(q))
    order = np.argsort(distances, kind="stable")
    return allowed[order], distances[order]


def _plan(con, sql: str, params) -> str:
    return con.execute("EXPLAIN " + sql, params).fetchall()[0][0]


@pytest.fixture(scope="module")
def items(spark_con):
    con = spark_con
    vectors = _vectors(ROWS, 17)
    con.execute(f"CREATE TABLE ann_items (id BIGINT PRIMARY KEY, sel INT, embedding VECTOR({DIM}))")
    _load(con, "ann_items", vectors)
    con.execute("CREATE INDEX ann_items_hnsw ON ann_items USING hnsw (embedding vector_l2_ops) "
                "WITH (m = 16, ef_construction = 64)")
    yield con, vectors
    con.execute("DROP TABLE IF EXISTS ann_items")


@pytest.fixture(params=["driver", "executors"])
def searched_on(request, spark_con):
    """Where the shards are searched (`spark.vsql.shardSearch`): the driver, or Spark tasks."""
    conf = spark_con.session.engine.spark.conf
    conf.set("spark.vsql.shardSearch", request.param)
    yield f"(searched on the {request.param})"
    conf.unset("spark.vsql.shardSearch")


def test_differential_against_exact_at_every_selectivity(items, searched_on):
    con, vectors = items
    rng = np.random.default_rng(3)
    ids = np.arange(ROWS)
    for label, bound in SELECTIVITIES.items():
        recalls = []
        for _ in range(4):
            query = (vectors[rng.integers(ROWS)] + 0.3 * rng.standard_normal(DIM)).astype(np.float32)
            sql = "SELECT id, embedding <-> %s AS d FROM ann_items WHERE sel < %s ORDER BY d LIMIT 10"
            rows = con.execute(sql, [query, bound]).fetchall()
            assert f"through their shards {searched_on}" in con.session.engine.last_search, label  # the index ran
            truth, distances = _truth(vectors, ids[ids % 1000 < bound], query)
            assert len(rows) == K, label  # k rows: at least 20 match at every selectivity
            found = np.array([r[0] for r in rows])
            assert set(found) <= set(truth), label  # no row the filter refuses
            exact = dict(zip(truth, distances))
            assert [r[1] for r in rows] == pytest.approx([exact[i] for i in found], rel=1e-5, abs=1e-5), label
            assert [r[1] for r in rows] == sorted(r[1] for r in rows), label
            recalls.append(len(set(found) & set(truth[:K])) / K)
        assert np.mean(recalls) >= 0.95, (label, recalls)
    # the same statement, exact on Spark (a subquery is not served by the index): the same distances
    query = vectors[5] + 0.01
    indexed = con.execute("SELECT id, embedding <-> %s AS d FROM ann_items ORDER BY d LIMIT 10", [query]).fetchall()
    exact = con.execute("SELECT id, embedding <-> %s AS d FROM (SELECT * FROM ann_items) t ORDER BY d LIMIT 10",
                        [query]).fetchall()
    assert con.session.engine.last_search is None  # exact: no index
    assert [r[1] for r in indexed] == pytest.approx([r[1] for r in exact], rel=1e-6)


def test_fewer_rows_only_when_fewer_match(items):
    con, vectors = items
    sql = "SELECT id FROM ann_items WHERE id < 5 OR id = 19999 ORDER BY embedding <-> %s LIMIT 10"
    rows = con.execute(sql, [vectors[0]]).fetchall()
    assert sorted(r[0] for r in rows) == [0, 1, 2, 3, 4, 19999]
    assert con.execute("SELECT id FROM ann_items WHERE sel < 0 ORDER BY embedding <-> %s LIMIT 10",
                       [vectors[0]]).fetchall() == []


def test_explain_names_the_shards(items):
    con, vectors = items
    plan = _plan(con, "SELECT id FROM ann_items WHERE sel < 500 ORDER BY embedding <-> %s LIMIT 10", [vectors[1]])
    assert plan.startswith("vsql k-NN search on ann_items.embedding (l2), k = 10: index ann_items_hnsw (version 1), "
                           "4 of 4 files through their shards (searched on the driver), 0 searched exactly by Spark")
    assert plan.count("index (hnsw), ") == 4 and "rows match: ef_search = " in plan


def test_search_depth_is_the_sessions(items, searched_on):
    """`SET hnsw.ef_search` reaches every shard's search, on the driver or in Spark's tasks; RESET
    gives pgvector's 40 back."""
    con, vectors = items
    sql = "SELECT id FROM ann_items ORDER BY embedding <-> %s LIMIT 10"
    con.execute("SET hnsw.ef_search = 120")
    try:
        plan = _plan(con, sql, [vectors[3]])
        assert searched_on in plan and plan.count("ef_search = 120") == 4, plan
        assert con.execute(sql, [vectors[3]]).fetchone() == (3,)
    finally:
        con.execute("RESET hnsw.ef_search")
    assert _plan(con, sql, [vectors[3]]).count("ef_search = 40") == 4


def test_ivfflat_cosine(items):
    con, vectors = items
    con.execute("CREATE INDEX ann_items_ivf ON ann_items USING ivfflat (embedding vector_cosine_ops) "
                "WITH (lists = 20)")
    rng = np.random.default_rng(5)
    recalls = []
    for _ in range(4):
        query = (vectors[rng.integers(ROWS)] + 0.3 * rng.standard_normal(DIM)).astype(np.float32)
        rows = con.execute("SELECT id, embedding <=> %s AS d FROM ann_items ORDER BY d LIMIT 10", [query]).fetchall()
        assert "index ann_items_ivf" in con.session.engine.last_search and "probes = " in con.session.engine.last_search
        truth, distances = _truth(vectors, np.arange(ROWS), query, "cosine")
        exact = dict(zip(truth, distances))
        assert [r[1] for r in rows] == pytest.approx([exact[r[0]] for r in rows], rel=1e-4, abs=1e-5)
        recalls.append(len({r[0] for r in rows} & set(truth[:K])) / K)
    assert np.mean(recalls) >= 0.95, recalls
    # a zero query has no cosine distance: Spark orders every row itself, as without the index
    zero = np.zeros(DIM, np.float32)
    rows = con.execute("SELECT id, embedding <=> %s AS d FROM ann_items ORDER BY d LIMIT 3", [zero]).fetchall()
    assert "0 of 4 files through their shards" in con.session.engine.last_search
    assert rows == con.execute("SELECT id, embedding <=> %s AS d FROM (SELECT * FROM ann_items) t ORDER BY d LIMIT 3",
                               [zero]).fetchall()
    con.execute("DROP INDEX ann_items_ivf")


def test_index_ddl(items):
    con, _ = items
    with pytest.raises(vsql.ProgrammingError, match='^relation "ann_items_hnsw" already exists$'):
        con.execute("CREATE INDEX ann_items_hnsw ON ann_items USING hnsw (embedding vector_ip_ops)")
    with pytest.raises(vsql.ProgrammingError, match='^relation "ann_items" already exists$'):
        con.execute("CREATE INDEX ann_items ON ann_items USING hnsw (embedding vector_ip_ops)")
    con.execute("CREATE INDEX IF NOT EXISTS ann_items_hnsw ON ann_items USING hnsw (embedding vector_ip_ops)")
    with pytest.raises(vsql.ProgrammingError, match='^index "nowhere" does not exist$'):
        con.execute("DROP INDEX nowhere")
    con.execute("DROP INDEX IF EXISTS nowhere")
    with pytest.raises(vsql.ProgrammingError, match='value 1 out of bounds for option "m"'):
        con.execute("CREATE INDEX ON ann_items USING hnsw (embedding vector_l2_ops) WITH (m = 1)")
    con.execute("CREATE TABLE ann_texts (name TEXT PRIMARY KEY, embedding VECTOR(2))")
    try:
        with pytest.raises(vsql.NotSupportedError, match=r"one BIGINT or INT column .*has name \(STRING\)"):
            con.execute("CREATE INDEX ON ann_texts USING hnsw (embedding vector_l2_ops)")
    finally:
        con.execute("DROP TABLE ann_texts")
    # a new connection finds the index (its definition is the table's, its shards beside its files)
    other = vsql.connect(spark=con.session.engine.spark)
    try:
        plan = _plan(other, "SELECT id FROM ann_items ORDER BY embedding <-> %s LIMIT 3", [np.ones(DIM, np.float32)])
        assert "index ann_items_hnsw (version 1), 4 of 4 files through their shards" in plan
    finally:
        other.close()


def _folder(con, table: str) -> str:
    rows = con.session.engine.spark.sql(f"DESCRIBE TABLE EXTENDED {table}").collect()
    return next(r[1] for r in rows if r[0] == "Location").removeprefix("file:")


def test_never_a_wrong_row_after_writes(items):
    con, _ = items  # ann_items: the rows the table is overwritten with
    vectors = _vectors(4000, 29)
    con.execute(f"CREATE TABLE ann_mut (id BIGINT PRIMARY KEY, sel INT, embedding VECTOR({DIM}))")
    try:
        _load(con, "ann_mut", vectors)
        con.execute("CREATE INDEX ann_mut_idx ON ann_mut USING hnsw (embedding vector_l2_ops)")
        folder = os.path.join(_folder(con, "ann_mut"), "_vsql_indexes", "ann_mut_idx")
        manifest = json.load(open(os.path.join(folder, "v1", "manifest.json")))
        assert len(manifest["shards"]) == 4 and sum(s["rows"] for s in manifest["shards"]) == 4000
        assert manifest["opclass"] == "vector_l2_ops" and manifest["options"] == {"m": 16, "ef_construction": 64}
        query = vectors[7] + 0.05
        sql = "SELECT id, embedding <-> %s AS d FROM ann_mut WHERE sel < %s ORDER BY d LIMIT 10"

        # a file added after the build: searched exactly, its nearest row found
        con.execute("INSERT INTO ann_mut VALUES (%s, %s, %s)", [100_000, 1, query])
        rows = con.execute(sql, [query, 1000]).fetchall()
        assert rows[0][0] == 100_000 and rows[0][1] == 0
        assert "4 of 5 files through their shards (searched on the driver), 1 searched exactly by Spark" in con.session.engine.last_search
        assert ": added since the index was built" in con.session.engine.last_search

        # a file rewritten behind Spark's back: its shard is out of date, never trusted
        changed = os.path.join(_folder(con, "ann_mut"), os.path.basename(manifest["shards"][0]["file"]))
        data = pq.read_table(changed)
        victim = data.column("id")[3].as_py()
        moved = np.array(data.column("embedding").to_pylist(), np.float32)
        moved[3] = query + 0.001  # now the second nearest row of all
        data = data.set_column(data.schema.get_field_index("embedding"), "embedding",
                               pa.array(moved.tolist(), data.schema.field("embedding").type))
        pq.write_table(data, changed)
        crc = os.path.join(os.path.dirname(changed), f".{os.path.basename(changed)}.crc")
        if os.path.exists(crc):
            os.remove(crc)  # Hadoop's checksum of the old file
        os.utime(changed, (1e9, 1e9))  # another modification time, whatever the size
        con.session.engine.spark.catalog.refreshTable("ann_mut")
        rows = con.execute(sql, [query, 1000]).fetchall()
        assert [r[0] for r in rows[:2]] == [100_000, victim]
        plan = _plan(con, "SELECT id FROM ann_mut ORDER BY embedding <-> %s LIMIT 10", [query])
        assert "3 of 5 files through their shards (searched on the driver), 2 searched exactly by Spark" in plan
        assert "changed since the index was built" in plan
        current = np.vstack([vectors, query])
        current[victim] = moved[3]
        truth, _ = _truth(current, np.arange(4001), query)
        labels = np.append(np.arange(4000), 100_000)
        assert len({r[0] for r in rows} & set(labels[truth[:10]])) >= 9

        # a LATERAL batch pairs every query with every row of both files the shards do not cover
        batch = np.stack([query, vectors[50], vectors[3000] + 0.1])
        con.execute(f"CREATE TABLE ann_mut_q (qid BIGINT PRIMARY KEY, q VECTOR({DIM}))")
        con.cursor().executemany("INSERT INTO ann_mut_q VALUES (%s, %s)", [(i, v) for i, v in enumerate(batch)])
        rows = con.execute("SELECT s.qid, n.id, n.d FROM ann_mut_q s CROSS JOIN LATERAL (SELECT id, embedding <-> s.q "
                           "AS d FROM ann_mut ORDER BY d LIMIT 10) n ORDER BY s.qid, n.d").fetchall()
        assert "3 of 5 files through" in con.session.engine.last_search
        assert "ranked by Spark per query vector" in con.session.engine.last_search
        assert [r[1] for r in rows[:2]] == [100_000, victim]
        for qid, vector in enumerate(batch):
            found = [r for r in rows if r[0] == qid]
            truth, distances = _truth(current, np.arange(4001), vector)
            assert len(found) == 10 and len({r[1] for r in found} & set(labels[truth[:10]])) >= 9
            exact = dict(zip(labels[truth], distances))
            assert [r[2] for r in found] == pytest.approx([exact[r[1]] for r in found], rel=1e-5, abs=1e-5)

        # overwritten (INSERT OVERWRITE deletes the shards' folder): every file searched exactly
        con.execute("INSERT OVERWRITE TABLE ann_mut SELECT id + 1, sel, embedding FROM ann_items WHERE id < 300")
        rows = con.execute(sql, [query, 1000]).fetchall()
        assert re.search(r"0 of (\d+) files through their shards \(searched on the driver\), \1 searched exactly by Spark",
                         con.session.engine.last_search)
        assert "no shard (REINDEX builds it)" in con.session.engine.last_search
        exact = con.execute("SELECT id, embedding <-> %s AS d FROM (SELECT * FROM ann_mut) t WHERE sel < %s "
                            "ORDER BY d LIMIT 10", [query, 1000]).fetchall()
        assert rows == exact and all(1 <= r[0] <= 300 for r in rows)
        con.execute("REINDEX INDEX ann_mut_idx")  # builds the shards again
        assert con.execute(sql, [query, 1000]).fetchall() == exact
        assert re.search(r"(\d+) of \1 files through their shards", con.session.engine.last_search)

        # DROP INDEX removes the shards; DROP TABLE the index
        con.execute("DROP INDEX ann_mut_idx")
        assert not os.path.exists(folder)
        con.execute("CREATE INDEX ann_mut_idx ON ann_mut USING hnsw (embedding vector_l2_ops)")
    finally:
        con.execute("DROP TABLE IF EXISTS ann_mut")
        con.execute("DROP TABLE IF EXISTS ann_mut_q")
    con.execute(f"CREATE TABLE ann_mut (id BIGINT PRIMARY KEY, sel INT, embedding VECTOR({DIM}))")
    try:
        con.execute("CREATE INDEX ann_mut_idx ON ann_mut USING hnsw (embedding vector_l2_ops)")  # the name is free
        assert con.execute("SELECT id FROM ann_mut ORDER BY embedding <-> %s LIMIT 3", [query]).fetchall() == []
    finally:
        con.execute("DROP TABLE ann_mut")


def test_lateral_batch_through_the_index(items, searched_on):
    """A LATERAL search per outer row: every query's candidates from the shards, then Spark ranks
    each query's own candidates; each row's distance exact, k rows per query, recall >= 0.95."""
    con, vectors = items
    rng = np.random.default_rng(11)
    queries = (vectors[rng.integers(0, ROWS, 24)] + 0.3 * rng.standard_normal((24, DIM))).astype(np.float32)
    queries[1] = queries[0]  # the same vector twice: searched once
    con.execute(f"CREATE TABLE ann_queries (qid BIGINT PRIMARY KEY, q VECTOR({DIM}))")
    try:
        con.load("ann_queries", pa.table({"qid": pa.array(np.arange(24), pa.int64()),
                                          "q": pa.FixedSizeListArray.from_arrays(pa.array(queries.ravel()), DIM)}))
        ids = np.arange(ROWS)
        for bound in (1000, 10):
            sql = ("SELECT s.qid, n.id, n.d FROM ann_queries s CROSS JOIN LATERAL (SELECT id, embedding <-> s.q AS d "
                   f"FROM ann_items WHERE sel < {bound} ORDER BY d LIMIT 10) n ORDER BY s.qid, n.d")
            rows = con.execute(sql).fetchall()
            plan = con.session.engine.last_search
            assert plan.startswith("24 outer rows, 23 distinct query vectors\n") and "4 of 4 files through" in plan
            assert searched_on in plan
            assert "ranked by Spark per query vector: 460 (query, row) pairs" in plan  # 23 queries x 2k
            recalls = []
            for qid, query in enumerate(queries):
                found = [(r[1], r[2]) for r in rows if r[0] == qid]
                truth, distances = _truth(vectors, ids[ids % 1000 < bound], query)
                exact = dict(zip(truth, distances))
                assert len(found) == K and all(i in exact for i, _ in found), (bound, qid)
                assert [x for _, x in found] == pytest.approx([exact[i] for i, _ in found], rel=1e-5, abs=1e-5)
                recalls.append(len({i for i, _ in found} & set(truth[:K])) / K)
            assert np.mean(recalls) >= 0.95, (bound, recalls)
        # EXPLAIN gives the search and Spark's plan; no match: LEFT JOIN keeps the outer rows
        plan = _plan(con, "SELECT s.qid, n.id FROM ann_queries s CROSS JOIN LATERAL (SELECT id FROM ann_items "
                          "ORDER BY embedding <-> s.q LIMIT 3) n", None)
        assert plan.startswith("24 outer rows, 23 distinct query vectors\nvsql k-NN search on ann_items.embedding "
                               "(l2), k = 3: index ann_items_hnsw (version 1), 4 of 4 files through their shards "
                               f"{searched_on}")
        rows = con.execute("SELECT s.qid, n.id FROM ann_queries s LEFT JOIN LATERAL (SELECT id FROM ann_items "
                           "WHERE sel < 0 ORDER BY embedding <-> s.q LIMIT 3) n ON true").fetchall()
        assert sorted(rows) == [(q, None) for q in range(24)]
        # a filter by the outer row is Spark's to refuse, never answered through the index
        with pytest.raises(vsql.NotSupportedError, match="Spark's NEAREST cannot filter by the outer row"):
            con.execute("SELECT n.id FROM ann_queries s CROSS JOIN LATERAL (SELECT id FROM ann_items WHERE id <> s.qid "
                        "ORDER BY embedding <-> s.q LIMIT 3) n")
    finally:
        con.execute("DROP TABLE ann_queries")


def test_a_load_writes_one_file_per_128_mb(spark_con):
    """Spark cuts local Arrow data into 10,000-row partitions; a load of 30,000 rows (4 MB) is one
    file, so one shard, not three."""
    con = spark_con
    con.execute(f"CREATE TABLE ann_load (id BIGINT PRIMARY KEY, sel INT, embedding VECTOR({DIM}))")
    try:
        vectors = _vectors(30_000, 5)
        con.load("ann_load", pa.table({
            "id": pa.array(np.arange(30_000), pa.int64()), "sel": pa.array(np.zeros(30_000), pa.int32()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM)}))
        files = [f for f in os.listdir(_folder(con, "ann_load")) if f.endswith(".parquet")]
        assert len(files) == 1, files
        assert con.execute("SELECT count(*) FROM ann_load").fetchone() == (30_000,)
    finally:
        con.execute("DROP TABLE ann_load")


def test_index_versions_rollback_and_evaluate(spark_con):
    """REINDEX makes a version; vsql_index_versions lists them, vsql_index_rollback makes one active
    again (from its shards while kept, else rebuilt), vsql_evaluate measures and records a version's
    recall and vsql_compare two indexes, as on DuckDB. An old version serves only the files it was
    built from: rows written since are never missed."""
    con = spark_con
    vectors = _vectors(4000, 41)
    con.execute(f"CREATE TABLE ann_ver (id BIGINT PRIMARY KEY, sel INT, embedding VECTOR({DIM}))")
    con.execute(f"CREATE TABLE ann_ver_q (q VECTOR({DIM}))")
    try:
        _load(con, "ann_ver", vectors)
        queries = (vectors[:8] + 0.1).astype(np.float32)
        con.cursor().executemany("INSERT INTO ann_ver_q VALUES (%s)", [(q,) for q in queries])
        con.execute("CREATE INDEX ann_ver_idx ON ann_ver USING hnsw (embedding vector_l2_ops)")
        (row,) = con.execute("SELECT index, version, recall, rows_lost FROM vsql_evaluate('ann_ver_idx', "
                             "'SELECT q FROM ann_ver_q', k => 10)").fetchall()
        assert row[:2] == ("ann_ver_idx", 1) and row[2] >= 0.95 and row[3] == 0

        # a row written after version 1: version 2 covers its file, version 1 searches it exactly
        near = queries[0] + 0.001
        con.execute("INSERT INTO ann_ver VALUES (%s, %s, %s)", [50_000, 1, near])
        con.execute("REINDEX INDEX ann_ver_idx")
        versions = con.execute("SELECT version, active, reason, rows, shards, recall, file_kept "
                               "FROM vsql_index_versions('ann_ver_idx')").fetchall()
        assert [v[:5] for v in versions] == [(1, False, "create", 4000, 4), (2, True, "reindex", 4001, 5)]
        assert versions[0][5] == row[2] and versions[1][5] is None and all(v[6] for v in versions)
        sql = "SELECT id FROM ann_ver ORDER BY embedding <-> %s LIMIT 3"
        assert "(version 2), 5 of 5 files through their shards" in _plan(con, sql, [near])
        assert con.execute("SELECT vsql_index_rollback('ann_ver_idx', 1)").fetchone() == (
            'index "ann_ver_idx": version 1 active (was 2), from its shards',)
        assert "(version 1), 4 of 5 files through their shards (searched on the driver), 1 searched exactly" in _plan(con, sql, [near])
        assert con.execute(sql, [near]).fetchone() == (50_000,)

        # evaluating version 2 while 1 is active: the search is pinned to version 2
        spec = con.session.indexes.version_spec(con.session.indexes.resolve("ann_ver_idx"), 2)
        with con.session.indexes.pinned(spec):
            assert "(version 2), 5 of 5 files" in _plan(con, sql, [near])
        assert "(version 1)" in _plan(con, sql, [near])
        (row,) = con.execute("SELECT version, recall FROM vsql_evaluate('ann_ver_idx', 'SELECT q FROM ann_ver_q', "
                             "version => 2)").fetchall()
        assert row[0] == 2 and row[1] >= 0.95
        assert con.execute("SELECT recall FROM vsql_index_versions('ann_ver_idx') WHERE version = 2").fetchone() == \
            (row[1],)
        with pytest.raises(vsql.ProgrammingError, match='index "ann_ver_idx" has no version 9'):
            con.execute("SELECT vsql_index_rollback('ann_ver_idx', 9)")

        # the shards of the last three versions are kept; an older one is rebuilt on rollback
        for _ in range(3):
            con.execute("REINDEX INDEX ann_ver_idx")
        kept = con.execute("SELECT version FROM vsql_index_versions('ann_ver_idx') WHERE file_kept").fetchall()
        assert kept == [(3,), (4,), (5,)]
        assert con.execute("SELECT vsql_index_rollback('ann_ver_idx', 2)").fetchone() == (
            'index "ann_ver_idx": version 2 active (was 5), rebuilt: its shards were not kept',)
        assert "(version 2), 5 of 5 files through their shards" in _plan(con, sql, [near])

        # champion and challenger
        con.execute("CREATE INDEX ann_ver_ivf ON ann_ver USING ivfflat (embedding vector_l2_ops) WITH (lists = 8)")
        rows = con.execute("SELECT role, index, recall, verdict FROM vsql_compare('ann_ver_idx', 'ann_ver_ivf', "
                           "'SELECT q FROM ann_ver_q')").fetchall()
        assert [r[:2] for r in rows] == [("champion", "ann_ver_idx"), ("challenger", "ann_ver_ivf")]
        assert all(r[2] >= 0.9 for r in rows) and rows[0][3] == rows[1][3]
        with pytest.raises(vsql.NotSupportedError, match="vsql_tune is not supported on the Spark engine"):
            con.execute("SELECT vsql_tune('ann_ver_idx', 'SELECT q FROM ann_ver_q')")
    finally:
        con.execute("DROP TABLE IF EXISTS ann_ver")
        con.execute("DROP TABLE IF EXISTS ann_ver_q")
