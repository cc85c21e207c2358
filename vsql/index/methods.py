"""pgvector's index access methods, each one object: what `USING hnsw` or `USING ivfflat` means.

A method declares pgvector's options (names, defaults, ranges, cross-checks, errors worded as
pgvector words them), how its Faiss index is built and searched, its search depth (the setting
that overrides it, EXPLAIN's label, the steps calibration and tuning try, the default scaled to
k, what one unit of it costs in rows of brute force), how brute force over its stored vectors
runs, and whether those vectors are lossless, so that brute force over them is exact. Nothing
else in vsql asks which method an index uses: adding one is adding an entry to METHODS.
"""

from __future__ import annotations

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
    default: int
    low: int
    high: int


class Method:
    """An access method; subclasses fill in the Faiss side."""

    name: str
    options: ClassVar[dict[str, Option]]
    depth_setting: str  # the setting a user overrides the depth with
    depth_label: str  # the depth's name in EXPLAIN
    remedy: str  # what to do when calibration cannot reach its target recall
    lossless = True  # stored vectors are the rows' own: brute force over them is exact

    def configure(self, given: list[tuple[str, exp.Expr]], base: dict | None = None) -> dict:
        """The options of `WITH (name = value, ...)` over `base` (default: pgvector's defaults),
        checked with pgvector's errors."""
        options = dict(base) if base else {name: option.default for name, option in self.options.items()}
        seen = set()
        for name, value in given:
            name = name.lower()
            if name not in self.options:
                raise ProgrammingError(f'unrecognized parameter "{name}" for {self.name} '
                                       f'(allowed: {", ".join(self.options)})')
            if name in seen:
                raise ProgrammingError(f'parameter "{name}" specified more than once')
            seen.add(name)
            number, option = _integer(name, value), self.options[name]
            if not option.low <= number <= option.high:
                raise ProgrammingError(f'value {number} out of bounds for option "{name}": '
                                       f"valid values are {option.low} .. {option.high}")
            options[name] = number
        self.check(options)
        return options

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
    name = "hnsw"
    options: ClassVar = {"m": Option(16, 2, 100), "ef_construction": Option(64, 4, 1000)}
    depth_setting, depth_label = "hnsw.ef_search", "ef_search"
    remedy = "rebuild it with a larger m or ef_construction (ALTER INDEX ... SET (m = 32, ef_construction = 128))"
    STEPS = (40, 48, 64, 80, 100, 128, 160, 200, 256, 320, 400, 512, 640, 800, 1000)  # 40: pgvector's default

    def check(self, options: dict) -> None:
        if options["ef_construction"] < 2 * options["m"]:
            raise ProgrammingError("ef_construction must be greater than or equal to 2 * m")

    def create(self, dim: int, metric: int, options: dict, vectors: np.ndarray) -> faiss.Index:
        index = _faiss().IndexHNSWFlat(dim, options["m"], metric)
        index.hnsw.efConstruction = options["ef_construction"]
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


_TRAINABLE = 1e37  # squared norms below this keep every squared distance between two rows finite in float32


class IVFFlat(Method):
    name = "ivfflat"
    options: ClassVar = {"lists": Option(100, 1, 32768)}
    depth_setting, depth_label = "ivfflat.probes", "probes"
    remedy = "rebuild it with other lists (ALTER INDEX ... SET (lists = ...)), or use HNSW"

    def create(self, dim: int, metric: int, options: dict, vectors: np.ndarray) -> faiss.Index:
        lists = max(1, min(options["lists"], len(vectors)))
        index = _faiss().IndexIVFFlat(_faiss().IndexFlat(dim, metric), dim, lists, metric)
        index.cp.min_points_per_centroid = 1  # small tables train too, without Faiss's warning on stderr
        # Faiss's k-means aborts the process when squared distances overflow float32: it trains
        # on the rows whose distances stay finite (the others are still added, and searched)
        vectors = vectors[np.square(vectors, dtype=np.float64).sum(axis=1) < _TRAINABLE]
        sample = vectors if len(vectors) <= lists * 64 else vectors[
            np.random.default_rng(0).choice(len(vectors), lists * 64, replace=False)]
        index.train(sample if len(sample) else np.zeros((1, dim), np.float32))
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
