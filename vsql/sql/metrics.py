"""pgvector's distance metrics, each declared once, as data every layer reads.

An entry holds what the SQL side needs (operator, its token, node, function, opclass), what an
index needs (whether vectors are normalised, the Faiss metric by name, how Faiss's scores
become SQL's distances) and the exact distance in NumPy, which is the truth wherever vsql
computes distances itself. How an engine computes a metric lives with that engine
(`vsql/engine/duckdb/executor.py`), keyed by the metric's name; only `vsql/index/` resolves
the Faiss name. So adding a metric is one entry here and one lowering there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlglot.tokens import TokenType


@dataclass(frozen=True)
class Metric:
    name: str  # vsql's name for it: plans, index files, EXPLAIN, and its opclasses' suffix
    operator: str  # pgvector's operator
    token: TokenType  # TokenType is a closed enum: each operator reuses a member PostgreSQL never emits
    node: str  # the class name of its sqlglot node (the dialect makes it)
    function: str | None  # pgvector's function computing the same distance, if any
    types: tuple[str, ...]  # pgvector's types with an operator class for it: `<type>_<name>_ops`
    faiss: str  # the Faiss metric's name (faiss.METRIC_...), resolved by vsql/index
    from_faiss: Callable[[np.ndarray], np.ndarray]  # SQL's distance from Faiss's score
    distances: Callable[[np.ndarray, np.ndarray], np.ndarray]  # exact: queries x rows, float64
    normalized: bool = False  # indexes hold unit vectors; a zero vector has no distance
    methods: frozenset[str] | None = None  # pgvector's access methods with the opclass; None: every one
    default_for: frozenset[str] = frozenset()  # access methods whose default opclass this is (`USING m (col)`)

    @property
    def opclass(self) -> str:
        """The operator class for the metric's first type (`vector_l2_ops`)."""
        return f"{self.types[0]}_{self.name}_ops"


@dataclass(frozen=True)
class OpClass:
    """One of pgvector's operator classes: an index's metric over one vector type."""

    name: str
    metric: Metric
    type: str  # the pgvector type it indexes ("vector", "halfvec", "bit")


def _l2(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    q, x = _float64(queries, rows)
    squared = (q * q).sum(1)[:, None] - 2 * (q @ x.T) + (x * x).sum(1)[None, :]
    return np.sqrt(np.maximum(squared, 0))


def _negative_ip(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    q, x = _float64(queries, rows)
    return -(q @ x.T)


def _cosine(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """NaN against a zero vector, as pgvector's cosine_distance gives."""
    q, x = _float64(queries, rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - (q @ x.T) / (np.linalg.norm(q, axis=1)[:, None] * np.linalg.norm(x, axis=1)[None, :])


def _l1(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    q, x = _float64(queries, rows)
    return np.stack([np.abs(x - one).sum(axis=1) for one in q]) if len(q) else np.empty((0, len(x)))


def _float64(queries: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(queries, np.float64).reshape(len(queries), -1), np.asarray(rows, np.float64).reshape(len(rows), -1)


_FLOATS = ("vector", "halfvec", "sparsevec")  # pgvector's float types: each has the four opclasses

METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("l2", "<->", TokenType.LR_ARROW, "L2Distance", "l2_distance", _FLOATS,
           "METRIC_L2", lambda s: np.sqrt(np.maximum(s, 0)), _l2,  # Faiss scores squared L2
           default_for=frozenset({"ivfflat"})),  # pgvector: DEFAULT FOR TYPE vector USING ivfflat; hnsw has none
    # pgvector's inner_product() is the positive product: a function of its own, not this distance
    Metric("ip", "<#>", TokenType.DCOLONPERCENT, "NegativeInnerProduct", None, _FLOATS,
           "METRIC_INNER_PRODUCT", np.negative, _negative_ip),
    # <=> is MySQL's null-safe equality in sqlglot's base tokenizer
    Metric("cosine", "<=>", TokenType.NULLSAFE_EQ, "CosineDistance", "cosine_distance", _FLOATS,
           "METRIC_INNER_PRODUCT", lambda s: 1 - s, _cosine, normalized=True),
    Metric("l1", "<+>", TokenType.DCOLONQMARK, "L1Distance", "l1_distance", _FLOATS,
           "METRIC_L1", lambda s: s, _l1, methods=frozenset({"hnsw"})),
]}
def _hamming(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    q, x = np.asarray(queries, bool), np.asarray(rows, bool)
    return (q[:, None, :] != x[None, :, :]).sum(axis=2).astype(np.float64)


def _jaccard(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """1 - |a & b| / |a | b|; two empty sets are 1 apart, as pgvector has it."""
    q, x = np.asarray(queries, bool)[:, None, :], np.asarray(rows, bool)[None, :, :]
    both, either = (q & x).sum(axis=2), (q | x).sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(either > 0, 1 - both / np.maximum(either, 1), 1.0)


# Distances between bit strings: operators of their own (analysis keeps them to `bit`), indexed
# over the bits as 0/1 floats, where squared L2 counts the differing bits and Faiss's Jaccard
# similarity (sum of minima over sum of maxima) is |a & b| / |a | b|.
BIT_METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("hamming", "<~>", TokenType.DCOLONDOLLAR, "HammingDistance", "hamming_distance", ("bit",),
           "METRIC_L2", lambda s: s, _hamming),
    Metric("jaccard", "<%>", TokenType.DOTCARET, "JaccardDistance", "jaccard_distance", ("bit",),
           "METRIC_Jaccard", lambda s: 1 - s, _jaccard, methods=frozenset({"hnsw"})),
]}
# every metric an index may serve, by name
INDEXED: dict[str, Metric] = {**METRICS, **BIT_METRICS}
_TYPES = ("vector", "halfvec", "sparsevec", "bit")
_TYPE_METHODS = {"sparsevec": frozenset({"hnsw"})}  # pgvector's access methods for a type's opclasses, where not all
# by type, then metric: vector_l2_ops, vector_ip_ops, ..., halfvec_l2_ops, ..., bit_jaccard_ops
OPCLASSES: dict[str, OpClass] = {f"{t}_{m.name}_ops": OpClass(f"{t}_{m.name}_ops", m, t)
                                 for t in _TYPES for m in INDEXED.values() if t in m.types}


def opclasses(method: str, type: str | None = None) -> list[str]:
    """pgvector's operator classes for an access method (over one type), in declaration order."""
    return [o.name for o in OPCLASSES.values() if (o.metric.methods is None or method in o.metric.methods)
            and method in _TYPE_METHODS.get(o.type, (method,)) and type in (None, o.type)]


def default_opclass(method: str, type: str = "vector") -> str | None:
    """The operator class an index `USING method (column)` on a column of `type` gets when it names none."""
    return next((o.name for o in OPCLASSES.values() if o.type == type and method in o.metric.default_for), None)
