"""The metric and index-method registries: each metric and method is declared once and every
layer reads it. pgvector's `vector_l1_ops` for HNSW, added as one entry and its lowering, is the
proof, held against the NumPy oracle; a method added as one entry builds, serves and is refused
brute force when its stored vectors are lossy."""

import re
from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
import pytest
from sqlglot import exp, parse_one

import vsql
from oracle import OPERATORS, check_search, distances, knn
from vsql.client.shell import vocabulary
from vsql.engine.duckdb.lowering import DISTANCES as LOWERINGS
from vsql.index.faiss_index import FaissIndex
from vsql.index.methods import HNSW, METHODS
from vsql.settings import SETTINGS
from vsql.sql import dialect as d
from vsql.sql.metrics import METRICS, opclasses

DIM, N = 8, 600
PAIRS = [(method, metric) for method in METHODS for metric in METRICS if METRICS[metric].opclass in opclasses(method)]


@pytest.fixture
def items():
    con = vsql.connect(":memory:", autocommit=True)
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    con.execute(f"CREATE TABLE items (id BIGINT PRIMARY KEY, cat INT, embedding VECTOR({DIM}))")
    con.load("items", pa.table({
        "id": pa.array(np.arange(N, dtype=np.int64)), "cat": pa.array((np.arange(N) % 10).astype(np.int32)),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM)}))
    yield con, vectors, rng
    con.close()


def plan_of(con, sql, params):
    return con.execute("EXPLAIN " + sql, params).fetchall()[0][1]


# -- L1 on HNSW: one metric entry and its lowering ------------------------------------------------


def test_l1_hnsw_index_answers_as_the_oracle(items):
    con, vectors, rng = items
    con.execute("CREATE INDEX l1_idx ON items USING hnsw (embedding vector_l1_ops)")
    con.execute("SET vsql.exact_below = 0")
    for order in ("embedding <+> ?", "l1_distance(embedding, ?)"):
        plan = plan_of(con, f"SELECT id FROM items ORDER BY {order} LIMIT 5", [vectors[0]])
        assert "index: l1_idx (hnsw, vector_l1_ops" in plan and "strategy: ann" in plan, plan
    con.execute("RESET vsql.exact_below")
    check_search(con, rng.standard_normal((20, DIM)).astype(np.float32), k=10, metric="l1", min_recall=0.9)


@pytest.mark.parametrize("exact_below, strategy", [(20000, "exact"), (0, "prefilter")])
def test_l1_hnsw_filtered_search_answers_as_the_oracle(items, exact_below, strategy):
    con, vectors, rng = items
    con.execute("CREATE INDEX ON items USING hnsw (embedding vector_l1_ops)")
    con.execute(f"SET vsql.exact_below = {exact_below}")
    sql = "SELECT id FROM items WHERE cat = 3 ORDER BY embedding <+> ? LIMIT 10"
    found = total = 0
    for query in rng.standard_normal((10, DIM)).astype(np.float32):
        assert f"strategy: {strategy}" in plan_of(con, sql, [query])
        truth, _ = knn(vectors, query, "l1", 10, mask=np.arange(N) % 10 == 3)
        got = [row[0] for row in con.execute(sql, [query]).fetchall()]
        assert len(got) == 10 and all(key % 10 == 3 for key in got)
        if strategy == "exact":
            assert got == truth.tolist()
        found, total = found + len(set(got) & set(truth.tolist())), total + 10
    assert found >= 0.9 * total


def test_l1_ivfflat_is_refused_as_pgvector_refuses_it(items):
    con, _, _ = items
    with pytest.raises(vsql.ProgrammingError,
                       match='operator class "vector_l1_ops" does not exist for access method "ivfflat"'):
        con.execute("CREATE INDEX ON items USING ivfflat (embedding vector_l1_ops)")


# -- every metric reaches every layer ----------------------------------------------------------------


@pytest.mark.parametrize("name", METRICS)
def test_each_metric_reaches_every_layer(name):
    metric = METRICS[name]
    node = parse_one(f"SELECT a {metric.operator} b", read=d.VSQL).selects[0]
    assert type(node) is d.DISTANCES[name] and node.metric == name and node.sql(d.VSQL) == f"a {metric.operator} b"
    if metric.function:
        assert type(parse_one(f"SELECT {metric.function}(a, b)", read=d.VSQL).selects[0]) is d.DISTANCES[name]
    assert name in LOWERINGS and isinstance(getattr(faiss, metric.faiss), int)
    assert metric.operator in vocabulary.OPERATORS and OPERATORS[name] == metric.operator
    assert [m for m in METHODS if metric.opclass in vocabulary.OPERATOR_CLASSES[m]] == \
        [m for m in METHODS if metric.methods is None or m in metric.methods]


@pytest.mark.parametrize("name", METRICS)
def test_each_metrics_formula_is_the_oracles_and_the_engines(items, name):
    con, vectors, rng = items
    queries = rng.standard_normal((3, DIM)).astype(np.float32)
    for query, row in zip(queries, METRICS[name].distances(queries, vectors)):
        np.testing.assert_allclose(row, distances(vectors, query, name), rtol=1e-9, atol=1e-9)
        engine = [r[0] for r in con.execute(f"SELECT embedding {METRICS[name].operator} ? FROM items ORDER BY id",
                                            [query]).fetchall()]
        np.testing.assert_allclose(row, engine, rtol=1e-5, atol=1e-5)


def test_cosine_of_a_zero_vector_has_no_distance():
    assert np.isnan(METRICS["cosine"].distances(np.zeros((1, 2)), np.ones((1, 2)))).all()


@pytest.mark.parametrize("method, metric", PAIRS)
def test_faiss_scores_become_the_metrics_distances(method, metric):
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((300, DIM)).astype(np.float32)
    index = FaissIndex.build(method, metric, DIM, METHODS[method].configure([]), np.arange(300), vectors.copy())
    queries = rng.standard_normal((4, DIM)).astype(np.float32)
    exact = METRICS[metric].distances(queries, vectors)
    for truth, brute, searched in zip(exact, index.exact(queries, 5), index.search(queries, 5, 1000)):
        assert brute.keys.tolist() == np.argsort(truth)[:5].tolist()
        for hits in (brute, searched):
            np.testing.assert_allclose(hits.distances, truth[hits.keys], rtol=1e-4, atol=1e-4)


# -- index methods ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method, given, message", [
    ("hnsw", [("m", 1)], 'value 1 out of bounds for option "m": valid values are 2 .. 100'),
    ("hnsw", [("ef_construction", 1001)], 'value 1001 out of bounds for option "ef_construction": valid values are 4 .. 1000'),
    ("hnsw", [("m", 40)], "ef_construction must be greater than or equal to 2 * m"),
    ("hnsw", [("lists", 5)], 'unrecognized parameter "lists" for hnsw (allowed: m, ef_construction)'),
    ("ivfflat", [("lists", 0)], 'value 0 out of bounds for option "lists": valid values are 1 .. 32768'),
])
def test_option_errors_keep_pgvectors_wording(method, given, message):
    with pytest.raises(vsql.ProgrammingError, match=re.escape(message)):
        METHODS[method].configure([(name, exp.Literal.number(value)) for name, value in given])


def test_options_default_to_pgvectors():
    assert METHODS["hnsw"].configure([]) == {"m": 16, "ef_construction": 64}
    assert METHODS["ivfflat"].configure([]) == {"lists": 100}
    assert METHODS["hnsw"].configure([("M", exp.Literal.number(8))], {"m": 16, "ef_construction": 64}) == \
        {"m": 8, "ef_construction": 64}


@pytest.mark.parametrize("name", METHODS)
def test_each_method_reaches_every_layer(name):
    method = METHODS[name]
    assert method.depth_setting in SETTINGS and method.lossless
    assert name in vocabulary.INDEX_METHODS and set(method.options) <= set(vocabulary.INDEX_OPTIONS)


def test_no_module_but_the_registries_names_a_method_or_a_metric():
    root = Path(vsql.__file__).parent
    # the vector stores' public parameters name a distance and a method as their users type them
    stores = {"client/langchain.py", "client/llama_index.py"}
    rules = [(r"""["'](hnsw|ivfflat)["']""", {"index/methods.py", "sql/metrics.py", *stores}),  # where opclasses exist
             (r"""["'](l2|ip|cosine|l1)["']|vector_\w+_ops|METRIC_""",
              {"sql/metrics.py", "engine/duckdb/lowering.py", "engine/spark/lowering.py", "client/demo.py", *stores})]  # the demo's SQL, as typed
    for pattern, allowed in rules:
        named = [f"{path.relative_to(root)}:{number}" for path in root.rglob("*.py")
                 if str(path.relative_to(root)) not in allowed
                 for number, line in enumerate(path.read_text().splitlines(), 1) if re.search(pattern, line)]
        assert not named, (pattern, named)


class Lossy(HNSW):
    """HNSW as a lossy method (a PQ one, say) would declare itself: its stored vectors are not the rows'."""

    name = "hnsw_lossy"
    lossless = False


def test_a_new_method_is_one_entry(items, monkeypatch):
    con, vectors, rng = items
    monkeypatch.setitem(METHODS, Lossy.name, Lossy())
    con.execute("CREATE INDEX lossy ON items USING hnsw_lossy (embedding vector_l2_ops) WITH (m = 8)")
    con.execute("SET vsql.exact_below = 0")
    plan = plan_of(con, "SELECT id, embedding <-> ? AS d FROM items ORDER BY d LIMIT 5", [vectors[0]])
    assert "index: lossy (hnsw_lossy, vector_l2_ops, m = 8, ef_construction = 64)" in plan
    assert "answered from the index alone" not in plan  # its vectors cannot give DuckDB's distances
    con.execute("RESET vsql.exact_below")
    check_search(con, rng.standard_normal((10, DIM)).astype(np.float32), k=5, metric="l2", min_recall=0.9)
    # few matching rows: brute force, which its lossy vectors cannot give, is the engine's
    sql = "SELECT id FROM items WHERE cat = 3 ORDER BY embedding <-> ? LIMIT 5"
    assert "strategy: exact_sql" in plan_of(con, sql, [vectors[0]])
    truth, _ = knn(vectors, vectors[0], "l2", 5, mask=np.arange(N) % 10 == 3)
    assert [row[0] for row in con.execute(sql, [vectors[0]]).fetchall()] == truth.tolist()


def test_a_lossy_methods_vectors_are_not_trusted(monkeypatch):
    monkeypatch.setitem(METHODS, Lossy.name, Lossy())
    vectors = np.random.default_rng(5).standard_normal((200, DIM)).astype(np.float32)
    index = FaissIndex.build(Lossy.name, "l2", DIM, {"m": 8, "ef_construction": 32}, np.arange(200), vectors.copy())
    assert len(index.search(vectors[:1], 3, 40)[0].keys) == 3
    assert index.stored(np.arange(3)) is None
    for refused in (lambda: index.exact(vectors[:1], 3), lambda: index.missed(vectors[0], np.arange(3), 3, None),
                    lambda: index.subset(np.ones(200, bool))):
        with pytest.raises(vsql.NotSupportedError, match="not exact"):
            refused()
