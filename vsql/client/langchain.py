"""A LangChain vector store on a vsql table (`pip install 'vsql[langchain]'`).

    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from vsql.client.langchain import VsqlVectorStore
    >>> store = VsqlVectorStore(embedding=DeterministicFakeEmbedding(size=8), connection=":memory:")
    >>> ids = store.add_texts(["pgvector", "duckdb"], metadatas=[{"source": "a"}, {"source": "b"}])
    >>> [d.page_content for d in store.similarity_search("duckdb", k=1, filter={"source": "b"})]
    ['duckdb']

The table is `id TEXT PRIMARY KEY, content TEXT, metadata JSON, embedding VECTOR(n)`, created on
the first write. Filters are langchain-postgres's: `{"source": "a"}`, `{"page": {"$gte": 2}}`,
`$eq $ne $gt $gte $lt $lte $in $nin $between $like $ilike $exists`, combined with `$and`, `$or`
and `$not`; they become a SQL WHERE over `metadata->>'field'` with bound values, which vsql's
filtered search (index or exact) answers with k rows whenever k documents match.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from vsql.client import docstore
from vsql.client.docstore import Where

_OPERATORS = {"$eq": "eq", "$ne": "ne", "$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte", "$in": "in",
              "$nin": "nin", "$between": "between", "$like": "like", "$ilike": "ilike", "$exists": "exists"}


def to_where(filter: dict | None) -> Where:
    """A langchain-postgres metadata filter as a SQL condition with bound parameters.

        >>> to_where({"source": "a", "page": {"$gt": 2}}).sql
        '((metadata->>?) = ? AND TRY_CAST(metadata->>? AS DOUBLE PRECISION) > ?)'
    """
    if not filter:
        return docstore.TRUE
    if not isinstance(filter, dict):
        raise TypeError(f"a filter is a dict, not {type(filter).__name__}")
    parts = []
    for key, value in filter.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list):
                raise ValueError(f"{key} expects a list of filters, not {value!r}")
            parts.append(docstore.combine(key[1:].upper(), [to_where(v) for v in value]))
        elif key == "$not":
            parts.append(docstore.negate(to_where(value)))
        elif key.startswith("$"):
            raise ValueError(f"unknown filter operator {key!r} where a field was expected")
        elif isinstance(value, dict):
            if not value:
                raise ValueError(f"empty condition for field {key!r}")
            for op, operand in value.items():
                if op not in _OPERATORS:
                    raise ValueError(f"unknown filter operator {op!r}: expected one of {', '.join(_OPERATORS)}")
                parts.append(docstore.compare(key, _OPERATORS[op], operand))
        else:
            parts.append(docstore.compare(key, "eq", value))
    return docstore.combine("AND", parts)


class VsqlVectorStore(VectorStore):
    """LangChain's `VectorStore` on a vsql table.

    Args:
        embedding: the LangChain `Embeddings` that embeds texts and queries.
        connection: a database path (opened in autocommit; `":memory:"` for none) or an open
            vsql connection (the store commits its writes when it is not in autocommit).
        table: the table's name; an existing table is used as it is.
        distance: `"cosine"` (`<=>`), `"l2"` (`<->`) or `"ip"` (`<#>`, negative inner product).
        create_index: build an HNSW index as soon as the table exists (see `create_index`).
    """

    def __init__(self, embedding: Embeddings, connection: Any = "docs.duckdb", table: str = "langchain_docs",
                 distance: str = "cosine", create_index: bool = False):
        self.embedding = embedding
        self.table = docstore.DocTable(connection, table, distance)
        self._create_index = create_index
        if create_index and self.table.dim is not None:
            self.create_index()

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    @property
    def connection(self):
        """The vsql connection: run SQL (`EXPLAIN`, `SET hnsw.ef_search`) on the store's table."""
        return self.table.connection

    def create_index(self, method: str = "hnsw", **options: int) -> str:
        """Build the table's vector index (`USING hnsw (embedding vector_cosine_ops)` for cosine),
        with pgvector's options (`m`, `ef_construction`; `lists` for ivfflat); returns its name."""
        return self.table.create_index(method, **options)

    def close(self) -> None:
        """Close the connection if the store opened it."""
        self.table.close()

    # -- writes

    def add_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *,
                  ids: list[str | None] | None = None, **kwargs: Any) -> list[str]:
        """Embed and store the texts; an id given again replaces its document. Returns the ids
        (the given ones, uuid4 strings for the rest)."""
        texts = list(texts)
        metadatas = [dict(m or {}) for m in metadatas] if metadatas is not None else [{} for _ in texts]
        ids = [str(i) if i is not None else str(uuid.uuid4()) for i in ids] if ids is not None \
            else [str(uuid.uuid4()) for _ in texts]
        if not len(texts) == len(metadatas) == len(ids):
            raise ValueError(f"{len(texts)} texts, {len(metadatas)} metadatas and {len(ids)} ids: expected as many of each")
        if not texts:
            return []
        new_table = self.table.dim is None
        self.table.upsert(ids, texts, metadatas, self.embedding.embed_documents(texts))
        if new_table and self._create_index:
            self.create_index()
        return ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete the documents with these ids (unknown ids are ignored); all of them if None."""
        self.table.delete(docstore.TRUE if ids is None else docstore.ids_in(ids))
        return True

    # -- reads

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The documents with these ids, in the order asked; unknown ids are left out."""
        found = {i: Document(id=i, page_content=c, metadata=m) for i, c, m in self.table.rows(docstore.ids_in(ids))}
        return [found[str(i)] for i in dict.fromkeys(ids) if str(i) in found]

    def similarity_search(self, query: str, k: int = 4, filter: dict | None = None,
                          **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter=filter)]

    def similarity_search_with_score(self, query: str, k: int = 4, filter: dict | None = None,
                                     **kwargs: Any) -> list[tuple[Document, float]]:
        """The k nearest documents with their distance (pgvector's operator: lower is nearer)."""
        return self.similarity_search_with_score_by_vector(self.embedding.embed_query(query), k, filter=filter)

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, filter: dict | None = None,
                                    **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, filter=filter)]

    def similarity_search_with_score_by_vector(self, embedding: list[float], k: int = 4,
                                               filter: dict | None = None,
                                               **kwargs: Any) -> list[tuple[Document, float]]:
        return [(Document(id=i, page_content=c, metadata=m), d)
                for i, c, m, d in self.table.search(embedding, k, to_where(filter))]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Distance to a relevance in [0, 1]: 1 - d for cosine, 1 - d / sqrt(2) for L2 (unit
        vectors), the inner product itself for `<#>`."""
        return {"cosine": self._cosine_relevance_score_fn, "l2": self._euclidean_relevance_score_fn,
                "ip": self._max_inner_product_relevance_score_fn}[self.table.distance]

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
                                      filter: dict | None = None, **kwargs: Any) -> list[Document]:
        return self.max_marginal_relevance_search_by_vector(self.embedding.embed_query(query), k, fetch_k,
                                                            lambda_mult, filter=filter)

    def max_marginal_relevance_search_by_vector(self, embedding: list[float], k: int = 4, fetch_k: int = 20,
                                                lambda_mult: float = 0.5, filter: dict | None = None,
                                                **kwargs: Any) -> list[Document]:
        """fetch_k nearest documents from vsql, then the k of them that langchain_core's
        `maximal_marginal_relevance` picks for relevance and diversity."""
        rows = self.table.search(embedding, fetch_k, to_where(filter), with_vectors=True)
        if not rows:
            return []
        picked = maximal_marginal_relevance(np.asarray(embedding, dtype=np.float32), [r[4] for r in rows],
                                            lambda_mult=lambda_mult, k=k)
        return [Document(id=rows[j][0], page_content=rows[j][1], metadata=rows[j][2]) for j in picked]

    @classmethod
    def from_texts(cls, texts: list[str], embedding: Embeddings, metadatas: list[dict] | None = None, *,
                   ids: list[str] | None = None, **kwargs: Any) -> VsqlVectorStore:
        """A store (kwargs: `connection`, `table`, `distance`, `create_index`) holding the texts."""
        store = cls(embedding=embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store
