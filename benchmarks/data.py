"""Seeded, generated data sets for the benchmarks: clustered float32 vectors and queries near them.

    >>> ids, vectors, cats = clustered(1000, 16, seed=0)
    >>> vectors.shape, vectors.dtype, len(set(ids)) == 1000
    ((1000, 16), dtype('float32'), True)
    >>> qvectors, qcats = queries(5, 16, seed=0)
    >>> qvectors.shape, int(qcats.max()) < CATEGORIES
    ((5, 16), True)

The vectors are a mixture of `clusters` Gaussian clusters: centres drawn from N(0, 1) in every
dimension, points scattered around their centre with standard deviation `spread`. Queries come
from the same mixture (same centres, fresh points), so they lie near the data without being
copies of it. Every row has an integer `cat`, uniform over `categories` values and independent
of the vector: `WHERE cat = c` keeps about 1/categories of the rows.

Ids are a permutation of 1..n, so a system that confuses ids with row positions returns wrong
answers rather than right ones by accident.

Everything is a pure function of (n, dim, seed) and the keyword settings: calling again gives
the same arrays, on any machine (NumPy's `default_rng`, a PCG64 stream per purpose).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

CLUSTERS = 100
SPREAD = 0.5
CATEGORIES = 10

_CENTRES, _POINTS, _QUERIES = 0, 1, 2  # one random stream per purpose, all derived from `seed`
_CHUNK = 65536  # rows generated at a time, so 1M x 128 never needs a float64 copy


def _rng(seed: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed, purpose])


def centres(dim: int, seed: int = 0, *, clusters: int = CLUSTERS) -> np.ndarray:
    """The cluster centres of the data set made with `seed`: (clusters, dim) float32."""
    return _rng(seed, _CENTRES).standard_normal((clusters, dim), dtype=np.float32)


def _mixture(rng: np.random.Generator, count: int, centre: np.ndarray, spread: float) -> np.ndarray:
    out = np.empty((count, centre.shape[1]), dtype=np.float32)
    for start in range(0, count, _CHUNK):
        stop = min(start + _CHUNK, count)
        which = rng.integers(0, len(centre), stop - start)
        noise = rng.standard_normal((stop - start, centre.shape[1]), dtype=np.float32)
        out[start:stop] = centre[which] + noise * np.float32(spread)
    return out


def clustered(n: int, dim: int, seed: int = 0, *, clusters: int = CLUSTERS, spread: float = SPREAD,
              categories: int = CATEGORIES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n` rows of clustered vectors: (ids int64 (n,), vectors float32 (n, dim), cats int32 (n,))."""
    rng = _rng(seed, _POINTS)
    vectors = _mixture(rng, n, centres(dim, seed, clusters=clusters), spread)
    ids = rng.permutation(n).astype(np.int64) + 1
    cats = rng.integers(0, categories, n, dtype=np.int32)
    return ids, vectors, cats


def queries(count: int, dim: int, seed: int = 0, *, clusters: int = CLUSTERS, spread: float = SPREAD,
            categories: int = CATEGORIES) -> tuple[np.ndarray, np.ndarray]:
    """`count` query vectors from the same mixture as `clustered(.., dim, seed)` (same keywords),
    and a `cat` value for each to filter on: (vectors float32 (count, dim), cats int32 (count,)).
    """
    rng = _rng(seed, _QUERIES)
    vectors = _mixture(rng, count, centres(dim, seed, clusters=clusters), spread)
    return vectors, rng.integers(0, categories, count, dtype=np.int32)


def to_arrow(ids: np.ndarray, vectors: np.ndarray, cats: np.ndarray) -> pa.Table:
    """The rows as an Arrow table `(id BIGINT, cat INT, embedding FLOAT[dim])`, zero-copy where possible."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "cat": pa.array(cats, pa.int32()),
        "embedding": embedding,
    })
