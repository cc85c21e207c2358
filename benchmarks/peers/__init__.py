"""The systems vsql is benchmarked against, each behind the one small interface of `base.Peer`.

    for peer in all_peers():
        if (reason := peer.available()) is not None:
            print(f"skipping {peer.name}: {reason}"); continue
        peer.load(ids, vectors, cats); peer.build("hnsw", "l2", {"m": 16, "ef_construction": 64})
        ids_found = peer.search(query, 10, ("cat_lt", 5), {"ef_search": 100})
        peer.close()
"""

from .base import BUILD_DEFAULTS, FILTERS, KINDS, METRICS, Peer
from .faiss_peer import FaissPeer
from .pgvector_peer import PgvectorPeer


def all_peers() -> list[Peer]:
    """A fresh instance of every peer (none started yet: `available()` starts them)."""
    return [FaissPeer(), PgvectorPeer()]


__all__ = ["BUILD_DEFAULTS", "FILTERS", "KINDS", "METRICS", "FaissPeer", "Peer", "PgvectorPeer", "all_peers"]
