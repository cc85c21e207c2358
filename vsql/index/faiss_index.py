"""A Faiss index over one vector column, addressed by the table's primary key.

Faiss numbers its entries 0, 1, 2, ... in the order they are added ("slots"). `keys[slot]` is the
primary key the slot holds, `alive[slot]` whether it still counts (HNSW cannot remove entries,
so deletes and the old version of an updated row are masked, and a rebuild compacts them away),
and `hashes[slot]` the engine's hash of the row's vector: comparing (key, hash) pairs with the
table's tells which rows changed, whatever wrote them (`diff`).
Searches filter through a bitmap over slots, which also carries a query's WHERE clause.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import faiss
import numpy as np

FORMAT = 2  # 2: hashes.npy
METRICS = {"l2": faiss.METRIC_L2, "ip": faiss.METRIC_INNER_PRODUCT, "cosine": faiss.METRIC_INNER_PRODUCT}
_EF_STEPS = (40, 48, 64, 80, 100, 128, 160, 200, 256, 320, 400, 512, 640, 800, 1000)  # 40: pgvector's default
_CALIBRATION_QUERIES = 100
_MOVE_ROWS = 1 << 16  # rows moved at a time when holding rows out: the temporary copy stays small
_PARALLEL_QUERIES = 16  # batches at least this large search on every core
# Rows of brute force that scoring one graph neighbour costs (an ef_search step scores up to 2 x m):
# measured 1.6-11 at m 16 against gathered rows, 0.2-1.6 against a bitmap over all slots.
_SCATTERED_READ = 1.5
TARGET_RECALL = 0.97  # calibrated a little above the 0.95 promised, for unseen queries


class Hits(NamedTuple):
    keys: np.ndarray
    distances: np.ndarray


class Subset(NamedTuple):
    """Some live slots and a contiguous copy of their vectors (see `FaissIndex.subset`)."""

    slots: np.ndarray
    vectors: np.ndarray


_NO_HITS = Hits(np.empty(0, np.int64), np.empty(0))


class IndexFileError(Exception):
    """An index file that is missing, truncated, corrupt, or not the one the catalog names."""


@dataclass
class FaissIndex:
    method: str  # "hnsw" | "ivfflat"
    metric: str  # "l2" | "ip" | "cosine"
    dim: int
    options: dict
    index: faiss.Index
    keys: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    alive: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    hashes: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    tuned: int | None = None  # calibrated ef_search / probes reaching TARGET_RECALL
    _lookup: tuple | None = field(default=None, repr=False)  # key -> live slot, built on demand
    _copy: np.ndarray | None = field(default=None, repr=False)  # IVF's vectors by slot
    _copied: int = field(default=0, repr=False)
    _zeros: tuple = field(default=(0, np.empty(0, bool), False), repr=False)  # see _zero_mask

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def build(cls, method: str, metric: str, dim: int, options: dict, keys: np.ndarray,
              vectors: np.ndarray, hashes: np.ndarray | None = None, progress: bool | None = None,
              owned: bool = False) -> FaissIndex:
        """Build over `vectors` (rows in `keys` order, with their `hashes`) and calibrate its default
        search depth.
        `owned`: the caller gives `vectors` up, and its rows may be reordered in place rather than
        in a copy (at 1M x 128 the copy took the build's peak memory from 5.8 to 6.7 x the vectors)."""
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        prepared = _prepare(vectors, metric)
        if np.may_share_memory(prepared, vectors) and not (owned and prepared.flags.writeable):
            prepared = prepared.copy()
        keys = np.array(keys, dtype=np.int64)
        hashes = np.zeros(len(keys), np.uint64) if hashes is None else np.array(hashes, dtype=np.uint64)
        held = _hold_out(keys, hashes, prepared)
        vectors, queries = prepared[: len(prepared) - held], prepared[len(prepared) - held :]
        if method == "hnsw":
            index = faiss.IndexHNSWFlat(dim, options["m"], METRICS[metric])
            index.hnsw.efConstruction = options["ef_construction"]
        else:
            lists = max(1, min(options["lists"], len(vectors)))
            index = faiss.IndexIVFFlat(faiss.IndexFlat(dim, METRICS[metric]), dim, lists, METRICS[metric])
            index.cp.min_points_per_centroid = 1  # small tables train too, without Faiss's warning on stderr
            sample = vectors if len(vectors) <= lists * 64 else vectors[
                np.random.default_rng(0).choice(len(vectors), lists * 64, replace=False)]
            index.train(sample if len(sample) else np.zeros((1, dim), np.float32))
        built = cls(method, metric, dim, dict(options), index)
        built._add(keys[: len(vectors)], vectors, hashes[: len(vectors)], progress)
        built.tuned = built._calibrate(queries, vectors)
        built._add(keys[len(vectors) :], queries, hashes[len(vectors) :], progress=False)
        return built

    def _add(self, keys: np.ndarray, vectors: np.ndarray, hashes: np.ndarray, progress: bool | None = None) -> None:
        """Add in one Faiss call (entries are numbered in order: the slot is the Faiss id).

        HNSW inserts a call's vectors from the highest graph level down; adding in chunks for a
        finer progress bar made a worse graph at 1M rows (recall 0.77 against 0.95 at ef 1000).
        """
        with _progress(len(vectors), progress):
            self.index.add(vectors)
        self._keep_copy(vectors)
        self.keys = np.concatenate([self.keys, keys.astype(np.int64)])
        self.alive = np.concatenate([self.alive, np.ones(len(keys), bool)])
        self.hashes = np.concatenate([self.hashes, np.asarray(hashes, dtype=np.uint64)])
        self._lookup = None

    def _calibrate(self, queries: np.ndarray, vectors: np.ndarray) -> int | None:
        """The smallest ef_search (HNSW) or probes (IVFFlat) whose recall@10 reaches the target,
        for `queries`: rows held out of the index so far, as unseen as a user's queries. (Rows in
        the index, even with noise added, are easier: their own neighbourhood leads to them.)"""
        if not len(queries):
            return None
        k = min(10, len(vectors))
        queries = _prepare(queries, self.metric)
        _, expected = faiss.knn(queries, vectors, k, metric=METRICS[self.metric])  # no copy of the vectors
        steps = _EF_STEPS if self.method == "hnsw" else _probe_steps(self.index.nlist)
        for depth in steps:
            _, found = self.index.search(queries, k, params=self._params(depth, k, None))
            hits = sum(len(np.intersect1d(f[f >= 0], e)) for f, e in zip(found, expected))
            if hits / expected.size >= TARGET_RECALL:
                return depth
        return steps[-1]

    # -- searching --------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int, depth: int, allowed: np.ndarray | None = None) -> list[Hits]:
        """Up to k nearest live rows per query, nearest first; `allowed` is a mask over slots."""
        return self._nan_last(queries, k, allowed, lambda q, within: self._search(q, k, depth, within))

    def exact(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None,
              subset: Subset | None = None) -> list[Hits]:
        """Keys of the k nearest live allowed rows per query, by brute force: for few matching rows
        this beats a graph search, and it is exact. Over a `subset` of the allowed rows gathered
        beforehand when there is one, else with Faiss's flat scan testing a bitmap at every slot."""
        return self._nan_last(queries, k, allowed, lambda q, within: self._exact(q, k, within, subset))

    def _nan_last(self, queries: np.ndarray, k: int, allowed: np.ndarray | None, search) -> list[Hits]:
        """Answer as SQL orders: queries without distances (`answerable`) get no rows, and rows
        without one (zero vectors under cosine) are left out of the search and fill in, last, with
        NaN distances, an answer short of k rows."""
        ok = self.answerable(queries)
        if not ok.any():
            return [_NO_HITS for _ in range(len(queries))]
        zeros = self._zero_mask()
        hits = search(np.where(ok[:, None], queries, 1),  # a query searched for nothing: dropped below
                      allowed if zeros is None else ~zeros if allowed is None else allowed & ~zeros)
        spare = np.empty(0, np.int64)
        if zeros is not None:
            spare = np.flatnonzero(zeros & self.alive if allowed is None else zeros & self.alive & allowed)
        return [_NO_HITS if not good else h if len(h.keys) >= k or not len(spare) else
                Hits(np.concatenate([h.keys, self.keys[spare[: k - len(h.keys)]]]),
                     np.concatenate([h.distances, np.full(min(k - len(h.keys), len(spare)), np.nan)]))
                for h, good in zip(hits, ok)]

    def _search(self, queries: np.ndarray, k: int, depth: int, allowed: np.ndarray | None) -> list[Hits]:
        _threads_for(len(queries))
        if len(self.keys) == 0 or k <= 0:
            return [_NO_HITS for _ in range(len(queries))]
        mask = self.alive if allowed is None else self.alive & allowed
        selector = None if mask.all() else self._selector(mask)
        k = min(k, len(self.keys))
        queries = _prepare(queries, self.metric)
        scores, slots = self.index.search(queries, k, params=self._params(depth, k, selector))
        if self.method == "ivfflat" and allowed is not None:
            scores, slots = self._probe_until_stable(queries, k, depth, selector, scores, slots)
        return self._hits(scores, slots)

    def _probe_until_stable(self, queries, k, depth, selector, scores, slots):
        """A filter whose rows lie in lists far from the query leaves the nearest lists with few
        or poor matches: probe twice as many lists until a query's answer holds through two
        doublings. (One was not enough: on a correlated 50% filter the answer often holds from 5
        to 10 probes, before the lists holding the nearest matching rows; recall 0.91 against 1.0.)"""
        unsettled, calm = np.arange(len(queries)), np.zeros(len(queries), int)
        while len(unsettled) and depth < self.index.nlist:
            depth *= 2
            more_scores, more_slots = self.index.search(queries[unsettled], k, params=self._params(depth, k, selector))
            same = np.array([set(a) == set(b) for a, b in zip(more_slots, slots[unsettled])], bool)
            scores[unsettled], slots[unsettled] = more_scores, more_slots
            calm[unsettled] = np.where(same, calm[unsettled] + 1, 0)
            unsettled = unsettled[calm[unsettled] < 2]
        return scores, slots

    def _hits(self, scores: np.ndarray, slots: np.ndarray) -> list[Hits]:
        """Faiss's answer as keys and SQL's distances (L2 not squared, <#> negated, cosine 1 - ip)."""
        if self.metric == "l2":
            distances = np.sqrt(np.maximum(scores, 0))
        else:
            distances = (1 - scores) if self.metric == "cosine" else -scores
        return [Hits(self.keys[row[row >= 0]], dist[row >= 0].astype(np.float64)) for row, dist in zip(slots, distances)]

    def _selector(self, mask: np.ndarray) -> faiss.IDSelector:
        bits = np.packbits(mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
        selector.bits_owner = bits  # the selector reads the array: keep it alive as long
        return selector

    def _exact(self, queries: np.ndarray, k: int, allowed: np.ndarray | None, subset: Subset | None) -> list[Hits]:
        _threads_for(len(queries))
        if subset is not None:
            k = min(k, len(subset.slots))
            if k <= 0:
                return [_NO_HITS for _ in range(len(queries))]
            scores, found = faiss.knn(_prepare(queries, self.metric), subset.vectors, k, metric=METRICS[self.metric])
            return self._hits(scores, np.where(found >= 0, subset.slots[found], -1))
        if len(self.keys) == 0 or k <= 0:
            return [_NO_HITS for _ in range(len(queries))]
        selector = self._selector(self.alive if allowed is None else self.alive & allowed)
        k = min(k, len(self.keys))
        if self.method == "hnsw":
            flat, params = self.index.storage, faiss.SearchParameters(sel=selector)
        else:
            flat, params = self.index, faiss.SearchParametersIVF(nprobe=self.index.nlist, sel=selector)
        scores, slots = flat.search(_prepare(queries, self.metric), k, params=params)
        return self._hits(scores, slots)

    def subset(self, allowed: np.ndarray) -> Subset:
        """The live allowed slots with their vectors copied together, for a filter that repeats:
        its brute force then reads a tenth of the memory a bitmap scan reads at 10% selectivity,
        in order (about 20 times faster), instead of testing every slot."""
        zeros = self._zero_mask()
        slots = np.flatnonzero(self.alive & allowed if zeros is None else self.alive & allowed & ~zeros)
        return Subset(slots, self._vectors_at(slots))

    def answerable(self, queries: np.ndarray) -> np.ndarray:
        """Which queries have distances to rows: not a NULL's NaN stand-in, nor, for cosine, a
        zero vector, whose cosine distance to every row is NaN. Those have no nearest rows: the
        searches return none, and a statement then runs exactly, as SQL orders NaN and NULL."""
        queries = np.asarray(queries)
        ok = np.isfinite(queries).all(axis=1)
        return ok & queries.any(axis=1) if self.metric == "cosine" else ok

    def _zero_mask(self) -> np.ndarray | None:
        """Cosine: a mask of the slots holding a zero vector (None when none does). Their distance
        is NaN in SQL, which sorts after every number, so the searches leave them out and rank
        them last (`_nan_last`). Each slot is looked at once, as it is first searched."""
        if self.metric != "cosine":
            return None
        seen, mask, some = self._zeros
        total = self.index.ntotal
        if seen < total:
            new = self._vectors()[seen:total] if self.method == "hnsw" else self.index.reconstruct_n(seen, total - seen)
            mask = np.concatenate([mask, ~new.any(axis=1)])
            self._zeros = seen, mask, some = total, mask, bool(mask.any())
        return mask if some else None

    def stored(self, keys: np.ndarray) -> np.ndarray | None:
        """The vectors of the live rows `keys` as the table holds them, in order; None when the
        index holds them changed (normalised for cosine) or lacks one."""
        slots = self._slots(np.asarray(keys, dtype=np.int64))
        if self.metric == "cosine" or len(slots) != len(keys):
            return None
        if self.method == "ivfflat" and self._copy is None:
            self.index.make_direct_map(True)  # an id -> list map (8 bytes a row), not a copy of the vectors
            return self.index.reconstruct_batch(slots) if len(slots) else np.empty((0, self.dim), np.float32)
        return self._vectors_at(slots)

    def missed(self, query: np.ndarray, found: np.ndarray, k: int, allowed: np.ndarray | None,
               sample: int = 2048) -> bool:
        """Whether the index likely missed more than a tenth of the k nearest allowed rows.

        Counts the allowed rows nearer than the farthest row found: all of them when they are
        few, else a random sample, scaled up. A filter whose matching rows lie far from the
        query steers a graph search astray; this is how vsql notices. Costs one small brute force.
        """
        if len(found) < k:
            return True
        slots = np.flatnonzero(self.alive if allowed is None else self.alive & allowed)
        found_scores = self._score(query, self._slots(np.asarray(found, dtype=np.int64)))
        worst = found_scores.max()
        picked, scale = slots, 1.0
        if len(slots) > sample:
            picked = np.unique(slots[np.random.default_rng(len(slots)).integers(0, len(slots), sample)])
            scale = len(slots) / len(picked)
        nearer = int((self._score(query, picked) < worst).sum())
        missing = nearer * scale - int((found_scores < worst).sum())
        return missing > 0.1 * k + 2 * np.sqrt(nearer) * (scale if scale > 1 else 0)

    def _score(self, query: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Exact scores, lower is nearer, in the index's own terms (squared L2 or -inner product)."""
        rows = self._vectors_at(slots)
        q = _prepare(query[None, :], self.metric)[0]
        if self.metric == "l2":
            diff = rows - q
            return np.einsum("ij,ij->i", diff, diff)
        return -(rows @ q)

    def _vectors_at(self, slots: np.ndarray) -> np.ndarray:
        return self._vectors()[slots]

    def _vectors(self) -> np.ndarray:
        """Every slot's vector: HNSW's own flat storage, or (IVF lists hold them scattered) a
        contiguous copy kept beside the index."""
        if self.method == "hnsw":
            storage = faiss.downcast_index(self.index.storage)
            everything = faiss.rev_swig_ptr(storage.get_xb(), self.index.ntotal * self.dim)
            return np.asarray(everything).reshape(self.index.ntotal, self.dim)
        if self._copy is None:
            self.index.make_direct_map(True)
            self._copy = self.index.reconstruct_n(0, self.index.ntotal)
            self._copied = len(self._copy)
        return self._copy[: self._copied]

    def _keep_copy(self, part: np.ndarray) -> None:
        """Append to IVF's copy of the vectors, in room that doubles as it fills."""
        if self._copy is None:
            return
        end = self._copied + len(part)
        if end > len(self._copy):
            grown = np.empty((max(end, 2 * len(self._copy)), self.dim), np.float32)
            grown[: self._copied] = self._copy[: self._copied]
            self._copy = grown
        self._copy[self._copied : end] = part
        self._copied = end

    def slots_for(self, keys: np.ndarray) -> np.ndarray:
        """A mask over slots holding the live entries of `keys`."""
        mask = np.zeros(len(self.keys), bool)
        mask[self._slots(np.asarray(keys, dtype=np.int64))] = True
        return mask

    def slots_of(self, keys: np.ndarray) -> np.ndarray:
        """The live slots holding `keys` (keys without one are left out)."""
        return self._slots(np.asarray(keys, dtype=np.int64))

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        if self._lookup is None:
            live = np.flatnonzero(self.alive)
            live_keys = self.keys[live]
            if len(live_keys) and live_keys.min() >= 0 and live_keys.max() < 4 * len(live_keys) + 1024:
                table = np.full(live_keys.max() + 1, -1, np.int64)
                table[live_keys] = live
                self._lookup = ("dense", table)
            else:
                order = np.argsort(live_keys, kind="stable")
                self._lookup = ("sorted", live_keys[order], live[order])
        if self._lookup[0] == "dense":
            table = self._lookup[1]
            keys = keys[(keys >= 0) & (keys < len(table))]
            slots = table[keys]
            return slots[slots >= 0]
        _, sorted_keys, sorted_slots = self._lookup
        if not len(sorted_keys):
            return np.empty(0, np.int64)
        pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
        return sorted_slots[pos[sorted_keys[pos] == keys]]

    def _params(self, depth: int, k: int, selector) -> faiss.SearchParameters:
        if self.method == "hnsw":
            return faiss.SearchParametersHNSW(efSearch=int(max(depth, k)), sel=selector)
        return faiss.SearchParametersIVF(nprobe=int(min(max(depth, 1), self.index.nlist)), sel=selector)

    # -- maintenance ------------------------------------------------------------------------

    def apply(self, changed: np.ndarray, keys: np.ndarray, vectors: np.ndarray, hashes: np.ndarray) -> None:
        """Rows `changed` were written: drop their old entries, add their current vectors
        (`keys` are the changed rows that still have one, with their `hashes`).

        A row whose vector did not change (an UPDATE of other columns) keeps its entry.
        """
        keys, hashes = np.asarray(keys, dtype=np.int64), np.asarray(hashes, dtype=np.uint64)
        same = ~_missing(_pairs(keys, hashes), self._live_pairs())
        dropped = np.setdiff1d(np.asarray(changed, dtype=np.int64), keys[same])
        self.alive[self._slots(dropped)] = False
        self._lookup = None
        if (~same).any():
            self._add(keys[~same], _prepare(vectors[~same], self.metric), hashes[~same], progress=False)

    def diff(self, keys: np.ndarray, hashes: np.ndarray) -> np.ndarray:
        """The keys of rows that differ between the index and a table holding rows `keys` with
        vectors hashed to `hashes`: added, removed, or with another vector."""
        table = _pairs(np.asarray(keys, dtype=np.int64), np.asarray(hashes, dtype=np.uint64))
        live = np.flatnonzero(self.alive)
        held = self._live_pairs()
        return np.union1d(self.keys[live][_missing(held, table)], np.asarray(keys, dtype=np.int64)[_missing(table, held)])

    def _live_pairs(self) -> np.ndarray:
        live = np.flatnonzero(self.alive)
        return _pairs(self.keys[live], self.hashes[live])

    @property
    def rows_per_depth(self) -> float:
        """About how many rows a brute force reads in the time one unit of search depth costs:
        an ef_search step of HNSW scores up to 2 x m neighbours scattered in memory, an IVF probe
        scans one list, dead entries included (and without counting the alive mask per query)."""
        if self.method == "hnsw":
            return _SCATTERED_READ * 2 * self.options["m"]
        return self.index.ntotal / self.index.nlist

    @property
    def live(self) -> int:
        return int(self.alive.sum())

    @property
    def dead(self) -> int:
        return len(self.keys) - self.live

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: Path, meta: dict) -> int:
        """Write atomically (temporary file, fsync, rename); returns the size in bytes."""
        header = {"format": FORMAT, "method": self.method, "metric": self.metric, "dim": self.dim,
                  "options": self.options, "tuned": self.tuned, **meta}
        tmp = path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as out:
                with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
                    archive.writestr("meta.json", json.dumps(header))
                    with archive.open("index.faiss", "w", force_zip64=True) as member:  # streamed, not copied
                        faiss.write_index(self.index, faiss.PyCallbackIOWriter(member.write))
                    archive.writestr("keys.npy", _npy(self.keys))
                    archive.writestr("alive.npy", _npy(self.alive))
                    archive.writestr("hashes.npy", _npy(self.hashes))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:  # a full disk, a name too long: leave no half-written file behind
            tmp.unlink(missing_ok=True)
            raise
        return path.stat().st_size

    @classmethod
    def load(cls, path: Path, expect: dict) -> tuple[FaissIndex, dict]:
        """Load a saved index, refusing a file whose metadata differs from `expect`."""
        try:
            with zipfile.ZipFile(path) as archive:
                meta = json.loads(archive.read("meta.json"))
                for name, value in {"format": FORMAT, **expect}.items():
                    if meta.get(name) != value:
                        raise IndexFileError(f"{path.name}: {name} is {meta.get(name)!r}, expected {value!r}")
                index = faiss.deserialize_index(np.frombuffer(archive.read("index.faiss"), np.uint8))
                keys = np.load(io.BytesIO(archive.read("keys.npy")))
                alive = np.load(io.BytesIO(archive.read("alive.npy")))
                hashes = np.load(io.BytesIO(archive.read("hashes.npy")))
        except IndexFileError:
            raise
        except (OSError, zipfile.BadZipFile, ValueError, KeyError, RuntimeError) as error:
            raise IndexFileError(f"{path.name}: {error}") from error
        if index.ntotal != len(keys) or len(alive) != len(keys) or len(hashes) != len(keys) or index.d != meta["dim"]:
            raise IndexFileError(f"{path.name}: its parts do not agree")
        loaded = cls(meta["method"], meta["metric"], meta["dim"], meta["options"], index, keys, alive, hashes,
                     meta["tuned"])
        return loaded, meta


def _threads_for(queries: int) -> None:
    """Search a few queries on the calling thread alone, a batch on every core. Faiss splits even
    one query's brute force across its OpenMP threads, and on a busy machine a parallel region
    waits for a descheduled thread: one 10,000-row scan took 0.09 ms median, 0.2 ms mean on one
    thread and 0.25 ms median, 4.8 ms mean (p99 28 ms) on two. The setting is the calling thread's."""
    faiss.omp_set_num_threads(1 if queries < _PARALLEL_QUERIES else os.cpu_count() or 1)


def _prepare(vectors: np.ndarray, metric: str) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if metric == "cosine" and len(vectors):
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1)
    return vectors


def depth_steps(index: FaissIndex) -> tuple[int, ...]:
    """The search depths tuning tries, shallowest first (below pgvector's default ef_search too)."""
    return (10, 16, 20, 24, 32, *_EF_STEPS) if index.method == "hnsw" else _probe_steps(index.index.nlist)


def _probe_steps(lists: int) -> tuple[int, ...]:
    steps = sorted({max(1, round(lists * f)) for f in (0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)})
    return tuple(steps)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _pairs(keys: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """(key, vector hash) pairs folded into one 64-bit value each, to compare sets of them."""
    return hashes ^ (keys.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15))


def _missing(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """A mask over `values` of those not in `table`, by sorting both: np.isin took 1.4 s for
    1M 64-bit values against 1M, this about 0.1 s."""
    if not len(table):
        return np.ones(len(values), bool)
    order = np.argsort(values)
    ordered, table = values[order], np.sort(table)
    found = table[np.minimum(np.searchsorted(table, ordered), len(table) - 1)] == ordered
    mask = np.empty(len(values), bool)
    mask[order] = ~found
    return mask


def _hold_out(keys: np.ndarray, hashes: np.ndarray, vectors: np.ndarray) -> int:
    """Move the rows a new index leaves out until its search depth is calibrated on them to the
    end, in place, the others keeping their order, and return how many: up to 100 picked at
    random, a tenth of a small table, none of a table too small to tune."""
    rows = len(vectors)
    count = 0 if rows <= 10 else min(_CALIBRATION_QUERIES, rows // 10)
    held = np.sort(np.random.default_rng(1).choice(rows, count, replace=False))
    for array in (keys, hashes, vectors):
        picked = array[held]  # a copy: fancy indexing
        for shift, (start, stop) in enumerate(zip(held, [*held[1:], rows]), 1):
            for begin in range(start + 1, stop, _MOVE_ROWS):  # in bounded steps: no copy of a long run
                end = min(begin + _MOVE_ROWS, stop)
                array[begin - shift : end - shift] = array[begin:end]
        array[rows - count :] = picked
    return count


@contextmanager
def _progress(total: int, show: bool | None):
    """A bar for long builds, shown only where a person is watching. Faiss reports no progress
    from inside one `add`, so the bar ticks elapsed time while the add runs, then fills."""
    if show is None:
        show = total >= 50_000 and (sys.stderr.isatty() or "ipykernel" in sys.modules)
    if not show:
        yield
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc="building index", unit="vec", leave=False, mininterval=0.5) as bar:
        done = threading.Event()

        def tick() -> None:
            while not done.wait(0.5):
                bar.refresh()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()
            bar.update(total)
