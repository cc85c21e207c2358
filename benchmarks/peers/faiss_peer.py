"""Raw Faiss, used the way a Faiss user would: the floor that vsql's SQL layer adds its cost on top of.

Filters go in as an `IDSelectorBitmap` built from the columns with NumPy for every search call, as
a Faiss user filtering on a column must do; its cost (~0.2 ms at 200k rows) is part of the search.
Cosine is inner product over unit-length vectors. Rows are Faiss's positions `0..n-1`, mapped back
to the loaded ids on the way out; the other columns (`fetch`) are NumPy arrays beside the index,
read at the same positions into one tuple per row, as an application keeping its rows beside a
Faiss index would. On disk, the data base is the index file `faiss.write_index` writes.
"""

from __future__ import annotations

import os
import tempfile

import faiss
import numpy as np

from .base import Columns, Peer, Where, columns, keep, timed


class FaissPeer(Peer):
    name = "faiss"
    settings = {"hnsw": {"ef_search": 40}, "ivfflat": {"probes": 1}}  # pgvector's defaults

    def __init__(self) -> None:
        self._index = None
        self._kind = self._metric = self._file = None

    @property
    def version(self) -> str:
        return f"Faiss {faiss.__version__}"

    def load(self, ids: np.ndarray, vectors: np.ndarray, cats: Columns) -> float:
        def store() -> None:
            self._ids = np.asarray(ids, dtype=np.int64)
            self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            self._columns = columns(cats)
        return timed(store)

    def build(self, kind: str, metric: str, params: dict | None = None) -> float:
        params = self._build_params(kind, metric, params)
        self.close()  # free the previous index before building the next

        def make() -> None:
            vectors = _unit(self._vectors) if metric == "cosine" else self._vectors
            measure = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
            dim = vectors.shape[1]
            if kind == "hnsw":
                index = faiss.IndexHNSWFlat(dim, params["m"], measure)
                index.hnsw.efConstruction = params["ef_construction"]
            else:
                index = faiss.IndexIVFFlat(faiss.IndexFlat(dim, measure), dim, params["lists"], measure)
                index.train(vectors)
            index.add(vectors)
            self._index = index
        seconds = timed(make)
        self._kind, self._metric = kind, metric
        return seconds

    def search(self, query: np.ndarray, k: int, where: Where = None, settings: dict | None = None,
               fetch: tuple[str, ...] = ()) -> list[int]:
        rows = self._rows(np.asarray(query)[None], k, where, settings)[0]
        if not fetch:
            return self._ids[rows].tolist()
        found = list(zip(self._ids[rows].tolist(), *(self._columns[name][rows].tolist() for name in fetch)))
        return [row[0] for row in found]

    def search_batch(self, queries: np.ndarray, k: int, where: Where = None,
                     settings: dict | None = None) -> list[list[int]]:
        """All queries in one Faiss call (Faiss spreads them over the cores)."""
        return [self._ids[rows].tolist() for rows in self._rows(queries, k, where, settings)]

    def _rows(self, queries: np.ndarray, k: int, where: Where, settings: dict | None) -> list[np.ndarray]:
        """Each query's rows (positions), nearest first."""
        settings = self._settings(self._kind, settings)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self._metric == "cosine":
            queries = _unit(queries)
        if self._kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=settings["ef_search"])
        else:
            params = faiss.SearchParametersIVF(nprobe=settings["probes"])
        mask = keep(self._columns, where)
        if mask is not None:
            bits = np.packbits(mask, bitorder="little")  # must outlive the search: Faiss holds a raw pointer
            params.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
        _, rows = self._index.search(queries, k, params=params)
        return [r[r >= 0] for r in rows]  # -1 pads when fewer than k rows pass

    def _saved(self) -> str:
        if self._file is None:
            self._file = os.path.join(tempfile.mkdtemp(prefix="vsql-faiss-"), "index.faiss")
            faiss.write_index(self._index, self._file)
        return self._file

    def disk_bytes(self) -> int:
        return os.path.getsize(self._saved())

    def reopen(self, query: np.ndarray, k: int) -> float:
        path = self._saved()
        self._index = None

        def first() -> None:
            self._index = faiss.read_index(path)
            self.search(query, k)
        return timed(first)

    def close(self) -> None:
        if self._file is not None:
            os.remove(self._file)
            os.rmdir(os.path.dirname(self._file))
        self._index = self._file = None


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, so inner product ranks as cosine does; zero rows stay zero."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
