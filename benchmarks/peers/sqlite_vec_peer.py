"""sqlite-vec: vector search inside SQLite, through its `vec0` virtual table.

sqlite-vec 0.1.9 has no approximate index: a `vec0` KNN query (`WHERE embedding MATCH ? AND
k = ?`) scans every vector, so this peer's one kind is `flat` and its answers are exact. Filter
columns are `vec0` metadata columns (`cat integer` beside the vector), which the KNN query filters
during its scan (`AND cat < ?`), so a filter never costs rows. Text columns, never filtered on,
are `vec0` auxiliary columns (`+title text`), the kind vec0 has for values a query only returns.
Metrics: `distance_metric=l2` or `cosine`; vec0 has no inner-product metric.

Python's own `sqlite3` module is used when it can load extensions; otherwise `pysqlite3`
(the `pysqlite3-binary` wheel) is. The database is a file in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from .base import Columns, Peer, Unavailable, Where, columns, is_text, sql_where, timed

_INSERT_CHUNK = 10_000


def _sqlite():
    """An `sqlite3` module that can load extensions, or None."""
    import sqlite3

    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        import pysqlite3.dbapi2 as sqlite3
    except ImportError:
        return None
    return sqlite3


class SqliteVecPeer(Peer):
    name = "sqlite-vec"
    kinds = ("flat",)
    metrics = ("l2", "cosine")
    settings = {"flat": {}}

    def __init__(self) -> None:
        self._con = None
        self._kind = self._metric = None

    def _start(self) -> None:
        try:
            import sqlite_vec
        except ImportError:
            raise Unavailable("sqlite-vec is not installed: pip install sqlite-vec") from None
        self._module, self._extension = _sqlite(), sqlite_vec
        if self._module is None:
            raise Unavailable("Python's sqlite3 cannot load extensions: pip install pysqlite3-binary")
        self._dir = tempfile.mkdtemp(prefix="vsql-sqlite-vec-")
        self._path = os.path.join(self._dir, "items.db")
        self._open()

    def _open(self) -> None:
        self._con = self._module.connect(self._path, isolation_level=None)
        self._con.enable_load_extension(True)
        self._extension.load(self._con)
        self._con.enable_load_extension(False)

    @property
    def version(self) -> str:
        sqlite, vec = self._con.execute("SELECT sqlite_version(), vec_version()").fetchone()
        return f"SQLite {sqlite}, sqlite-vec {vec}"

    def load(self, ids: np.ndarray, vectors: np.ndarray, cats: Columns) -> float:
        """Rows into a `vec0` table with the l2 metric (`build` remakes it for another metric)."""
        self._rows = (np.asarray(ids, np.int64), np.ascontiguousarray(vectors, np.float32), columns(cats))
        return timed(lambda: self._create("l2"))

    def _create(self, metric: str) -> None:
        ids, vectors, named = self._rows
        self._con.execute("DROP TABLE IF EXISTS items")
        extra = "".join(f", +{name} text" if is_text(values) else f", {name} integer" for name, values in named.items())
        self._con.execute(f"CREATE VIRTUAL TABLE items USING vec0(id integer primary key, "
                          f"embedding float[{vectors.shape[1]}] distance_metric={metric}{extra})")
        marks = ", ".join("?" * (2 + len(named)))
        self._con.execute("BEGIN")
        for start in range(0, len(ids), _INSERT_CHUNK):
            stop = start + _INSERT_CHUNK
            rows = zip(ids[start:stop].tolist(), vectors[start:stop], *(v[start:stop].tolist() for v in named.values()))
            self._con.executemany(f"INSERT INTO items VALUES ({marks})",
                                  ((i, v.tobytes(), *rest) for i, v, *rest in rows))
        self._con.execute("COMMIT")
        self._metric = metric

    def build(self, kind: str, metric: str, params: dict | None = None) -> float:
        self._build_params(kind, metric, params)
        seconds = 0.0 if metric == self._metric else timed(lambda: self._create(metric))
        self._kind = kind
        return seconds

    def search(self, query: np.ndarray, k: int, where: Where = None, settings: dict | None = None,
               fetch: tuple[str, ...] = ()) -> list[int]:
        self._settings(self._kind, settings)
        text, values = sql_where(where)
        text = text.replace(" WHERE ", " AND ", 1)
        sql = f"SELECT {', '.join(('id', *fetch))} FROM items WHERE embedding MATCH ? AND k = ?{text} ORDER BY distance"
        return [row[0] for row in self._con.execute(sql, [np.asarray(query, np.float32).tobytes(), k, *values])]

    def disk_bytes(self) -> int:
        return sum(os.path.getsize(os.path.join(self._dir, f)) for f in os.listdir(self._dir))

    def reopen(self, query: np.ndarray, k: int) -> float:
        self._con.close()

        def first() -> None:
            self._open()
            self.search(query, k)
        return timed(first)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
            shutil.rmtree(self._dir, ignore_errors=True)
