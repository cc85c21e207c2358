"""The oracle: exact k-NN in NumPy (float64) over the same rows vsql searches."""

import numpy as np

OPERATORS = {"l2": "<->", "ip": "<#>", "cosine": "<=>", "l1": "<+>"}


def distances(vectors: np.ndarray, query: np.ndarray, metric: str) -> np.ndarray:
    x, q = vectors.astype(np.float64), query.astype(np.float64)
    if metric == "l2":
        return np.sqrt(((x - q) ** 2).sum(axis=1))
    if metric == "ip":
        return -(x @ q)
    if metric == "cosine":
        return 1 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    if metric == "l1":
        return np.abs(x - q).sum(axis=1)
    raise ValueError(metric)


def knn(vectors: np.ndarray, query: np.ndarray, metric: str, k: int, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the k nearest rows (ties by position) and their distances."""
    dist = distances(vectors, query, metric)
    rows = np.arange(len(vectors)) if mask is None else np.flatnonzero(mask)
    order = rows[np.lexsort((rows, dist[rows]))][:k]
    return order, dist[order]
