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

from vsql.errors import NotSupportedError
from vsql.index.methods import METHODS, Method
from vsql.sql.metrics import INDEXED, Metric

FORMAT = 2  # 2: hashes.npy
_CALIBRATION_QUERIES = 100
_MOVE_ROWS = 1 << 16  # rows moved at a time when holding rows out: the temporary copy stays small
_PARALLEL_QUERIES = 16  # batches at least this large search on every core
TARGET_RECALL = 0.97  # calibrated a little above the 0.95 promised, for unseen queries
KNEE = 0.005  # recall two deeper calibration steps must add, else calibration stops short of the target


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
    method: str  # a name in methods.METHODS
    metric: str  # a name in metrics.INDEXED
    dim: int
    options: dict
    index: faiss.Index
    keys: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    alive: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    hashes: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    tuned: int | None = None  # calibrated ef_search / probes reaching TARGET_RECALL (or the knee short of it)
    reached: float | None = None  # the recall@10 calibration measured there
    _lookup: tuple | None = field(default=None, repr=False)  # key -> live slot, built on demand
    _duplicates: bool | None = field(default=None, repr=False)  # see `duplicated`; None: not counted since a write
    _live: int | None = field(default=None, repr=False)  # see `live`
    _copy: np.ndarray | None = field(default=None, repr=False)  # IVF's vectors by slot
    _copied: int = field(default=0, repr=False)
    _zeros: tuple = field(default=(0, np.empty(0, bool), False), repr=False)  # see _zero_mask

    @property
    def access(self) -> Method:
        return METHODS[self.method]

    @property
    def distance(self) -> Metric:
        return INDEXED[self.metric]

    @property
    def lossless(self) -> bool:
        """Whether the index stores the rows' own vectors (not coded by a quantizer): brute force
        over them is exact, and they give the engine's distances."""
        return self.access.keeps_vectors(self.options)

    @property
    def refine(self) -> int:
        """Candidates to ask for per row wanted: a quantized index's are re-ranked exactly after."""
        return self.access.refine(self.options)

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
        index = METHODS[method].create(dim, _faiss_metric(metric), options, vectors)
        built = cls(method, metric, dim, dict(options), index)
        built._add(keys[: len(vectors)], vectors, hashes[: len(vectors)], progress)
        built.tuned, built.reached = built._calibrate(queries, vectors)
        built._add(keys[len(vectors) :], queries, hashes[len(vectors) :], progress=False)
        return built

    def _add(self, keys: np.ndarray, vectors: np.ndarray, hashes: np.ndarray, progress: bool | None = None) -> None:
        """Add in one Faiss call (entries are numbered in order: the slot is the Faiss id).

        HNSW inserts a call's vectors from the highest graph level down; adding in chunks for a
        finer progress bar made a worse graph at 1M rows (recall 0.77 against 0.95 at ef 1000).
        """
        with _progress(len(vectors), progress, dim=self.dim):
            self.index.add(vectors)
        self._keep_copy(vectors)
        self.keys = np.concatenate([self.keys, keys.astype(np.int64)])
        self.alive = np.concatenate([self.alive, np.ones(len(keys), bool)])
        self.hashes = np.concatenate([self.hashes, np.asarray(hashes, dtype=np.uint64)])
        self._lookup = self._duplicates = self._live = None

    def _calibrate(self, queries: np.ndarray, vectors: np.ndarray) -> tuple[int | None, float | None]:
        """The smallest ef_search (HNSW) or probes (IVFFlat) whose recall@10 reaches the target,
        for `queries`: rows held out of the index so far, as unseen as a user's queries (rows in the
        index, even with noise added, are easier: their own neighbourhood leads to them); and the
        recall measured there. A graph or lists that cannot reach the target stop at the knee: the
        first depth after which two deeper steps gain less than KNEE (a deeper search costs time
        for nothing), and the recall says how far short it is."""
        if not len(queries):
            return None, None
        k = min(10, len(vectors))
        queries = _prepare(queries, self.metric)
        _, expected = faiss.knn(queries, vectors, k, metric=_faiss_metric(self.metric))  # no copy of the vectors
        wanted = min(k * self.refine, len(vectors))
        reached: list[tuple[int, float]] = []
        steps = self.access.calibration_steps(self.index)
        with _progress(len(steps), None, "calibrating", self.access.depth_label, len(self.keys) * self.dim // len(steps)) as bar:
            for depth in steps:
                _, found = self.index.search(queries, wanted, params=self._params(depth, wanted, None))
                found = self._reranked(queries, found, vectors, k)
                recall = sum(len(np.intersect1d(f[f >= 0], e)) for f, e in zip(found, expected)) / expected.size
                if bar is not None:
                    bar.update()
                if recall >= TARGET_RECALL:
                    return depth, recall
                reached.append((depth, recall))
                if len(reached) >= 3 and reached[-1][1] - reached[-3][1] < KNEE:
                    return reached[-3]
        return max(reached, key=lambda step: step[1])

    def _reranked(self, queries: np.ndarray, found: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
        """The k nearest of each query's candidates `found` (slots of `vectors`, the rows
        themselves) by exact distance: what a quantized index's search gives once the engine has
        re-ranked them. A lossless index's are its answer as they are."""
        if self.lossless:
            return found
        ranked = np.full((len(found), k), -1, np.int64)
        for row, (query, slots) in enumerate(zip(queries, found)):
            slots = slots[slots >= 0]
            nearest = slots[np.argsort(self.distance.distances(query[None, :], vectors[slots])[0], kind="stable")[:k]]
            ranked[row, : len(nearest)] = nearest
        return ranked

    def shortfall(self) -> str | None:
        """What to tell a user whose index's calibration stopped short of its target recall."""
        if self.reached is None or self.reached >= TARGET_RECALL:
            return None
        return (f"calibration reached recall@10 {self.reached:.3f} at {self.access.depth_label} {self.tuned}, short of "
                f"{TARGET_RECALL}: deeper searches gained nothing; {self.access.remedy}")

    # -- searching --------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int, depth: int, allowed: np.ndarray | None = None) -> list[Hits]:
        """Up to k nearest live rows per query, nearest first; `allowed` is a mask over slots."""
        return self._nan_last(queries, k, allowed, lambda q, within: self._search(q, k, depth, within))

    def exact(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None,
              subset: Subset | None = None) -> list[Hits]:
        """Keys of the k nearest live allowed rows per query, by brute force: for few matching rows
        this beats a graph search, and it is exact (refused where the method's stored vectors are
        lossy). Over a `subset` of the allowed rows gathered beforehand when there is one, else
        with Faiss's flat scan testing a bitmap at every slot."""
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
        scores, slots = self.access.search(self.index, queries, k, depth, selector, filtered=allowed is not None)
        return self._hits(scores, slots)

    def _hits(self, scores: np.ndarray, slots: np.ndarray) -> list[Hits]:
        """Faiss's answer as keys and SQL's distances."""
        distances = self.distance.from_faiss(scores)
        return [Hits(self.keys[row[row >= 0]], dist[row >= 0].astype(np.float64)) for row, dist in zip(slots, distances)]

    def _selector(self, mask: np.ndarray) -> faiss.IDSelector:
        bits = np.packbits(mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
        selector.bits_owner = bits  # the selector reads the array: keep it alive as long
        return selector

    def scan(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[Hits]:
        """The k nearest live allowed rows per query by a flat scan of the vectors as stored: exact
        for a lossless index; for a quantized one, by coded distances (ask for k x `refine` and
        re-rank them exactly)."""
        return self._nan_last(queries, k, allowed, lambda q, within: self._scan(q, k, within))

    def _exact(self, queries: np.ndarray, k: int, allowed: np.ndarray | None, subset: Subset | None) -> list[Hits]:
        if subset is None:
            self._lossless("brute force")
            return self._scan(queries, k, allowed)
        _threads_for(len(queries))
        if subset is not None:
            k = min(k, len(subset.slots))
            if k <= 0:
                return [_NO_HITS for _ in range(len(queries))]
            scores, found = faiss.knn(_prepare(queries, self.metric), subset.vectors, k,
                                      metric=_faiss_metric(self.metric))
            return self._hits(scores, np.where(found >= 0, subset.slots[found], -1))

    def _scan(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> list[Hits]:
        _threads_for(len(queries))
        if len(self.keys) == 0 or k <= 0:
            return [_NO_HITS for _ in range(len(queries))]
        selector = self._selector(self.alive if allowed is None else self.alive & allowed)
        k = min(k, len(self.keys))
        flat, params = self.access.scan(self.index, selector)
        scores, slots = flat.search(_prepare(queries, self.metric), k, params=params)
        return self._hits(scores, slots)

    def subset(self, allowed: np.ndarray) -> Subset:
        """The live allowed slots with their vectors copied together, for a filter that repeats:
        its brute force then reads a tenth of the memory a bitmap scan reads at 10% selectivity,
        in order (about 20 times faster), instead of testing every slot."""
        self._lossless("brute force")
        zeros = self._zero_mask()
        slots = np.flatnonzero(self.alive & allowed if zeros is None else self.alive & allowed & ~zeros)
        return Subset(slots, self._vectors_at(slots))

    def gathered(self, keys: np.ndarray, vectors: np.ndarray) -> Subset:
        """The live slots of rows `keys` with their `vectors` as the table holds them: brute force
        over a quantized index's rows, whose stored vectors are approximate (see `subset`)."""
        keys = np.asarray(keys, dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        slots = self._slots(keys)
        rows = order[np.searchsorted(keys, self.keys[slots], sorter=order)]
        vectors = _prepare(vectors[rows], self.metric)
        if self.distance.normalized:  # no distance to a zero vector: `_nan_last` ranks those last
            slots, vectors = slots[vectors.any(axis=1)], vectors[vectors.any(axis=1)]
        return Subset(slots, np.ascontiguousarray(vectors))

    def answerable(self, queries: np.ndarray) -> np.ndarray:
        """Which queries have distances to rows: not a NULL's NaN stand-in, nor, for a normalised
        metric (cosine), a zero vector, whose distance to every row is NaN. Those have no nearest
        rows: the searches return none, and a statement then runs exactly, as SQL orders NaN and NULL."""
        queries = np.asarray(queries)
        ok = np.isfinite(queries).all(axis=1)
        return ok & queries.any(axis=1) if self.distance.normalized else ok

    def _zero_mask(self) -> np.ndarray | None:
        """A normalised metric (cosine): a mask of the slots holding a zero vector (None when none
        does). Their distance is NaN in SQL, which sorts after every number, so the searches leave
        them out and rank them last (`_nan_last`). Each slot is looked at once, as it is first searched."""
        if not self.distance.normalized:
            return None
        seen, mask, some = self._zeros
        total = self.index.ntotal
        if seen < total:
            mask = np.concatenate([mask, self._zero_rows(seen, total)])
            self._zeros = seen, mask, some = total, mask, bool(mask.any())
        return mask if some else None

    def _zero_rows(self, start: int, stop: int) -> np.ndarray:
        """Which of slots start..stop hold a zero vector, decoded a chunk at a time where they are not
        held. A quantized index's unit vectors decode to a norm near 1, its zero ones near 0."""
        if self._held():
            return ~self._vectors()[start:stop].any(axis=1)
        parts = [np.empty(0, bool)]
        for begin in range(start, stop, _MOVE_ROWS):
            part = self._reconstruct(np.arange(begin, min(begin + _MOVE_ROWS, stop)))
            parts.append(~part.any(axis=1) if self.lossless else np.einsum("ij,ij->i", part, part) < 0.25)
        return np.concatenate(parts)

    def stored(self, keys: np.ndarray) -> np.ndarray | None:
        """The vectors of the live rows `keys` as the table holds them, in order; None when the
        index holds them changed (normalised, or approximated by a lossy method) or lacks one."""
        slots = self._slots(np.asarray(keys, dtype=np.int64))
        if self.distance.normalized or not self.lossless or len(slots) != len(keys):
            return None
        return self._vectors_at(slots) if self._held() else self._reconstruct(slots)

    def missed(self, query: np.ndarray, found: np.ndarray, k: int, allowed: np.ndarray | None,
               sample: int = 2048) -> bool:
        """Whether the index missed any of the k nearest allowed rows when they are few enough to
        count them all, or likely more than a tenth of them, from a random sample, when they are not.

        Counts the allowed rows nearer than the farthest row found. A filter whose matching rows
        lie far from the query steers a graph search astray, and so do many copies of one vector;
        this is how vsql notices. Costs one small brute force.
        """
        if len(found) < k:
            return True
        if not len(found):  # nothing found, nothing expected (a query with no distances)
            return False
        slots = np.flatnonzero(self.alive if allowed is None else self.alive & allowed)
        found_scores = self._score(query, self._slots(np.asarray(found, dtype=np.int64)))
        worst = found_scores.max()
        picked, scale = slots, 1.0
        if len(slots) > sample:
            picked = np.unique(slots[np.random.default_rng(len(slots)).integers(0, len(slots), sample)])
            scale = len(slots) / len(picked)
        nearer = int((self._score(query, picked) < worst).sum())
        missing = nearer * scale - int((found_scores < worst).sum())
        if scale == 1.0:  # counted, not estimated: a missed row is certain, and brute force cheap
            return missing > 0
        return missing > 0.1 * k + 2 * np.sqrt(nearer) * scale

    def _score(self, query: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Distances, lower is nearer; none (a zero vector under cosine) is farthest. Exact for a
        lossless index; a quantized one's are those of its decoded vectors, for just these slots
        (no full copy, which would undo the saving): the check estimates whether a search strayed,
        and the answer is re-ranked exactly anyway. A method whose vectors are lossy by
        declaration, not by a quantizer's bounded coding, promises no such estimate: refused."""
        if not self.access.lossless:
            self._lossless("a sampled check")
        distances = self.distance.distances(query[None, :], self._vectors_at(slots))[0]
        return np.where(np.isnan(distances), np.inf, distances)

    def _vectors_at(self, slots: np.ndarray) -> np.ndarray:
        """The vectors of `slots`: a quantized index's decoded, one by one, never all at once."""
        return self._vectors()[slots] if self.lossless else self._reconstruct(slots)

    def _vectors(self) -> np.ndarray:
        """Every slot's vector: read in place where the method stores them flat (HNSW), else a
        contiguous copy kept beside the index (IVF's lists hold them scattered)."""
        view = self.access.view(self.index)
        if view is not None:
            return view
        if self._copy is None:
            self._copy = self._reconstruct(np.arange(self.index.ntotal))
            self._copied = len(self._copy)
        return self._copy[: self._copied]

    def _held(self) -> bool:
        """Whether every slot's vector can be read without reconstructing it from the index (never
        a quantized one's: they would be decoded all at once)."""
        return self.lossless and (self._copy is not None or self.access.view(self.index) is not None)

    def _reconstruct(self, slots: np.ndarray) -> np.ndarray:
        self.access.readable(self.index)
        return self.index.reconstruct_batch(slots) if len(slots) else np.empty((0, self.dim), np.float32)

    def _lossless(self, what: str) -> None:
        """Refuse to treat a lossy method's stored vectors as the rows' own."""
        if not self.lossless:
            raise NotSupportedError(f"{what} over a {self.method} index is not exact: it stores approximate vectors")

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
        return self.access.params(self.index, depth, k, selector)

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
        self._lookup = self._duplicates = self._live = None
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
        """About how many rows a brute force reads in the time one unit of search depth costs."""
        return self.access.rows_per_depth(self.index, self.options)

    @property
    def duplicated(self) -> bool:
        """Whether more than 1% of the live rows share their vector with another row. HNSW's
        neighbour pruning leaves the copies of one vector with few links, and a graph search
        then misses rows (in 29 of 30 small tables with 30% zero vectors): searches of such an
        index check their answers as filtered ones do (`missed`)."""
        if self._duplicates is None:  # counted once per write, not per query
            live = self.hashes[self.alive]
            self._duplicates = len(live) - len(np.unique(live)) > 0.01 * len(live)
        return self._duplicates

    @property
    def live(self) -> int:
        if self._live is None:  # counted once per write, not per query (an O(n) sum: 0.04 ms at 100k)
            self._live = int(self.alive.sum())
        return self._live

    @property
    def dead(self) -> int:
        return len(self.keys) - self.live

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: Path, meta: dict) -> int:
        """Write atomically (temporary file, fsync, rename); returns the size in bytes."""
        header = {"format": FORMAT, "method": self.method, "metric": self.metric, "dim": self.dim,
                  "options": self.options, "tuned": self.tuned, "reached": self.reached, **meta}
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
                     meta["tuned"], meta.get("reached"))
        return loaded, meta


def _threads_for(queries: int) -> None:
    """Search a few queries on the calling thread alone, a batch on every core. Faiss splits even
    one query's brute force across its OpenMP threads, and on a busy machine a parallel region
    waits for a descheduled thread: one 10,000-row scan took 0.09 ms median, 0.2 ms mean on one
    thread and 0.25 ms median, 4.8 ms mean (p99 28 ms) on two. The setting is the calling thread's."""
    faiss.omp_set_num_threads(1 if queries < _PARALLEL_QUERIES else os.cpu_count() or 1)


def _prepare(vectors: np.ndarray, metric: str) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if INDEXED[metric].normalized and len(vectors):
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1)
    return vectors


def _faiss_metric(metric: str) -> int:
    return getattr(faiss, INDEXED[metric].faiss)


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


def _watched(work: int) -> bool:
    """Whether a person watches (a terminal or a notebook, not a script or CI) a step of `work`
    (rows x dimensions) long enough to want a bar: 2M takes a few seconds on 2 cores."""
    return work >= 2_000_000 and (sys.stderr.isatty() or "ipykernel" in sys.modules)


@contextmanager
def _progress(total: int, show: bool | None, desc: str = "building index", unit: str = "vec", dim: int = 1):
    """A bar for long builds, shown only where a person is watching (`show` None: `_watched`).
    Faiss reports no progress from inside one `add`, so the bar ticks elapsed time while the add
    runs, then fills; a caller that steps (calibration) updates it itself."""
    if show is None:
        show = _watched(total * dim)
    if not show:
        yield None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=desc, unit=unit, leave=False, mininterval=0.5) as bar:
        done = threading.Event()

        def tick() -> None:
            while not done.wait(0.5):
                bar.refresh()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield bar
        finally:
            done.set()
            ticker.join()
            bar.update(total - bar.n)
