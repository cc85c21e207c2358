"""A LlamaIndex vector store on a vsql table (`pip install 'vsql[llama-index]'`).

    >>> from llama_index.core.schema import TextNode
    >>> from llama_index.core.vector_stores.types import VectorStoreQuery
    >>> from vsql.client.llama_index import VsqlVectorStore
    >>> store = VsqlVectorStore(connection=":memory:", embed_dim=2)
    >>> store.add([TextNode(id_="a", text="pgvector", embedding=[1.0, 0.0])])
    ['a']
    >>> store.query(VectorStoreQuery(query_embedding=[1.0, 0.1], similarity_top_k=1)).ids
    ['a']

The table is the LangChain store's (`id TEXT PRIMARY KEY, content TEXT, metadata JSON, embedding
VECTOR(n)`): a node's text in `content`, the rest of it in `metadata` as LlamaIndex's
`node_to_metadata_dict` writes it (the node's own metadata at the top level, where
`MetadataFilters` find it as `metadata->>'key'` with bound values).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import (
    metadata_dict_to_node,
    node_to_metadata_dict,
)

from vsql.client import docstore
from vsql.client.docstore import Where

_OPERATORS = {FilterOperator.EQ: "eq", FilterOperator.NE: "ne", FilterOperator.GT: "gt", FilterOperator.GTE: "gte",
              FilterOperator.LT: "lt", FilterOperator.LTE: "lte", FilterOperator.IN: "in", FilterOperator.NIN: "nin"}

_TEXT = {FilterOperator.TEXT_MATCH: "contains", FilterOperator.TEXT_MATCH_INSENSITIVE: "icontains"}

# the distance pgvector's operator returns -> LlamaIndex's similarity (higher is nearer), as its
# own SimpleVectorStore scores: cosine similarity, the inner product, minus the L2 distance
_SIMILARITY = {"cosine": lambda d: 1.0 - d, "ip": lambda d: -d, "l2": lambda d: -d}


def to_where(filters: MetadataFilters | None) -> Where:
    """LlamaIndex `MetadataFilters` as a SQL condition with bound parameters."""
    if filters is None or not filters.filters:
        return docstore.TRUE
    parts = []
    for f in filters.filters:
        if isinstance(f, MetadataFilters):
            parts.append(to_where(f))
        elif f.operator in _OPERATORS:
            parts.append(docstore.compare(f.key, _OPERATORS[f.operator], f.value))
        elif f.operator in _TEXT:
            parts.append(docstore.compare(f.key, _TEXT[f.operator], f.value))
        elif f.operator == FilterOperator.IS_EMPTY:
            parts.append(docstore.compare(f.key, "empty", True))
        else:
            raise NotImplementedError(f"filter operator {f.operator.value!r} is not supported by vsql's store "
                                      f"(supported: {', '.join(o.value for o in [*_OPERATORS, *_TEXT, FilterOperator.IS_EMPTY])})")
    if filters.condition == FilterCondition.OR:
        return docstore.combine("OR", parts)
    if filters.condition == FilterCondition.NOT:
        return docstore.negate(docstore.combine("AND", parts))
    return docstore.combine("AND", parts)


class VsqlVectorStore(BasePydanticVectorStore):
    """LlamaIndex's `BasePydanticVectorStore` on a vsql table.

    Args:
        connection: a database path (opened in autocommit; `":memory:"` for none) or an open
            vsql connection (the store commits its writes when it is not in autocommit).
        table: the table's name; an existing table is used as it is (its dimension wins).
        embed_dim: the embedding dimension of a new table.
        distance: `"cosine"` (`<=>`), `"l2"` (`<->`) or `"ip"` (`<#>`).
        create_index: build an HNSW index at once (see `create_index`).
    """

    stores_text: bool = True
    flat_metadata: bool = False
    table: str = "llama_index_docs"
    embed_dim: int = 384
    distance: str = "cosine"
    _docs: docstore.DocTable = PrivateAttr()

    def __init__(self, connection: Any = "docs.duckdb", table: str = "llama_index_docs", embed_dim: int = 384,
                 distance: str = "cosine", create_index: bool = False, **kwargs: Any):
        docs = docstore.DocTable(connection, table, distance, dim=embed_dim)
        super().__init__(table=table, embed_dim=docs.dim, distance=distance, **kwargs)
        self._docs = docs
        if create_index:
            docs.create_index("hnsw")

    @classmethod
    def class_name(cls) -> str:
        return "VsqlVectorStore"

    @property
    def client(self) -> Any:
        """The vsql connection: run SQL (`EXPLAIN`, `SET hnsw.ef_search`) on the store's table."""
        return self._docs.connection

    def create_index(self, method: str = "hnsw", **options: int) -> str:
        """Build the table's vector index with pgvector's options; returns its name."""
        return self._docs.create_index(method, **options)

    def close(self) -> None:
        """Close the connection if the store opened it."""
        self._docs.close()

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Store the nodes (their embeddings must be set); a node id given again replaces its row."""
        self._docs.upsert([n.node_id for n in nodes], [n.get_content(metadata_mode=MetadataMode.NONE) for n in nodes],
                          [node_to_metadata_dict(n, remove_text=True, flat_metadata=self.flat_metadata) for n in nodes],
                          [n.get_embedding() for n in nodes])
        return [n.node_id for n in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete the nodes of a source document."""
        self._docs.delete(docstore.compare("ref_doc_id", "eq", ref_doc_id))

    def delete_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None,
                     **delete_kwargs: Any) -> None:
        """Delete the nodes with these ids that the filters keep (nothing if neither is given)."""
        if not node_ids and filters is None:
            return
        self._docs.delete(self._where(node_ids, filters))

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """The nodes with these ids that the filters keep, in id order."""
        return [metadata_dict_to_node(m, text=c) for _, c, m in self._docs.rows(self._where(node_ids, filters))]

    def clear(self) -> None:
        self._docs.delete(docstore.TRUE)

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The `similarity_top_k` nearest nodes that `filters`, `doc_ids` and `node_ids` keep."""
        if query.mode != VectorStoreQueryMode.DEFAULT:
            raise NotImplementedError(f"query mode {query.mode.value!r}: vsql's store answers the default mode")
        if query.query_embedding is None:
            raise ValueError("the query has no query_embedding")
        where = self._where(query.node_ids, query.filters)
        if query.doc_ids:
            where &= docstore.compare("ref_doc_id", "in", query.doc_ids)
        rows = self._docs.search(query.query_embedding, query.similarity_top_k, where)
        similarity = _SIMILARITY[self.distance]
        return VectorStoreQueryResult(nodes=[metadata_dict_to_node(m, text=c) for _, c, m, _ in rows],
                                      similarities=[similarity(d) for *_, d in rows], ids=[r[0] for r in rows])

    @staticmethod
    def _where(node_ids: list[str] | None, filters: MetadataFilters | None) -> Where:
        """No ids (None or [], as LlamaIndex's retrievers send) restrict nothing."""
        where = to_where(filters)
        return docstore.ids_in(node_ids) & where if node_ids else where
