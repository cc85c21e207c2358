"""The interface every benchmark peer implements, and the vocabulary they share.

Peers speak pgvector's vocabulary (index kinds, metrics, build parameters and search settings by
pgvector's names, with pgvector's defaults), so one benchmark run can hand the same arguments to
every system and an omitted setting means the same thing everywhere. A peer rejects a parameter
or setting it does not know rather than ignoring it: a silently ignored knob makes a comparison lie.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

KINDS = ("hnsw", "ivfflat")
METRICS = ("l2", "ip", "cosine")

#: Build parameters per index kind, with pgvector's defaults.
BUILD_DEFAULTS = {
    "hnsw": {"m": 16, "ef_construction": 64},
    "ivfflat": {"lists": 100},
}

#: Row filters: `where=(name, value)` keeps the rows with `cat <op> value`.
FILTERS: dict[str, tuple[Callable[[np.ndarray, int], np.ndarray], str]] = {
    "cat_lt": (np.less, "<"),
    "cat_eq": (np.equal, "="),
}

Where = tuple[str, int] | None


class Peer:
    """One system the benchmark compares vsql with.

    Call order: `available()`, `load(...)` once, then `build(...)` and any number of searches,
    again `build(...)` for another index (it replaces the previous one), and `close()`.
    """

    name: str
    #: Search settings this peer understands, per index kind, with their defaults.
    settings: dict[str, dict[str, object]]

    def available(self) -> str | None:
        """None when the peer can run here, else why not (so a benchmark can go on without it)."""
        return None

    def load(self, ids: np.ndarray, vectors: np.ndarray, cats: np.ndarray) -> float:
        """Store the rows (ids int64, vectors float32 (n, d), cats int32); returns seconds taken."""
        raise NotImplementedError

    def build(self, kind: str, metric: str, params: dict | None = None) -> float:
        """Build an index over the loaded rows, replacing any earlier one; returns seconds taken."""
        raise NotImplementedError

    def search(self, query: np.ndarray, k: int, where: Where = None, settings: dict | None = None) -> list[int]:
        """The ids of the (approximately) `k` nearest rows to `query` that pass `where`, nearest first."""
        raise NotImplementedError

    def search_batch(self, queries: np.ndarray, k: int, where: Where = None,
                     settings: dict | None = None) -> list[list[int]]:
        """`search` for each row of `queries`, all with the same `where`; peers with a real batch call override it."""
        return [self.search(q, k, where, settings) for q in queries]

    def close(self) -> None:
        """Free what the peer holds (servers, indexes); safe to call twice."""

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _build_params(self, kind: str, metric: str, params: dict | None) -> dict:
        """`params` over pgvector's defaults for `kind`, after checking kind, metric and names."""
        if kind not in KINDS or metric not in METRICS:
            raise ValueError(f"{self.name}: unknown index kind or metric {kind!r}, {metric!r}")
        return _merge(f"{self.name} {kind} build", BUILD_DEFAULTS[kind], params)

    def _settings(self, kind: str, settings: dict | None) -> dict:
        """`settings` over this peer's defaults for `kind`, rejecting names it does not know."""
        if kind is None:
            raise RuntimeError(f"{self.name}: build an index before searching")
        return _merge(f"{self.name} {kind} search", self.settings[kind], settings)


def _merge(what: str, defaults: dict, given: dict | None) -> dict:
    unknown = set(given or ()) - set(defaults)
    if unknown:
        raise ValueError(f"{what}: unknown {', '.join(sorted(unknown))} (known: {', '.join(defaults)})")
    return {**defaults, **(given or {})}


def filter_op(name: str) -> tuple[Callable[[np.ndarray, int], np.ndarray], str]:
    """The NumPy comparison and the SQL operator of the filter called `name`."""
    if name not in FILTERS:
        raise ValueError(f"unknown filter {name!r} (known: {', '.join(FILTERS)})")
    return FILTERS[name]


def keep(cats: np.ndarray, where: Where) -> np.ndarray | None:
    """The boolean row mask `where` selects, or None for no filter."""
    return None if where is None else filter_op(where[0])[0](cats, where[1])


def timed(step: Callable[[], object]) -> float:
    """Seconds `step()` takes, by `time.perf_counter`."""
    start = time.perf_counter()
    step()
    return time.perf_counter() - start

