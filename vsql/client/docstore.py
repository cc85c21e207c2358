"""A table of documents for the LangChain and LlamaIndex vector stores (`vsql.client.langchain`,
`vsql.client.llama_index`): `id TEXT PRIMARY KEY, content TEXT, metadata JSON, embedding VECTOR(n)`.

Both adapters share this SQL: upserts by id, deletes, lookups, k-NN search with a metadata
filter, and the HNSW index. Values, metadata field names included, are bound parameters; only the
table's name (quoted), the dimension and the LIMIT (integers) are written into the SQL, the LIMIT
because vsql's planner serves only a literal one from an index. A filter is a `Where`: SQL text
over `metadata->>?` with its parameters, which vsql's filtered search evaluates beside the index.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vsql.index.methods import METHODS
from vsql.sql.metrics import METRICS

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


@dataclass(frozen=True)
class Where:
    """A boolean SQL expression over the table's columns and its bound parameters."""

    sql: str
    params: tuple = field(default=())

    def __and__(self, other: Where) -> Where:
        return combine("AND", [self, other])


TRUE, FALSE = Where("TRUE"), Where("FALSE")


def combine(kind: str, parts: Sequence[Where]) -> Where:
    """`AND` or `OR` of `parts`; an empty AND is TRUE, an empty OR is FALSE."""
    if not parts:
        return TRUE if kind == "AND" else FALSE
    if len(parts) == 1:
        return parts[0]
    return Where("(" + f" {kind} ".join(p.sql for p in parts) + ")", tuple(v for p in parts for v in p.params))


def negate(part: Where) -> Where:
    return Where(f"(NOT {part.sql})", part.params)


def _value(field_name: str, value: Any) -> Where:
    """The metadata field as the filter value's kind: a JSON number compares with a number, a
    boolean with a boolean, anything with a string as its text (`metadata->>'source'`)."""
    if not isinstance(field_name, str) or not _FIELD.fullmatch(field_name):
        raise ValueError(f"invalid metadata field name {field_name!r}: expected letters, digits, '_' or '-'")
    if isinstance(value, bool):
        return Where("TRY_CAST(metadata->>? AS BOOLEAN)", (field_name,))
    if isinstance(value, (int, float)):
        return Where("TRY_CAST(metadata->>? AS DOUBLE PRECISION)", (field_name,))
    if isinstance(value, str):
        return Where("(metadata->>?)", (field_name,))
    raise ValueError(f"cannot filter metadata field {field_name!r} by {value!r}: expected a string, number or boolean")


_COMPARISONS = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def compare(field_name: str, op: str, value: Any) -> Where:
    """`metadata.field <op> value` for op in eq ne gt gte lt lte in nin between like ilike contains
    icontains empty exists.

    A document without the field matches no comparison (`ne` and `nin` included), as in SQL and
    in langchain-postgres."""
    if op in _COMPARISONS:
        left = _value(field_name, value)
        return Where(f"{left.sql} {_COMPARISONS[op]} ?", (*left.params, value))
    if op in ("in", "nin"):
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise ValueError(f"${op} on {field_name!r} expects a list of values, not {value!r}")
        kinds: dict[str, list] = {}
        for item in value:
            left = _value(field_name, item)
            kinds.setdefault(left.sql, []).append(item)
        parts = [Where(f"{sql} IN ({', '.join('?' * len(items))})", (field_name, *items)) for sql, items in kinds.items()]
        matched = combine("OR", parts)
        if op == "in":
            return matched
        # a missing field is not "not in": it stays NULL, as SQL's NOT IN leaves it
        return Where(f"(metadata->>? IS NOT NULL AND NOT COALESCE({matched.sql}, FALSE))", (field_name, *matched.params))
    if op == "between":
        low, high = value
        left = _value(field_name, low)
        return Where(f"{left.sql} BETWEEN ? AND ?", (*left.params, low, high))
    if op in ("like", "ilike"):
        left = _value(field_name, str(value))
        return Where(f"{left.sql} {op.upper()} ?", (*left.params, str(value)))
    if op in ("contains", "icontains"):  # a substring, taken literally (LIKE would read % and _)
        left = _value(field_name, str(value))
        if op == "contains":
            return Where(f"contains({left.sql}, ?)", (*left.params, str(value)))
        return Where(f"contains(lower({left.sql}), lower(?))", (*left.params, str(value)))
    if op == "empty":  # missing, or JSON null
        left = _value(field_name, "")
        return Where(f"({left.sql} IS NULL)" if value else f"({left.sql} IS NOT NULL)", left.params)
    if op == "exists":
        _value(field_name, "")  # checks the name
        found = Where("json_exists(metadata, ?)", ("$." + field_name,))
        return found if value else negate(found)
    raise ValueError(f"unknown filter operator {op!r}")


def quote(identifier: str) -> str:
    """A table name as a quoted SQL identifier (`my docs` -> `"my docs"`)."""
    if not identifier:
        raise ValueError("the table name is empty")
    return '"' + identifier.replace('"', '""') + '"'


class DocTable:
    """The documents' table on a vsql connection; created on the first write, when the embedding
    dimension is known (or at once when `dim` is given)."""

    def __init__(self, connection: Any, table: str, distance: str, dim: int | None = None):
        import vsql

        if distance not in METRICS:
            raise ValueError(f"unknown distance {distance!r}: expected one of {', '.join(METRICS)}")
        self.owned = isinstance(connection, (str, os.PathLike))
        self.connection = vsql.connect(connection, autocommit=True) if self.owned else connection
        self.table, self.name, self.distance = table, quote(table), distance
        self.operator, self.opclass = METRICS[distance].operator, METRICS[distance].opclass
        self.dim = self._stored_dim()
        if self.dim is None and dim is not None:
            self.create(dim)

    def _stored_dim(self) -> int | None:
        rows = self.connection.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = ? AND column_name = 'embedding'",
            [self.table]).fetchall()
        match = re.fullmatch(r"FLOAT\[(\d+)\]", rows[0][0]) if rows else None
        return int(match.group(1)) if match else None

    def create(self, dim: int) -> None:
        with self._writing():
            self.connection.execute(f"CREATE TABLE IF NOT EXISTS {self.name} "
                                    f"(id TEXT PRIMARY KEY, content TEXT, metadata JSON, embedding VECTOR({int(dim)}))")
        self.dim = int(dim)

    def create_index(self, method: str, **options: int) -> str:
        """`CREATE INDEX IF NOT EXISTS <table>_embedding_idx ... USING hnsw (embedding <opclass>)`;
        returns the index's name. Options are pgvector's (`m`, `ef_construction`; `lists`)."""
        if method not in METHODS:
            raise ValueError(f"unknown index method {method!r}: expected one of {', '.join(METHODS)}")
        unknown = set(options) - set(METHODS[method].options)
        if unknown:
            raise ValueError(f"unknown {method} options {sorted(unknown)}: expected {', '.join(METHODS[method].options)}")
        if self.dim is None:
            raise ValueError(f"table {self.table!r} does not exist yet: add documents first, or give its dimension")
        index = f"{self.table}_embedding_idx"
        with_ = f" WITH ({', '.join(f'{k} = {int(v)}' for k, v in options.items())})" if options else ""
        with self._writing():
            self.connection.execute(f"CREATE INDEX IF NOT EXISTS {quote(index)} ON {self.name} "
                                    f"USING {method} (embedding {self.opclass}){with_}")
        return index

    def upsert(self, ids: Sequence[str], contents: Sequence[str | None], metadatas: Sequence[dict],
               vectors: Sequence[Sequence[float]]) -> None:
        """Insert the rows, replacing those whose id exists (the last of repeated ids wins)."""
        rows = {i: (i, c, json.dumps(m), np.asarray(v, dtype=np.float32))
                for i, c, m, v in zip(ids, contents, metadatas, vectors, strict=True)}
        if not rows:
            return
        if self.dim is None:
            self.create(len(next(iter(rows.values()))[3]))
        with self._writing():
            self.connection.cursor().executemany(
                f"INSERT INTO {self.name} (id, content, metadata, embedding) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET content = excluded.content, metadata = excluded.metadata, "
                "embedding = excluded.embedding", list(rows.values()))

    def delete(self, where: Where) -> None:
        if self.dim is not None:
            with self._writing():
                self.connection.execute(f"DELETE FROM {self.name} WHERE {where.sql}", list(where.params))

    def rows(self, where: Where) -> list[tuple[str, str, dict]]:
        """(id, content, metadata) of the rows `where` keeps, in id order."""
        if self.dim is None:
            return []
        found = self.connection.execute(f"SELECT id, content, metadata FROM {self.name} WHERE {where.sql} ORDER BY id",
                                        list(where.params)).fetchall()
        return [(i, c, json.loads(m) if m is not None else {}) for i, c, m in found]

    def search(self, vector: Sequence[float], k: int, where: Where = TRUE,
               with_vectors: bool = False) -> list[tuple]:
        """The k nearest rows `where` keeps: (id, content, metadata, distance[, embedding]), nearest
        first, distance as pgvector's operator gives it (`<#>` is the negative inner product)."""
        if self.dim is None or k <= 0:
            return []
        vector = np.asarray(vector, dtype=np.float32)
        columns = "id, content, metadata, embedding " + self.operator + " ? AS distance" + (", embedding" if with_vectors else "")
        found = self.connection.execute(
            f"SELECT {columns} FROM {self.name} WHERE {where.sql} ORDER BY distance LIMIT {int(k)}",
            [vector, *where.params]).fetchall()
        return [(r[0], r[1], json.loads(r[2]) if r[2] is not None else {}, float(r[3]), *r[4:]) for r in found]

    def close(self) -> None:
        if self.owned:
            self.connection.close()

    def _writing(self):
        return _Writing(self.connection)


def ids_in(ids: Sequence[str], column: str = "id") -> Where:
    """`id IN (?, ...)`; no ids is FALSE."""
    ids = [str(i) for i in ids]
    return Where(f"{column} IN ({', '.join('?' * len(ids))})", tuple(ids)) if ids else FALSE


class _Writing:
    """Commits a write on a connection not in autocommit (a vector store's writes are durable
    when its call returns); rolls it back if it fails."""

    def __init__(self, connection):
        self.connection = connection

    def __enter__(self):
        return self.connection

    def __exit__(self, kind, value, traceback):
        if getattr(self.connection, "autocommit", True):
            return
        if kind is None:
            self.connection.commit()
        else:
            self.connection.rollback()
