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
    name: str  # vsql's name for it: plans, index files, EXPLAIN
    operator: str  # pgvector's operator
    token: TokenType  # TokenType is a closed enum: each operator reuses a member PostgreSQL never emits
    node: str  # the class name of its sqlglot node (the dialect makes it)
    function: str | None  # pgvector's function computing the same distance, if any
    opclass: str  # pgvector's operator class for indexes ordering by the operator
    faiss: str  # the Faiss metric's name (faiss.METRIC_...), resolved by vsql/index
    from_faiss: Callable[[np.ndarray], np.ndarray]  # SQL's distance from Faiss's score
    distances: Callable[[np.ndarray, np.ndarray], np.ndarray]  # exact: queries x rows, float64
    normalized: bool = False  # indexes hold unit vectors; a zero vector has no distance
    methods: frozenset[str] | None = None  # pgvector's access methods with the opclass; None: every one
    default_for: frozenset[str] = frozenset()  # access methods whose default opclass this is (`USING m (col)`)


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


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("l2", "<->", TokenType.LR_ARROW, "L2Distance", "l2_distance", "vector_l2_ops",
           "METRIC_L2", lambda s: np.sqrt(np.maximum(s, 0)), _l2,  # Faiss scores squared L2
           default_for=frozenset({"ivfflat"})),  # pgvector: DEFAULT FOR TYPE vector USING ivfflat; hnsw has none
    # pgvector's inner_product() is the positive product: a function of its own, not this distance
    Metric("ip", "<#>", TokenType.DCOLONPERCENT, "NegativeInnerProduct", None, "vector_ip_ops",
           "METRIC_INNER_PRODUCT", np.negative, _negative_ip),
    # <=> is MySQL's null-safe equality in sqlglot's base tokenizer
    Metric("cosine", "<=>", TokenType.NULLSAFE_EQ, "CosineDistance", "cosine_distance", "vector_cosine_ops",
           "METRIC_INNER_PRODUCT", lambda s: 1 - s, _cosine, normalized=True),
    Metric("l1", "<+>", TokenType.DCOLONQMARK, "L1Distance", "l1_distance", "vector_l1_ops",
           "METRIC_L1", lambda s: s, _l1, methods=frozenset({"hnsw"})),
]}
BY_OPCLASS = {m.opclass: m for m in METRICS.values()}


@dataclass(frozen=True)
class BitMetric:
    """A distance between bit strings (pgvector's `bit` type). Kept out of METRICS: no Faiss
    metric over float vectors, and vsql indexes no bit column yet; the index side that adds
    `bit_hamming_ops`/`bit_jaccard_ops` moves them there with a Faiss binary index."""

    name: str
    operator: str
    token: TokenType
    node: str
    function: str
    opclass: str  # pgvector's (hnsw: both; ivfflat: hamming only)
    distances: Callable[[np.ndarray, np.ndarray], np.ndarray]  # exact, over bool matrices: queries x rows


def _hamming(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    q, x = np.asarray(queries, bool), np.asarray(rows, bool)
    return (q[:, None, :] != x[None, :, :]).sum(axis=2).astype(np.float64)


def _jaccard(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """1 - |a & b| / |a | b|; two empty sets are 1 apart, as pgvector has it."""
    q, x = np.asarray(queries, bool)[:, None, :], np.asarray(rows, bool)[None, :, :]
    both, either = (q & x).sum(axis=2), (q | x).sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(either > 0, 1 - both / np.maximum(either, 1), 1.0)


BIT_METRICS: dict[str, BitMetric] = {m.name: m for m in [
    BitMetric("hamming", "<~>", TokenType.DCOLONDOLLAR, "HammingDistance", "hamming_distance", "bit_hamming_ops", _hamming),
    BitMetric("jaccard", "<%>", TokenType.DOTCARET, "JaccardDistance", "jaccard_distance", "bit_jaccard_ops", _jaccard),
]}


def opclasses(method: str) -> list[str]:
    """pgvector's operator classes for an access method, in declaration order."""
    return [m.opclass for m in METRICS.values() if m.methods is None or method in m.methods]


def default_opclass(method: str) -> str | None:
    """The operator class an index `USING method (column)` gets when it names none."""
    return next((m.opclass for m in METRICS.values() if method in m.default_for), None)
