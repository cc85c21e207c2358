"""LanceDB, embedded: a Lance table in a folder, searched through its Python API.

As its documentation shows: `create_index(config=HnswFlat(...))` (an HNSW graph over raw vectors;
one IVF partition, so it is a plain HNSW like the others') or `IvfFlat(num_partitions=lists)`;
a BTREE scalar index on every integer column (`create_index(column, config=BTree())`); searches `table.search(q).where(sql, prefilter=True)
.limit(k)` with `.ef(n)` / `.nprobes(n)`, `.select([...])` naming the columns returned, taken as Arrow.
Text columns are Arrow strings. Prefiltering applies the `WHERE` before the vector
search, so a filter does not cost rows. LanceDB's `where` takes SQL text, not bound values; the
integers are written into it. Settings left at None are LanceDB's own defaults.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from .base import Columns, Peer, Unavailable, Where, columns, is_text, terms, timed

#: LanceDB's distance type per metric.
DISTANCES = {"l2": "l2", "ip": "dot", "cosine": "cosine"}


class LancedbPeer(Peer):
    name = "lancedb"
    settings = {"hnsw": {"ef_search": None}, "ivfflat": {"probes": None}}

    def __init__(self) -> None:
        self._db = self._table = None
        self._kind = self._distance = None

    def _start(self) -> None:
        try:
            import lancedb
        except ImportError:
            raise Unavailable("lancedb is not installed: pip install lancedb") from None
        self._lancedb = lancedb
        self._dir = tempfile.mkdtemp(prefix="vsql-lancedb-")
        self._db = lancedb.connect(self._dir)

    @property
    def version(self) -> str:
        return f"LanceDB {self._lancedb.__version__}"

    def load(self, ids: np.ndarray, vectors: np.ndarray, cats: Columns) -> float:
        import pyarrow as pa
        from lancedb.index import BTree

        named = columns(cats)
        self._kind = None

        def write() -> None:
            data = pa.table({"id": pa.array(ids, pa.int64()),
                             **{name: pa.array(values, pa.string() if is_text(values) else pa.int32())
                                for name, values in named.items()},
                             "embedding": pa.FixedSizeListArray.from_arrays(
                                 pa.array(np.ascontiguousarray(vectors, np.float32).reshape(-1)), vectors.shape[1])})
            self._table = self._db.create_table("items", data=data, mode="overwrite")
            for name, values in named.items():
                if not is_text(values):
                    self._table.create_index(name, config=BTree())  # what the docs advise for filtered search
        return timed(write)

    def build(self, kind: str, metric: str, params: dict | None = None) -> float:
        from lancedb.index import HnswFlat, IvfFlat

        params = self._build_params(kind, metric, params)
        self._distance = DISTANCES[metric]
        if kind == "hnsw":
            config = HnswFlat(distance_type=self._distance, num_partitions=1, m=params["m"],
                              ef_construction=params["ef_construction"])
        else:
            config = IvfFlat(distance_type=self._distance, num_partitions=params["lists"])
        seconds = timed(lambda: self._table.create_index("embedding", config=config, replace=True))
        self._kind = kind
        return seconds

    def search(self, query: np.ndarray, k: int, where: Where = None, settings: dict | None = None,
               fetch: tuple[str, ...] = ()) -> list[int]:
        settings = self._settings(self._kind, settings)
        search = self._table.search(np.asarray(query, np.float32), vector_column_name="embedding") \
            .distance_type(self._distance).limit(k).select(["id", *fetch, "_distance"])
        found = terms(where)
        if found:
            search = search.where(" AND ".join(f"{c} {op} {int(v)}" for c, op, v in found), prefilter=True)
        if settings.get("ef_search") is not None:
            search = search.ef(int(settings["ef_search"]))
        if settings.get("probes") is not None:
            search = search.nprobes(int(settings["probes"]))
        return search.to_arrow().column("id").to_pylist()

    def disk_bytes(self) -> int:
        return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(self._dir) for f in files)

    def reopen(self, query: np.ndarray, k: int) -> float:
        self._table = self._db = None

        def first() -> None:
            self._db = self._lancedb.connect(self._dir)
            self._table = self._db.open_table("items")
            self.search(query, k)
        return timed(first)

    def close(self) -> None:
        if self._db is not None:
            self._table = self._db = None
            shutil.rmtree(self._dir, ignore_errors=True)
