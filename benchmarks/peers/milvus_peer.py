"""Milvus Lite through `pymilvus.MilvusClient` with a local `.db` path, as Milvus documents it.

Milvus Lite 3.x is pure Python: pymilvus starts its gRPC server in a thread of this process, and
every call goes through gRPC on 127.0.0.1. It stores rows in segments of at most 100,000 rows,
each with its own Faiss index (`HNSW` with `M`/`efConstruction`, `IVF_FLAT` with `nlist`);
searches take `ef` / `nprobe` in `search_params` and a boolean filter expression (`r < 500 and
cl < 10`) that is applied as a prefilter, and `output_fields` for the columns returned. Text
columns are `VARCHAR`s as long as their longest value. Settings left at None are Milvus Lite's
defaults.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from .base import Columns, Peer, Unavailable, Where, columns, is_text, terms, timed

METRICS = {"l2": "L2", "ip": "IP", "cosine": "COSINE"}
_INSERT_CHUNK = 5_000


class MilvusPeer(Peer):
    name = "milvus-lite"
    settings = {"hnsw": {"ef_search": None}, "ivfflat": {"probes": None}}

    def __init__(self) -> None:
        self._client = None
        self._kind = None

    def _start(self) -> None:
        try:
            import milvus_lite  # noqa: F401  (pymilvus needs it for a .db path)
            import pymilvus
        except ImportError as error:
            raise Unavailable(f"{error.name} is not installed: pip install pymilvus milvus-lite") from None
        self._pymilvus = pymilvus
        self._dir = tempfile.mkdtemp(prefix="vsql-milvus-")
        self._open()

    def _open(self) -> None:
        self._client = self._pymilvus.MilvusClient(os.path.join(self._dir, "items.db"))

    @property
    def version(self) -> str:
        import milvus_lite

        return f"Milvus Lite {milvus_lite.__version__}, pymilvus {self._pymilvus.__version__}"

    def load(self, ids: np.ndarray, vectors: np.ndarray, cats: Columns) -> float:
        from pymilvus import DataType, MilvusClient

        named = columns(cats)
        self._kind = None

        def insert() -> None:
            if self._client.has_collection("items"):
                self._client.drop_collection("items")
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            for name, values in named.items():
                if is_text(values):
                    longest = max((len(str(text).encode()) for text in values), default=1)
                    schema.add_field(name, DataType.VARCHAR, max_length=max(1, longest))
                else:
                    schema.add_field(name, DataType.INT32)
            schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=vectors.shape[1])
            self._client.create_collection("items", schema=schema)
            for start in range(0, len(ids), _INSERT_CHUNK):
                stop = start + _INSERT_CHUNK
                rows = {"id": ids[start:stop].tolist(), "embedding": list(np.asarray(vectors[start:stop], np.float32)),
                        **{name: values[start:stop].tolist() for name, values in named.items()}}
                self._client.insert("items", [dict(zip(rows, values)) for values in zip(*rows.values())])
            self._client.flush("items")
        return timed(insert)

    def build(self, kind: str, metric: str, params: dict | None = None) -> float:
        params = self._build_params(kind, metric, params)

        def index() -> None:
            self._client.release_collection("items")
            for name in self._client.list_indexes("items"):
                self._client.drop_index("items", name)
            spec = self._client.prepare_index_params()
            if kind == "hnsw":
                options = {"M": params["m"], "efConstruction": params["ef_construction"]}
            else:
                options = {"nlist": params["lists"]}
            # Nested: pymilvus sends flat keys as separate pairs, which Milvus Lite ignores.
            spec.add_index("embedding", index_type="HNSW" if kind == "hnsw" else "IVF_FLAT",
                           metric_type=METRICS[metric], params={"params": options})
            self._client.create_index("items", spec)
            self._client.load_collection("items")
        seconds = timed(index)
        self._kind = kind
        return seconds

    def search(self, query: np.ndarray, k: int, where: Where = None, settings: dict | None = None,
               fetch: tuple[str, ...] = ()) -> list[int]:
        settings = self._settings(self._kind, settings)
        depth = {"ef": settings.get("ef_search"), "nprobe": settings.get("probes")}
        expression = " and ".join(f"{c} {'==' if op == '=' else op} {int(v)}" for c, op, v in terms(where))
        hits = self._client.search("items", data=[np.asarray(query, np.float32).tolist()], limit=k,
                                   filter=expression, anns_field="embedding", output_fields=list(fetch),
                                   search_params={"params": {n: int(v) for n, v in depth.items() if v is not None}})
        return [hit["id"] for hit in hits[0]]

    def disk_bytes(self) -> int:
        return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(self._dir) for f in files)

    def reopen(self, query: np.ndarray, k: int) -> float:
        self._shutdown()

        def first() -> None:
            self._open()
            self._client.load_collection("items")
            self.search(query, k)
        return timed(first)

    def _shutdown(self) -> None:
        """Close the client and stop its in-process server, so reopening reads the files again."""
        from milvus_lite.server_manager import server_manager_instance

        self._client.close()
        server_manager_instance.release_server(os.path.join(self._dir, "items.db"))
        self._client = None

    def close(self) -> None:
        if self._client is not None:
            self._shutdown()
            shutil.rmtree(self._dir, ignore_errors=True)
