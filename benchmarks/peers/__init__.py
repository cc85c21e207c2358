"""The systems vsql is benchmarked against, each behind the one small interface of `base.Peer`.

    for peer in all_peers():
        if (reason := peer.available()) is not None:
            print(f"skipping {peer.name}: {reason}"); continue
        peer.load(ids, vectors, cats); peer.build("hnsw", "l2", {"m": 16, "ef_construction": 64})
        ids_found = peer.search(query, 10, ("cat_lt", 5), {"ef_search": 100})
        peer.close()
"""

from .base import BUILD_DEFAULTS, FILTERS, KINDS, METRICS, Peer
from .duckdb_vss_peer import DuckdbVssPeer
from .faiss_peer import FaissPeer
from .lancedb_peer import LancedbPeer
from .milvus_peer import MilvusPeer
from .pgvector_peer import PgvectorPeer
from .sqlite_vec_peer import SqliteVecPeer


def all_peers() -> list[Peer]:
    """A fresh instance of every peer (none started yet: `available()` starts them)."""
    return [FaissPeer(), PgvectorPeer(), DuckdbVssPeer(), LancedbPeer(), MilvusPeer(), SqliteVecPeer()]


__all__ = ["BUILD_DEFAULTS", "FILTERS", "KINDS", "METRICS", "DuckdbVssPeer", "FaissPeer", "LancedbPeer", "MilvusPeer",
           "Peer", "PgvectorPeer", "SqliteVecPeer", "all_peers"]
