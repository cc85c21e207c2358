"""Quantized indexes (`WITH (quantizer = ...)`): smaller, approximate stored vectors, and still
never a wrong row: the engine re-ranks the candidates by their exact distances."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from oracle import distances, knn
from sqlglot import exp

import vsql
from vsql.index.faiss_index import FaissIndex
from vsql.index.methods import METHODS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `benchmarks` is not an installed package
from benchmarks.data import clustered, queries  # noqa: E402

N, DIM, K = 3000, 32, 10
QUANTIZED = [
    ("hnsw", "quantizer = 'sq8'"),
    ("ivfflat", "lists = 20, quantizer = 'pq', pq_m = 8"),
    ("ivfflat", "lists = 20, quantizer = 'rabitq'"),
    ("hnsw", "quantizer = 'rabitq'"),
]
IDS = ["hnsw-sq8", "ivfflat-pq", "ivfflat-rabitq", "hnsw-rabitq"]


def _database(path=":memory:"):
    ids, vectors, cats = clustered(N, DIM, seed=3)
    cats = np.arange(N) % 100  # cat < 50 keeps 50%, cat = 7 keeps 1%
    con = vsql.connect(path, autocommit=True)
    con.execute(f"CREATE TABLE items (id BIGINT PRIMARY KEY, cat INT, embedding VECTOR({DIM}))")
    con.cursor().executemany("INSERT INTO items VALUES (?, ?, ?)",
                             [(int(i), int(c), v) for i, c, v in zip(ids, cats, vectors)])
    return con, ids, vectors, cats


@pytest.fixture(scope="module", params=QUANTIZED, ids=IDS)
def quantized(request, tmp_path_factory):
    method, options = request.param
    con, ids, vectors, cats = _database(str(tmp_path_factory.mktemp("q") / "db.duckdb"))
    con.execute(f"CREATE INDEX q ON items USING {method} (embedding vector_l2_ops) WITH ({options})")
    con.execute("SET vsql.exact_below = 0")
    con.method = method
    yield con, ids, vectors, cats
    con.close()


def _check(con, ids, vectors, query, sql, params, mask=None, min_recall=0.9):
    """Every row exists with its exact distance, k rows come back; returns recall@k."""
    rows = con.execute(sql, [query, *params]).fetchall()
    assert len(rows) == K
    truth = distances(vectors, query, "l2")
    position = {key: i for i, key in enumerate(ids)}
    for key, distance in rows:
        assert mask is None or mask[position[key]]
        assert distance == pytest.approx(truth[position[key]], rel=1e-4, abs=1e-4)
    assert [d for _, d in rows] == sorted(d for _, d in rows)
    expected, _ = knn(vectors, query, "l2", K, mask)
    return len(set(ids[expected]) & {key for key, _ in rows}) / K


def _plan(con, sql, params):
    return con.execute(f"EXPLAIN {sql}", params).fetchall()[0][1]


def test_answers_hold_against_the_oracle(quantized):
    con, ids, vectors, _ = quantized
    sql = "SELECT id, embedding <-> ? AS d FROM items ORDER BY d LIMIT 10"
    asked, _ = queries(20, DIM, seed=3)
    recall = np.mean([_check(con, ids, vectors, q, sql, []) for q in asked])
    assert recall >= 0.9
    plan = _plan(con, sql, [asked[0]])
    refine = int(re.search(r"candidates asked: (\d+)", plan)[1]) // K
    assert "strategy: ann" in plan and refine > 1  # more candidates than k, re-ranked by the engine
    assert "answered from the index" not in plan  # its vectors cannot give the engine's distances


@pytest.mark.parametrize("where, params, keeps", [("cat < ?", [50], 0.5), ("cat = ?", [7], 0.01)])
def test_filtered_searches_return_k_rows(quantized, where, params, keeps):
    con, ids, vectors, cats = quantized
    mask = cats < 50 if keeps == 0.5 else cats == 7
    sql = f"SELECT id, embedding <-> ? AS d FROM items WHERE {where} ORDER BY d LIMIT 10"
    asked = queries(50, DIM, seed=3)[0][20:30]  # the data's mixture, other points
    recall = np.mean([_check(con, ids, vectors, q, sql, params, mask) for q in asked])
    assert recall >= 0.9


@pytest.mark.parametrize("exact_below", [0, 20000])  # through the index; brute force over the table's vectors
def test_lateral_batches(quantized, exact_below):
    con, ids, vectors, cats = quantized
    asked = queries(50, DIM, seed=3)[0][30:42]
    con.execute("CREATE OR REPLACE TABLE qs (qid INT, v VECTOR(32))")
    con.cursor().executemany("INSERT INTO qs VALUES (?, ?)", [(i, q) for i, q in enumerate(asked)])
    con.execute(f"SET vsql.exact_below = {exact_below}")
    try:
        for where, mask in (("", None), ("WHERE cat = 7", cats == 7)):
            sql = (f"SELECT qs.qid, n.id, n.d FROM qs CROSS JOIN LATERAL (SELECT id, embedding <-> qs.v AS d "
                   f"FROM items {where} ORDER BY embedding <-> qs.v LIMIT 10) n")
            assert "index batch" in _plan(con, sql, [])
            rows = con.execute(sql).fetchall()
            found = 0
            for qid, query in enumerate(asked):
                mine = sorted((d, key) for q, key, d in rows if q == qid)
                assert len(mine) == K
                truth = distances(vectors, query, "l2")
                for d, key in mine:
                    assert d == pytest.approx(truth[np.flatnonzero(ids == key)[0]], rel=1e-4, abs=1e-4)
                expected, _ = knn(vectors, query, "l2", K, mask)
                found += len(set(ids[expected]) & {key for _, key in mine})
            assert found / (K * len(asked)) >= (1.0 if exact_below else 0.9)
    finally:
        con.execute("SET vsql.exact_below = 0")


@pytest.mark.parametrize("method, options", QUANTIZED, ids=IDS)
def test_writes_reach_it_and_reopening_loads_it(tmp_path, method, options):
    con, ids, vectors, _ = _database(str(tmp_path / "db.duckdb"))
    con.execute(f"CREATE INDEX q ON items USING {method} (embedding vector_l2_ops) WITH ({options})")
    con.execute("SET vsql.exact_below = 0")
    query = vectors[0] + 0.01
    sql = "SELECT id, embedding <-> ? AS d FROM items ORDER BY d LIMIT 10"
    con.execute("INSERT INTO items VALUES (-1, 0, ?)", [query])
    con.execute("UPDATE items SET embedding = ? WHERE id = ?", [query + 0.001, int(ids[5])])
    con.execute("DELETE FROM items WHERE id = ?", [int(ids[0])])
    for _ in range(2):  # before and after reopening
        rows = con.execute(sql, [query]).fetchall()
        assert [key for key, _ in rows[:2]] == [-1, int(ids[5])] and int(ids[0]) not in {k for k, _ in rows}
        assert "index: q" in _plan(con, sql, [query])
        con.close()
        con = vsql.connect(str(tmp_path / "db.duckdb"), autocommit=True)
        con.execute("SET vsql.exact_below = 0")
    versions = con.execute("SELECT count(*) FROM vsql_index_versions('q')").fetchone()[0]
    assert versions == 1  # loaded from its file, not rebuilt
    con.close()


def test_smaller_on_disk_than_flat(quantized):
    con = quantized[0]
    flat_options = "lists = 20" if con.method == "ivfflat" else "m = 16"
    con.execute(f"CREATE INDEX flat ON items USING {con.method} (embedding vector_l2_ops) WITH ({flat_options})")
    try:
        sizes = dict(con.execute("SELECT name, size_bytes / rows FROM vsql.indexes").fetchall())
    finally:
        con.execute("DROP INDEX flat")
    assert sizes["q"] < 0.8 * sizes["flat"], sizes  # bytes per vector


def test_flat_indexes_are_unchanged():
    assert METHODS["hnsw"].configure([]) == {"m": 16, "ef_construction": 64}
    assert METHODS["ivfflat"].configure([]) == {"lists": 100}
    assert METHODS["hnsw"].keeps_vectors({"m": 16}) and METHODS["hnsw"].refine({"m": 16}) == 1


@pytest.mark.parametrize("using, options, message", [
    ("hnsw", "quantizer = 'foo'", 'invalid value for enum option "quantizer": foo'),
    ("hnsw", "quantizer = 'pq'", 'invalid value for enum option "quantizer": pq'),
    ("ivfflat", "quantizer = 'pq', pq_m = 5", "pq_m must divide the number of dimensions: 5 does not divide 32"),
    ("ivfflat", "pq_m = 8", "option \"pq_m\" requires quantizer = 'pq'"),
    ("ivfflat", "quantizer = 'pq', pq_m = 'many'", 'invalid value for integer option "pq_m"'),
    ("hnsw (embedding vector_l1_ops)", "quantizer = 'sq8'", 'quantizer "sq8" supports inner product and L2 distances only'),
    ("hnsw (embedding vector_cosine_ops)", "quantizer = 'rabitq'", 'quantizer "rabitq" of hnsw'),
])
def test_invalid_options_give_clear_errors(con, using, options, message):
    con.execute("CREATE TABLE v (id INT PRIMARY KEY, embedding VECTOR(32))")
    con.execute("INSERT INTO v SELECT i, list_transform(range(32), x -> (x * i) % 7)::VECTOR(32) FROM range(300) t(i)")
    target = using if "(" in using else f"{using} (embedding vector_l2_ops)"
    with pytest.raises(vsql.Error, match=re.escape(message)):
        con.execute(f"CREATE INDEX bad ON v USING {target} WITH ({options})")
    assert con.execute("SELECT count(*) FROM vsql.indexes WHERE name = 'bad'").fetchone()[0] == 0 if \
        con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'vsql'").fetchone()[0] else True


def test_altering_the_quantizer_drops_options_that_no_longer_apply():
    options = METHODS["ivfflat"].configure([])
    pq = METHODS["ivfflat"].configure(_given(quantizer="'pq'", pq_m="8"), options)
    assert pq == {"lists": 100, "quantizer": "pq", "pq_m": 8}
    assert METHODS["ivfflat"].configure(_given(quantizer="'sq8'"), pq) == {"lists": 100, "quantizer": "sq8"}


def _given(**values):
    return [(name, exp.Literal.string(v.strip("'")) if v.startswith("'") else exp.Literal.number(v))
            for name, v in values.items()]


@pytest.mark.parametrize("method, options", [("hnsw", {"m": 8, "ef_construction": 32, "quantizer": "sq8"}),
                                             ("ivfflat", {"lists": 8, "quantizer": "pq", "pq_m": 8})])
def test_a_quantized_index_does_not_pass_its_vectors_for_the_rows(method, options):
    vectors = np.random.default_rng(5).standard_normal((400, DIM)).astype(np.float32)
    index = FaissIndex.build(method, "l2", DIM, options, np.arange(400), vectors.copy())
    assert not index.lossless and index.refine > 1
    assert index.stored(np.arange(3)) is None
    for refused in (lambda: index.exact(vectors[:1], 3), lambda: index.subset(np.ones(400, bool))):
        with pytest.raises(vsql.NotSupportedError, match="not exact"):
            refused()
    # the sampled check decodes only the slots it samples: it finds a poor answer, passes a good one
    good = index.search(vectors[:1], 10, 400)[0].keys
    assert not index.missed(vectors[0], good, 10, None) and index.missed(vectors[0], np.arange(390, 400), 10, None)
    assert index._copy is None  # no full copy of the vectors
    # brute force over the table's own vectors, gathered, is exact
    exact = index.exact(vectors[:1], 5, None, index.gathered(np.arange(400), vectors))[0]
    assert exact.keys.tolist() == np.argsort(distances(vectors, vectors[0], "l2"))[:5].tolist()
