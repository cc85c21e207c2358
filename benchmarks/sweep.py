"""The recall / throughput trade-off of each index, in the manner of ann-benchmarks: the same
unfiltered queries at a range of search depths (HNSW `ef_search`, IVFFlat `probes`), one point
per system and depth, plotted as queries/s against recall@10.

A searcher is `search(query, depth) -> ids`, or `-> (ids, seconds)` when the system times
itself (a worker behind a pipe); `depth=None` means the system's default and is called last, so
every system leaves the sweep at its defaults.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

DEPTHS = {"hnsw": (10, 20, 40, 80, 160, 320), "ivfflat": (1, 2, 4, 8, 16, 32)}


def peer_searcher(peer, k: int) -> Callable:
    """A `benchmarks.peers` peer as a searcher (its setting for the depth by pgvector's name)."""
    name = "ef_search" if peer._kind == "hnsw" else "probes"

    def search(query: np.ndarray, depth: int | None):
        ids = peer.search(query, k, None, None if depth is None else {name: int(depth)})
        return ids, peer.last_search_s
    return search


def run(searchers: dict[str, Callable], kind: str, queries: np.ndarray, truth: list[np.ndarray], log) -> dict:
    """Per system, per depth: queries/s (1 / median latency), p50 ms and recall@10."""
    points: dict[str, list[dict]] = {label: [] for label in searchers}
    labels = list(searchers)
    for turn, depth in enumerate(DEPTHS[kind]):
        for label in labels[turn % len(labels):] + labels[:turn % len(labels)]:
            seconds, recall = [], []
            searchers[label](queries[0], depth)  # warm: settings applied, caches filled
            for query, true in zip(queries, truth):
                start = time.perf_counter()
                answer = searchers[label](query, depth)
                took = time.perf_counter() - start
                ids, inner = answer if isinstance(answer, tuple) else (answer, None)
                seconds.append(took if inner is None else inner)
                recall.append(len(set(ids) & set(true.tolist())) / len(true))
            p50 = float(np.median(seconds))
            points[label].append({"depth": depth, "qps": 1 / p50, "p50_ms": p50 * 1000,
                                  "recall": float(np.mean(recall))})
        log(f"  depth {depth} done")
    for search in searchers.values():
        search(queries[0], None)
    return {"depths": list(DEPTHS[kind]), "queries": len(queries), "points": points}


def plot(sweeps: dict, path: Path) -> str | None:
    """queries/s (log) against recall@10, one panel per index kind; None when drawn, else why not."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed"
    if not sweeps:
        return "no sweep"
    fig, axes = plt.subplots(1, len(sweeps), figsize=(7 * len(sweeps), 5.5), squeeze=False)
    for ax, (kind, sweep) in zip(axes[0], sweeps.items()):
        for i, (label, points) in enumerate(sweep["points"].items()):
            ax.plot([p["recall"] for p in points], [p["qps"] for p in points], marker="o", ms=4,
                    color=plt.cm.tab10(i % 10), label=label)
            for p in points[:: max(1, len(points) - 1)]:
                ax.annotate(str(p["depth"]), (p["recall"], p["qps"]), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")
        ax.set_yscale("log")
        ax.set_xlabel("recall@10 (unfiltered)")
        ax.set_ylabel("queries/s (1 / median latency)")
        depth = "ef_search" if kind == "hnsw" else "probes"
        ax.set_title(f"{kind}: recall vs queries/s, {depth} {sweep['depths'][0]}..{sweep['depths'][-1]} "
                     f"(up and right is better)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
