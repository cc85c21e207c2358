"""vsql.client.llama_index.VsqlVectorStore against LlamaIndex's `BasePydanticVectorStore` contract
(llama-index-core ships no standard suite): add, query with MetadataFilters, delete, reopening,
and a VectorStoreIndex built on it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llama_index.core", reason="the LlamaIndex store needs `pip install 'vsql[llama-index]'`")

from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    ExactMatchFilter,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

import vsql
from vsql.client.llama_index import VsqlVectorStore

POINTS = {  # id: (embedding, metadata, source document)
    "n1": ([1.0, 0.0, 0.0], {"source": "a", "page": 1, "ok": True}, "doc-a"),
    "n2": ([0.9, 0.1, 0.0], {"source": "b", "page": 2, "ok": False}, "doc-b"),
    "n3": ([0.0, 1.0, 0.0], {"source": "a", "page": 3, "title": "Vector Search"}, "doc-a"),
    "n4": ([0.0, 0.0, 1.0], {"source": "c", "page": 10, "ok": True}, "doc-c"),
    "n5": ([0.7, 0.0, 0.7], {"source": "b", "page": 2.5, "title": "vsql"}, "doc-b"),
}


def nodes(embedded=True):
    return [TextNode(id_=i, text=f"text of {i}", embedding=e if embedded else None, metadata=m,
                     relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=d)})
            for i, (e, m, d) in POINTS.items()]


@pytest.fixture
def store():
    s = VsqlVectorStore(connection=":memory:", table="nodes", embed_dim=3)
    assert s.add(nodes()) == list(POINTS)
    yield s
    s.close()


def query(store, filters=None, k=10, **kwargs):
    return store.query(VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=k, filters=filters, **kwargs))


def F(key, value, op=FilterOperator.EQ):
    return MetadataFilter(key=key, value=value, operator=op)


def test_is_a_llama_index_store_that_keeps_text(store):
    assert isinstance(store, BasePydanticVectorStore) and store.stores_text
    assert isinstance(store.client, vsql.Connection)


def test_query_returns_nodes_similarities_ids_nearest_first(store):
    result = query(store, k=3)
    assert result.ids == ["n1", "n2", "n5"]
    assert [n.node_id for n in result.nodes] == result.ids
    assert result.similarities == pytest.approx([1.0, 0.9 / np.hypot(0.9, 0.1), 0.7 / np.hypot(0.7, 0.7)], abs=1e-5)
    node = result.nodes[0]
    assert node.get_content() == "text of n1" and node.metadata == {"source": "a", "page": 1, "ok": True}
    assert node.ref_doc_id == "doc-a"


@pytest.mark.parametrize("filters, expected", [
    (MetadataFilters(filters=[ExactMatchFilter(key="source", value="a")]), ["n1", "n3"]),
    (MetadataFilters(filters=[F("source", "a", FilterOperator.NE)]), ["n2", "n4", "n5"]),
    (MetadataFilters(filters=[F("page", 2, FilterOperator.GT)]), ["n3", "n4", "n5"]),
    (MetadataFilters(filters=[F("page", 2, FilterOperator.GTE)]), ["n2", "n3", "n4", "n5"]),
    (MetadataFilters(filters=[F("page", 2.5, FilterOperator.LT)]), ["n1", "n2"]),
    (MetadataFilters(filters=[F("page", 2.5, FilterOperator.LTE)]), ["n1", "n2", "n5"]),
    (MetadataFilters(filters=[F("page", 3, FilterOperator.GT)]), ["n4"]),  # numbers compare as numbers
    (MetadataFilters(filters=[F("page", 10)]), ["n4"]),
    (MetadataFilters(filters=[F("source", ["a", "c"], FilterOperator.IN)]), ["n1", "n3", "n4"]),
    (MetadataFilters(filters=[F("source", ["a", "c"], FilterOperator.NIN)]), ["n2", "n5"]),
    (MetadataFilters(filters=[F("title", "search", FilterOperator.TEXT_MATCH_INSENSITIVE)]), ["n3"]),
    (MetadataFilters(filters=[F("title", "search", FilterOperator.TEXT_MATCH)]), []),
    (MetadataFilters(filters=[F("title", None, FilterOperator.IS_EMPTY)]), ["n1", "n2", "n4"]),
    (MetadataFilters(filters=[F("source", "b"), F("page", 2, FilterOperator.GT)]), ["n5"]),
    (MetadataFilters(filters=[F("source", "c"), F("page", 1)], condition=FilterCondition.OR), ["n1", "n4"]),
    (MetadataFilters(filters=[MetadataFilters(filters=[F("source", "a"), F("page", 3)]), F("page", 2)],
                     condition=FilterCondition.OR), ["n2", "n3"]),
    (MetadataFilters(filters=[F("source", "a")], condition=FilterCondition.NOT), ["n2", "n4", "n5"]),
    (MetadataFilters(filters=[F("source", "nobody")]), []),
])
def test_filters_filter(store, filters, expected):
    assert sorted(query(store, filters).ids) == expected
    store.create_index()  # and through the index's filtered search
    store.client.execute("SET vsql.exact_below = 0")
    assert sorted(query(store, filters).ids) == expected


def test_filters_bind_values_and_refuse_what_they_cannot_do(store):
    assert query(store, MetadataFilters(filters=[F("source", "a'; DROP TABLE nodes; --")])).ids == []
    with pytest.raises(NotImplementedError, match="any"):
        query(store, MetadataFilters(filters=[F("source", ["a"], FilterOperator.ANY)]))
    with pytest.raises(ValueError, match="field name"):
        query(store, MetadataFilters(filters=[F("so'urce", "a")]))
    with pytest.raises(NotImplementedError, match="mmr"):
        query(store, mode=VectorStoreQueryMode.MMR)
    assert len(query(store).ids) == 5


def test_doc_ids_node_ids_delete_and_get_nodes(store):
    assert sorted(query(store, doc_ids=["doc-b"]).ids) == ["n2", "n5"]
    assert sorted(query(store, node_ids=["n3", "n4"]).ids) == ["n3", "n4"]
    store.delete("doc-b")
    assert sorted(query(store).ids) == ["n1", "n3", "n4"]
    store.delete_nodes(node_ids=["n1"])
    store.delete_nodes()  # neither ids nor filters: nothing
    assert sorted(query(store).ids) == ["n3", "n4"]
    store.delete_nodes(filters=MetadataFilters(filters=[F("source", "c")]))
    assert [n.node_id for n in store.get_nodes(node_ids=["n3", "n4"])] == ["n3"]
    store.add([TextNode(id_="n3", text="new text", embedding=[1.0, 0.0, 0.0])])  # an id again replaces
    assert [n.get_content() for n in store.get_nodes(["n3"])] == ["new text"]
    store.clear()
    assert query(store).ids == []


def test_index_is_used_and_reopening_keeps_nodes(tmp_path):
    path = str(tmp_path / "nodes.duckdb")
    store = VsqlVectorStore(connection=path, table="nodes", embed_dim=3, distance="l2", create_index=True)
    store.add(nodes())
    store.close()
    con = vsql.connect(path)
    store = VsqlVectorStore(connection=con, table="nodes", embed_dim=3, distance="l2")
    con.execute("SET vsql.exact_below = 0")
    result = query(store, MetadataFilters(filters=[F("source", "a")]), k=1)
    assert result.ids == ["n1"] and result.similarities == pytest.approx([0.0], abs=1e-6)
    plan = dict(con.execute("EXPLAIN SELECT id, embedding <-> ? AS distance FROM nodes "
                            "WHERE (metadata->>?) = ? ORDER BY distance LIMIT 1",
                            [np.array([1, 0, 0], dtype=np.float32), "source", "a"]).fetchall())
    assert "index: nodes_embedding_idx (hnsw, vector_l2_ops" in plan["vsql_plan"]
    assert "filter: yes" in plan["vsql_plan"]
    con.close()


def test_vector_store_index_end_to_end():
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding

    store = VsqlVectorStore(connection=":memory:", table="nodes", embed_dim=8)
    embed = MockEmbedding(embed_dim=8)
    index = VectorStoreIndex(nodes(embedded=False), storage_context=StorageContext.from_defaults(vector_store=store),
                             embed_model=embed)
    retrieved = index.as_retriever(similarity_top_k=2, filters=MetadataFilters(filters=[F("source", "b")])) \
        .retrieve("anything")
    assert sorted(r.node.node_id for r in retrieved) == ["n2", "n5"]
    assert all(r.node.get_content().startswith("text of") for r in retrieved)
