"""pgvector's index access methods, each one object: what `USING hnsw` or `USING ivfflat` means.

A method declares pgvector's options (names, defaults, ranges, cross-checks, errors worded as
pgvector words them), how its Faiss index is built and searched, its search depth (the setting
that overrides it, EXPLAIN's label, the steps calibration and tuning try, the default scaled to
k, what one unit of it costs in rows of brute force), how brute force over its stored vectors
runs, and whether those vectors are lossless, so that brute force over them is exact. Nothing
else in vsql asks which method an index uses: adding one is adding an entry to METHODS.

Beyond pgvector, `WITH (quantizer = ...)` codes the stored vectors smaller (QUANTIZERS): an
entry says with which methods it builds, whether its vectors are still the rows' own, and how
many candidates a search asks for per row wanted, since the engine re-ranks them exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from sqlglot import exp

from vsql.errors import ProgrammingError

if TYPE_CHECKING:
    import faiss


def _faiss():
    """Faiss, loaded when an index is built or searched: planning a statement reads only the
    methods' declarations (options, settings), and loads no index library."""
    import faiss

    return faiss

# Rows of brute force that scoring one graph neighbour costs (an ef_search step scores up to 2 x m):
# measured 1.6-11 at m 16 against gathered rows, 0.2-1.6 against a bitmap over all slots.
_SCATTERED_READ = 1.5


@dataclass(frozen=True)
class Option:
    """An integer option, as pgvector's are. `requires`: (option, value) it applies under, as
    `pq_m` applies to `quantizer = 'pq'` only; `listed`: pgvector's own, always in an index's
    options. vsql's are there only once given, so that pgvector's indexes read as pgvector's."""

    default: int
    low: int
    high: int
    requires: tuple[str, str] | None = None
    listed: bool = True

    def read(self, name: str, value: exp.Expr) -> int:
        number = _integer(name, value)
        if not self.low <= number <= self.high:
            raise ProgrammingError(f'value {number} out of bounds for option "{name}": '
                                   f"valid values are {self.low} .. {self.high}")
        return number


@dataclass(frozen=True)
class Choice:
    """A string option taking one of `values` (PostgreSQL's enum reloptions)."""

    default: str
    values: tuple[str, ...]
    requires: tuple[str, str] | None = None
    listed: bool = False

    def read(self, name: str, value: exp.Expr) -> str:
        text = value.name.lower() if isinstance(value, (exp.Literal, exp.Identifier, exp.Column)) else value.sql()
        if text not in self.values:
            raise ProgrammingError(f'invalid value for enum option "{name}": {text} '
                                   f'(valid values are {", ".join(map(repr, self.values))})')
        return text


@dataclass(frozen=True)
class Quantizer:
    """How an index codes the vectors it stores. `hnsw` / `ivf`: the Faiss index it makes for that
    method (None: not with it); `metrics`: the Faiss metrics (MetricType numbers: 0 inner product,
    which cosine uses too, 1 L2) its codes compute, None: every one; `refine`: candidates a search
    asks for per row wanted, re-ranked by their exact distances (Faiss's IndexRefine k_factor)."""

    name: str
    lossless: bool = False
    refine: int = 1
    metrics: tuple[int, ...] | None = (0, 1)  # Faiss's scalar quantizer aborts the process on L1 (and Jaccard)
    train: int = 0  # rows its codes want to train on, at least
    hnsw: Callable[..., faiss.Index] | None = None  # (dim, m, metric, options)
    ivfflat: Callable[..., faiss.Index] | None = None  # (coarse quantizer, dim, lists, metric, options)

    def index(self, method: str, metric: int, *args) -> faiss.Index:
        """The Faiss index coding `method`'s vectors, refused with an error a user can act on."""
        if self.metrics is not None and metric not in self.metrics:
            known = {0: "inner product", 1: "L2"}
            raise ProgrammingError(f'quantizer "{self.name}" supports {" and ".join(known[m] for m in self.metrics)} '
                                   "distances only: use quantizer = 'none'")
        try:
            return getattr(self, method)(*args)
        except RuntimeError as error:  # Faiss refusing a metric (HNSW over RaBitQ knows L2 only)
            raise ProgrammingError(f'quantizer "{self.name}" of {method}: {str(error).rsplit(": ", 1)[-1]}') from None


def _pq_bits(train: int) -> int:
    """Bits per product-quantizer code: 8 (256 centroids per sub-vector), fewer for a table too small to train 256."""
    return int(max(1, min(8, np.log2(max(train, 2)))))


_RABITQ_BITS = 4
QUANTIZERS: dict[str, Quantizer] = {q.name: q for q in (
    Quantizer("none", lossless=True, metrics=None,
              hnsw=lambda dim, m, metric, o: _faiss().IndexHNSWFlat(dim, m, metric),
              ivfflat=lambda coarse, dim, lists, metric, o: _faiss().IndexIVFFlat(coarse, dim, lists, metric)),
    # 8 bits per dimension, each scaled between its minimum and maximum: a quarter of the size
    Quantizer("sq8", refine=2,
              hnsw=lambda dim, m, metric, o: _faiss().IndexHNSWSQ(dim, _faiss().ScalarQuantizer.QT_8bit, m, metric),
              ivfflat=lambda coarse, dim, lists, metric, o: _faiss().IndexIVFScalarQuantizer(
                  coarse, dim, lists, _faiss().ScalarQuantizer.QT_8bit, metric)),
    Quantizer("fp16", refine=2,
              hnsw=lambda dim, m, metric, o: _faiss().IndexHNSWSQ(dim, _faiss().ScalarQuantizer.QT_fp16, m, metric),
              ivfflat=lambda coarse, dim, lists, metric, o: _faiss().IndexIVFScalarQuantizer(
                  coarse, dim, lists, _faiss().ScalarQuantizer.QT_fp16, metric)),
    # pq_m codes of 8 bits per vector (39 x 256 rows: Faiss's minimum to train 256 centroids). Not
    # with HNSW: Faiss builds the graph on PQ's coarse distances, a poor graph
    Quantizer("pq", refine=10, train=9984, ivfflat=lambda coarse, dim, lists, metric, o: _ivfpq(coarse, dim, lists, metric, o)),
    # RaBitQ with 4 bits per dimension and a correction per vector (1 bit reached recall@10 0.76
    # with 80 candidates at 100k x 128 clustered, 4 bits 0.999 with 40); Faiss's HNSW over it knows L2 only
    Quantizer("rabitq", refine=4,
              hnsw=lambda dim, m, metric, o: _faiss().IndexHNSWRaBitQ(dim, m, _RABITQ_BITS, metric),
              ivfflat=lambda coarse, dim, lists, metric, o: _faiss().IndexIVFRaBitQ(
                  coarse, dim, lists, metric, True, _RABITQ_BITS)),
)}


def _ivfpq(coarse, dim: int, lists: int, metric: int, options: dict) -> faiss.Index:
    index = _faiss().IndexIVFPQ(coarse, dim, lists, options["pq_m"], options["pq_bits"], metric)
    index.pq.cp.min_points_per_centroid = 1  # small tables train too, without Faiss's warning on stderr
    return index


def _quantizers(method: str) -> Choice:
    """The `quantizer` option of `method`: the entries that build with it."""
    return Choice("none", tuple(name for name, q in QUANTIZERS.items() if getattr(q, method) is not None))


def _pq_m(options: dict, dim: int) -> int:
    """pq_m as given, else (0) the largest divisor of the dimension up to a quarter of it: 4 dimensions a byte."""
    return options.get("pq_m") or max(m for m in range(1, max(1, dim // 4) + 1) if dim % m == 0)


class Method:
    """An access method; subclasses fill in the Faiss side."""

    name: str
    options: ClassVar[dict[str, Option]]
    depth_setting: str  # the setting a user overrides the depth with
    depth_label: str  # the depth's name in EXPLAIN
    remedy: str  # what to do when calibration cannot reach its target recall
    lossless = True  # stored vectors are the rows' own: brute force over them is exact
    coding: str  # the Quantizer field that builds its Faiss index (a subclass keeps its parent's)

    def configure(self, given: list[tuple[str, exp.Expr]], base: dict | None = None) -> dict:
        """The options of `WITH (name = value, ...)` over `base` (default: pgvector's defaults),
        checked with pgvector's errors."""
        options = dict(base) if base else {name: option.default for name, option in self.options.items() if option.listed}
        seen = set()
        for name, value in given:
            name = name.lower()
            if name not in self.options:
                own = [n for n, option in self.options.items() if not option.listed]
                raise ProgrammingError(f'unrecognized parameter "{name}" for {self.name} (allowed: '
                                       f'{", ".join(n for n in self.options if n not in own)})'
                                       + (f'; beyond pgvector: {", ".join(own)}' if own else ""))
            if name in seen:
                raise ProgrammingError(f'parameter "{name}" specified more than once')
            seen.add(name)
            options[name] = self.options[name].read(name, value)
        for name in list(options):
            needs = self.options[name].requires if name in self.options else None
            if needs and options.get(needs[0], self.options[needs[0]].default) != needs[1]:
                if name in seen:
                    raise ProgrammingError(f'option "{name}" requires {needs[0]} = \'{needs[1]}\'')
                del options[name]  # set before, with another quantizer: it no longer applies
        self.check(options)
        return options

    def fit(self, options: dict, dim: int) -> None:
        """Checks against the column's dimension."""
        given = options.get("pq_m")
        if given and dim % given:
            raise ProgrammingError(f"pq_m must divide the number of dimensions: {given} does not divide {dim}")

    def quantizer(self, options: dict) -> Quantizer:
        return QUANTIZERS[options.get("quantizer", "none")]

    def keeps_vectors(self, options: dict) -> bool:
        """Whether an index with `options` stores the rows' own vectors: brute force over them is exact."""
        return self.lossless and self.quantizer(options).lossless

    def refine(self, options: dict) -> int:
        """Candidates a search asks for per row wanted, for the engine to re-rank exactly."""
        return self.quantizer(options).refine

    def coded(self, dim: int, metric: int, options: dict, train: int) -> dict:
        """The options a quantizer builds with: pq_m resolved, PQ's bits for `train` rows."""
        self.fit(options, dim)
        return {**options, "pq_m": _pq_m(options, dim), "pq_bits": _pq_bits(train)}

    def check(self, options: dict) -> None:
        """Checks across options."""

    def create(self, dim: int, metric: int, options: dict, vectors: np.ndarray) -> faiss.Index:
        """An empty Faiss index for `vectors` (those it may train on), by Faiss metric `metric`."""
        raise NotImplementedError

    def params(self, index: faiss.Index, depth: int, k: int, selector) -> faiss.SearchParameters:
        raise NotImplementedError

    def search(self, index: faiss.Index, queries: np.ndarray, k: int, depth: int, selector,
               filtered: bool) -> tuple[np.ndarray, np.ndarray]:
        """Faiss's scores and slots; `filtered`: the selector carries a WHERE clause."""
        return index.search(queries, k, params=self.params(index, depth, k, selector))

    def scan(self, index: faiss.Index, selector) -> tuple[faiss.Index, faiss.SearchParameters]:
        """A flat scan of every stored vector the selector allows: brute force."""
        raise NotImplementedError

    def view(self, index: faiss.Index) -> np.ndarray | None:
        """Every slot's vector, read in place; None where the index holds them scattered."""
        return None

    def readable(self, index: faiss.Index) -> None:
        """Make `index.reconstruct_*` work."""

    def calibration_steps(self, index: faiss.Index) -> tuple[int, ...]:
        """The depths calibration tries, shallowest first."""
        raise NotImplementedError

    def tuning_steps(self, index: faiss.Index, k: int) -> tuple[int, ...]:
        """The depths `vsql_tune` tries for k nearest rows, shallowest first."""
        return self.calibration_steps(index)

    def default_depth(self, tuned: int | None, k: int) -> int:
        """The calibrated (or tuned) depth, kept for k = 10, scaled to k."""
        return max(1, round((tuned or 1) * max(1.0, k / 10)))

    def filtered_depth(self, index: faiss.Index, k: int, selectivity: float) -> tuple[int, int]:
        """The depth to start a search for k rows of which a share `selectivity` passes its
        filter, and the deepest one (a filter keeping fewer rows needs a deeper search)."""
        deepest = max(self.calibration_steps(index))
        return min(max(1, math.ceil(self.default_depth(None, k) / selectivity)), deepest), deepest

    def rows_per_depth(self, index: faiss.Index, options: dict) -> float:
        """About how many rows a brute force reads in the time one unit of depth costs."""
        raise NotImplementedError


def _integer(name: str, value: exp.Expr) -> int:
    """An integer option as PostgreSQL reads one: a number or a quoted one, a fraction rounded."""
    negative = isinstance(value, exp.Neg)
    literal = value.this if negative else value
    try:
        if not isinstance(literal, exp.Literal):
            raise ValueError
        number = float(literal.this.strip())
        if number != number or abs(number) == float("inf"):
            raise ValueError
    except ValueError:
        shown = literal.this if isinstance(literal, exp.Literal) else value.sql()
        raise ProgrammingError(f'invalid value for integer option "{name}": {shown}') from None
    return -round(number) if negative else round(number)


class HNSW(Method):
    name = coding = "hnsw"
    options: ClassVar = {"m": Option(16, 2, 100), "ef_construction": Option(64, 4, 1000),
                         "quantizer": _quantizers("hnsw")}
    depth_setting, depth_label = "hnsw.ef_search", "ef_search"
    remedy = "rebuild it with a larger m or ef_construction (ALTER INDEX ... SET (m = 32, ef_construction = 128))"
    STEPS = (40, 48, 64, 80, 100, 128, 160, 200, 256, 320, 400, 512, 640, 800, 1000)  # 40: pgvector's default

    def check(self, options: dict) -> None:
        if options["ef_construction"] < 2 * options["m"]:
            raise ProgrammingError("ef_construction must be greater than or equal to 2 * m")

    def create(self, dim: int, metric: int, options: dict, vectors: np.ndarray) -> faiss.Index:
        quantizer = self.quantizer(options)
        index = quantizer.index(self.coding, metric, dim, options["m"], metric, self.coded(dim, metric, options, 0))
        index.hnsw.efConstruction = options["ef_construction"]
        if not index.is_trained:  # a quantizer's ranges or centroid, from a sample of the rows
            index.train(_sample(vectors, _QUANTIZER_SAMPLE) if len(vectors) else np.zeros((1, dim), np.float32))
        return index

    def params(self, index, depth, k, selector):
        return _faiss().SearchParametersHNSW(efSearch=int(max(depth, k)), sel=selector)

    def scan(self, index, selector):
        return index.storage, _faiss().SearchParameters(sel=selector)

    def view(self, index):
        storage = _faiss().downcast_index(index.storage)
        everything = _faiss().rev_swig_ptr(storage.get_xb(), index.ntotal * index.d)
        return np.asarray(everything).reshape(index.ntotal, index.d)

    def calibration_steps(self, index):
        return self.STEPS

    def tuning_steps(self, index, k):
        """Below pgvector's default too; never below k, which ef_search is raised to anyway."""
        return tuple(s for s in (10, 16, 20, 24, 32, *self.STEPS) if s >= k)

    def default_depth(self, tuned, k):
        """Never calibrated: pgvector's default ef_search of 40, where calibration starts."""
        return round((tuned or self.STEPS[0]) * max(1.0, k / 10))

    def rows_per_depth(self, index, options):
        """An ef_search step scores up to 2 x m neighbours scattered in memory."""
        return _SCATTERED_READ * 2 * options["m"]


def _sample(vectors: np.ndarray, count: int) -> np.ndarray:
    """At most `count` of the rows, picked at random (the same ones each build)."""
    return vectors if len(vectors) <= count else vectors[np.random.default_rng(0).choice(len(vectors), count, replace=False)]


_QUANTIZER_SAMPLE = 65536  # rows a quantizer's ranges (SQ) or centroid (RaBitQ) is trained on
_TRAINABLE = 1e37  # squared norms below this keep every squared distance between two rows finite in float32


class IVFFlat(Method):
    name = coding = "ivfflat"
    options: ClassVar = {"lists": Option(100, 1, 32768), "quantizer": _quantizers("ivfflat"),
                         "pq_m": Option(0, 0, 16000, requires=("quantizer", "pq"), listed=False)}
    depth_setting, depth_label = "ivfflat.probes", "probes"
    remedy = "rebuild it with other lists (ALTER INDEX ... SET (lists = ...)), or use HNSW"

    def create(self, dim: int, metric: int, options: dict, vectors: np.ndarray) -> faiss.Index:
        lists = max(1, min(options["lists"], len(vectors)))
        quantizer = self.quantizer(options)
        # Faiss's k-means aborts the process when squared distances overflow float32: it trains
        # on the rows whose distances stay finite (the others are still added, and searched)
        vectors = vectors[np.square(vectors, dtype=np.float64).sum(axis=1) < _TRAINABLE]
        sample = _sample(vectors, max(lists * 64, quantizer.train))
        index = quantizer.index(self.coding, metric, _faiss().IndexFlat(dim, metric), dim, lists, metric,
                                self.coded(dim, metric, options, len(sample)))
        index.cp.min_points_per_centroid = 1  # small tables train too, without Faiss's warning on stderr
        # an empty table trains on zeros; k-means (and PQ's smallest codebook) wants two rows
        index.train(np.repeat(sample, 2, axis=0) if len(sample) == 1 else sample if len(sample) else np.zeros((2, dim), np.float32))
        return index

    def params(self, index, depth, k, selector):
        return _faiss().SearchParametersIVF(nprobe=int(min(max(depth, 1), index.nlist)), sel=selector)

    def search(self, index, queries, k, depth, selector, filtered):
        """A filter whose rows lie in lists far from the query leaves the nearest lists with few
        or poor matches: probe twice as many lists until a query's answer holds through two
        doublings. (One was not enough: on a correlated 50% filter the answer often holds from 5
        to 10 probes, before the lists holding the nearest matching rows; recall 0.91 against 1.0.)"""
        scores, slots = super().search(index, queries, k, depth, selector, filtered)
        unsettled, calm = np.arange(len(queries) if filtered else 0), np.zeros(len(queries), int)
        while len(unsettled) and depth < index.nlist:
            depth *= 2
            more_scores, more_slots = index.search(queries[unsettled], k, params=self.params(index, depth, k, selector))
            same = np.array([set(a) == set(b) for a, b in zip(more_slots, slots[unsettled])], bool)
            scores[unsettled], slots[unsettled] = more_scores, more_slots
            calm[unsettled] = np.where(same, calm[unsettled] + 1, 0)
            unsettled = unsettled[calm[unsettled] < 2]
        return scores, slots

    def scan(self, index, selector):
        return index, _faiss().SearchParametersIVF(nprobe=index.nlist, sel=selector)

    def readable(self, index):
        index.make_direct_map(True)  # an id -> list map (8 bytes a row), not a copy of the vectors

    def calibration_steps(self, index):
        return tuple(sorted({max(1, round(index.nlist * f))
                             for f in (0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)}))

    def rows_per_depth(self, index, options):
        """A probe scans one list, dead entries included (and without counting the alive mask
        per query)."""
        return index.ntotal / index.nlist


METHODS: dict[str, Method] = {m.name: m for m in (HNSW(), IVFFlat())}
