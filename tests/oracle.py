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


def check_search(con, queries, k=10, metric="l2", min_recall=1.0, table="items", column="embedding", key="id"):
    """Search through vsql's index (`vsql.exact_below = 0` keeps brute force out of it) and hold the
    answer against exact search over the rows the table holds now: both the answer the index
    gives alone (key and distance) and the one DuckDB fetches. Every key must exist with its true
    distance, as many rows as exist must come back, and recall@k must reach `min_recall`."""
    rows = con.execute(f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL").fetchall()
    keys = np.array([r[0] for r in rows], dtype=np.int64)
    vectors = np.stack([r[1] for r in rows]) if rows else np.empty((0, len(queries[0])), np.float32)
    op = OPERATORS[metric]
    con.execute("SET vsql.exact_below = 0")
    found = total = 0
    for query in queries:
        truth, nearest = knn(vectors, query, metric, k)
        exact = dict(zip(keys.tolist(), distances(vectors, query, metric)))
        # a row as near as the k-th nearest is as right as it (ties: vsql's approximate paths need
        # not break them by key; the exact ones do, which other tests hold)
        limit = nearest[-1] + 1e-6 * max(1.0, abs(nearest[-1])) if len(nearest) else -np.inf
        for sql in (f"SELECT {key}, {column} {op} ? AS d FROM {table} ORDER BY d LIMIT {k}",
                    f"SELECT {key}, {column} {op} ? AS d, {column} FROM {table} ORDER BY {column} {op} ? LIMIT {k}"):
            got = con.execute(sql, [query] * sql.count("?")).fetchall()
            assert len(got) == min(k, len(keys)), (sql, got)
            for row in got:
                assert row[0] in exact, f"key {row[0]} is not in the table"
                assert abs(row[1] - exact[row[0]]) <= 1e-3 * max(1.0, abs(exact[row[0]])), (row, exact[row[0]])
            found += sum(exact[r] <= limit for r in {row[0] for row in got})
            total += len(truth)
    con.execute("RESET vsql.exact_below")
    assert found >= min_recall * total, f"recall {found / max(total, 1):.3f} < {min_recall}"
