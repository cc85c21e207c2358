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

KINDS = ("hnsw", "ivfflat", "flat")  # flat: no index, every search exact
METRICS = ("l2", "ip", "cosine")

#: Build parameters per index kind, with pgvector's defaults.
BUILD_DEFAULTS = {
    "hnsw": {"m": 16, "ef_construction": 64},
    "ivfflat": {"lists": 100},
    "flat": {},
}

#: Row filters: `where=(name, value)` keeps the rows with `cat <op> value`.
FILTERS: dict[str, tuple[Callable[[np.ndarray, int], np.ndarray], str]] = {
    "cat_lt": (np.less, "<"),
    "cat_eq": (np.equal, "="),
}
OPS = {"<": np.less, "=": np.equal, ">=": np.greater_equal}

#: One conjunct of a filter over any loaded column: (column, "<", "=" or ">=", integer value).
Term = tuple[str, str, int]
#: A named filter on `cat` (`("cat_lt", 5)`), a conjunction of terms, or None for no filter.
Where = tuple[str, int] | tuple[Term, ...] | None
#: The columns beside the vectors: a bare array is the integer column `cat`. A column of strings
#: (a NumPy array of `str` objects) is a text column: loaded as text, never filtered on, only
#: fetched (`search(..., fetch=...)`).
Columns = np.ndarray | dict[str, np.ndarray]


class Unavailable(Exception):
    """Raised by `_start` when the peer cannot run here; its message is the whole reason, shown as is."""


class Peer:
    """One system the benchmark compares vsql with.

    Call order: `available()`, `load(...)` once, then `build(...)` and any number of searches,
    again `build(...)` for another index (it replaces the previous one), and `close()`.
    """

    name: str
    #: Search settings this peer understands, per index kind, with their defaults.
    settings: dict[str, dict[str, object]]
    #: Index kinds and metrics the peer has; the suite skips the others.
    kinds: tuple[str, ...] = ("hnsw", "ivfflat")
    metrics: tuple[str, ...] = METRICS
    #: True when the index hands over its k nearest and the filter drops some of them afterwards.
    post_filters: bool = False
    #: The last search's seconds as the peer measured them where the caller's clock would add
    #: transport the peer's users don't pay (a pipe to a worker process); None: time the call.
    last_search_s: float | None = None
    _tried = False
    _reason: str | None = None

    def available(self) -> str | None:
        """None when the peer can run here, else why not (so a benchmark can go on without it).

        Starts the peer on the first call only: starting can install software or launch a server,
        so a failure is remembered rather than paid for again.
        """
        if not self._tried:
            try:
                self._start()
            except Unavailable as error:
                self._reason = str(error)
            except Exception as error:  # any failure means "not available here", with the reason
                self._reason = f"{type(error).__name__}: {error}".strip()
            self._tried = True
            if self._reason is not None:
                self.close()
        return self._reason

    def _start(self) -> None:
        """Make the peer ready (see `available`); raise `Unavailable` or any error when it cannot be."""

    def load(self, ids: np.ndarray, vectors: np.ndarray, cats: Columns) -> float:
        """Store the rows (ids int64, vectors float32 (n, d), int32 columns); returns seconds taken."""
        raise NotImplementedError

    def build(self, kind: str, metric: str, params: dict | None = None) -> float:
        """Build an index over the loaded rows, replacing any earlier one; returns seconds taken."""
        raise NotImplementedError

    def search(self, query: np.ndarray, k: int, where: Where = None, settings: dict | None = None,
               fetch: tuple[str, ...] = ()) -> list[int]:
        """The ids of the (approximately) `k` nearest rows to `query` that pass `where`, nearest first.

        `fetch`: loaded columns the search also returns with each id, as the system's users get
        rows (an application selects a title, not only the id); the values are fetched, then
        dropped: the ids are what the caller checks."""
        raise NotImplementedError

    def scalar_index(self, column: str) -> float | None:
        """Index a filter column the way the system's users do (pgvector: a B-tree); seconds taken,
        or None when the system has no such index or makes one on its own at `load`."""
        return None

    def prepare(self, settings: dict | None = None) -> None:
        """Apply search settings ahead of the searches that use them, where that costs a round
        trip (a benchmark calls it untimed before each block of queries)."""

    def search_batch(self, queries: np.ndarray, k: int, where: Where = None,
                     settings: dict | None = None) -> list[list[int]]:
        """`search` for each row of `queries`, all with the same `where`; peers with a real batch call override it."""
        return [self.search(q, k, where, settings) for q in queries]

    def disk_bytes(self) -> int | None:
        """Bytes the rows and the index take on disk; None when the peer keeps them in memory only."""
        return None

    def reopen(self, query: np.ndarray, k: int) -> float | None:
        """Seconds from opening the stored database afresh to the first answer for `query`, after
        closing it (the index must come back from disk); None when nothing is stored."""
        return None

    def processes(self) -> list[int]:
        """Ids of the processes besides this one whose memory is the peer's (servers, workers)."""
        return []

    @property
    def version(self) -> str:
        """The peer's software versions, for the report."""
        return ""

    def close(self) -> None:
        """Free what the peer holds (servers, indexes); safe to call twice."""

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _build_params(self, kind: str, metric: str, params: dict | None) -> dict:
        """`params` over pgvector's defaults for `kind`, after checking kind, metric and names."""
        if kind not in self.kinds or metric not in self.metrics:
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


def terms(where: Where) -> tuple[Term, ...]:
    """`where` as terms: the named filter `("cat_lt", 5)` is `(("cat", "<", 5),)`."""
    if not where:
        return ()
    if isinstance(where[0], str):
        return (("cat", filter_op(where[0])[1], where[1]),)
    for _, op, _ in where:
        if op not in OPS:
            raise ValueError(f"unknown filter operator {op!r} (known: {', '.join(OPS)})")
    return tuple(where)


def columns(cats: Columns) -> dict[str, np.ndarray]:
    """The columns by name (a bare array is `cat`)."""
    return dict(cats) if isinstance(cats, dict) else {"cat": np.asarray(cats)}


def is_text(values: np.ndarray) -> bool:
    """True for a column of strings (see `Columns`)."""
    return np.asarray(values).dtype.kind in "OUS"


def keep(cats: Columns, where: Where) -> np.ndarray | None:
    """The boolean row mask `where` selects, or None for no filter."""
    mask, named = None, columns(cats)
    for column, op, value in terms(where):
        part = OPS[op](named[column], value)
        mask = part if mask is None else mask & part
    return mask


def sql_where(where: Where, placeholder: str = "?") -> tuple[str, list[int]]:
    """`(" WHERE a < ? AND b = ?", [values])` for SQL systems ('' and [] without a filter)."""
    found = terms(where)
    if not found:
        return "", []
    return " WHERE " + " AND ".join(f"{c} {op} {placeholder}" for c, op, _ in found), [v for *_, v in found]


def timed(step: Callable[[], object]) -> float:
    """Seconds `step()` takes, by `time.perf_counter`."""
    start = time.perf_counter()
    step()
    return time.perf_counter() - start

