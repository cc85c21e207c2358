"""A small, seeded data set to try vsql on: `vsql --demo`.

`items` holds 50,000 products whose 16-dimensional embeddings fall in clusters that follow
their category, so a filtered nearest-neighbour query returns visibly related rows, with an HNSW
index on the embeddings: more rows than `vsql.exact_below`, so searches go through it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from vsql.client.dbapi import Connection

TABLE = "items"
ROWS = 50_000
DIM = 16
CATEGORIES = ("books", "electronics", "garden", "kitchen", "toys")
CREATE = "CREATE TABLE items (id BIGINT PRIMARY KEY, category TEXT, price DOUBLE, embedding VECTOR(16))"
INDEX = "CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)"
EXAMPLE = (
    "SELECT id, category, price, embedding <-> (SELECT embedding FROM items WHERE id = 1) AS distance\n"
    "FROM items WHERE category = 'books' ORDER BY distance LIMIT 5;"
)


def data(seed: int = 42) -> pa.Table:
    """The demo rows: two clusters per category, a tenth of the items in a random category."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(2 * len(CATEGORIES), DIM))
    cluster = rng.integers(len(centers), size=ROWS)
    embeddings = (centers[cluster] + rng.normal(scale=0.3, size=(ROWS, DIM))).astype(np.float32)
    category = cluster % len(CATEGORIES)
    strays = rng.random(ROWS) < 0.1
    category[strays] = rng.integers(len(CATEGORIES), size=strays.sum())
    return pa.table({
        "id": np.arange(1, ROWS + 1),
        "category": np.array(CATEGORIES)[category],
        "price": np.round(rng.lognormal(3, 0.7, ROWS), 2),
        "embedding": pa.FixedSizeListArray.from_arrays(embeddings.ravel(), DIM),
    })


def load(connection: Connection) -> bool:
    """Create, fill and index `items` unless the database has that table already; True if it loaded."""
    cursor = connection.cursor()
    cursor.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = current_schema()",
        [TABLE],
    )
    if cursor.fetchone()[0]:
        return False
    cursor.execute(CREATE)
    connection.load(TABLE, data())
    cursor.execute(INDEX)
    connection.commit()
    return True
