"""DuckDB with its own HNSW index, the `vss` extension: what a DuckDB user gets without vsql.

The extension comes from the `duckdb-extension-vss` wheel, which matches DuckDB 1.5.5 only, while
vsql runs on DuckDB 2; so it runs in a virtual environment of its own, created under
`benchmarks/.cache` on first use, in a worker process (`duckdb_vss_worker.py`) this peer talks to
through a pipe. The worker `LOAD`s the extension from the installed wheel's file: never from the
network. The database is a file (the index saved with it: vss's experimental persistence).

What vss does, as documented: `CREATE INDEX ... USING HNSW (embedding) WITH (metric = 'l2sq')`
serves `ORDER BY array_distance(embedding, <constant>) LIMIT k`; `SET hnsw_ef_search` sets the
search depth. A `WHERE` is applied after the index scan (EXPLAIN: `HNSW_INDEX_SCAN` under a
`FILTER`), which hands over only k rows: a filter keeping half the rows returns about k / 2,
whatever `hnsw_ef_search` is. Query vectors
are written into the SQL as literals: the index is used only for a constant vector.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path

import numpy as np

from .base import Columns, Peer, Where, columns, is_text, sql_where

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "duckdb-vss"
PACKAGES = ["duckdb==1.5.5", "duckdb-extension-vss==1.5.5", "pyarrow", "numpy"]
WORKER = Path(__file__).with_name("duckdb_vss_worker.py")

#: vss's metric name and DuckDB's distance function per metric.
OPS = {"l2": ("l2sq", "array_distance"), "ip": ("ip", "array_negative_inner_product"),
       "cosine": ("cosine", "array_cosine_distance")}


class DuckdbVssPeer(Peer):
    name = "duckdb-vss"
    kinds = ("hnsw",)
    post_filters = True
    settings = {"hnsw": {"ef_search": 64}}  # vss's default

    def __init__(self, cache: Path = CACHE) -> None:
        self.cache = Path(cache)
        self._worker: subprocess.Popen | None = None
        self._kind = self._function = self._applied = None

    def _start(self) -> None:
        """Creates the virtual environment if needed, then starts the worker."""
        python = self.cache / "venv" / "bin" / "python"
        if not (self.cache / "ready").exists():
            _run([sys.executable, "-m", "venv", "--clear", str(self.cache / "venv")])
            _run([str(python), "-m", "pip", "install", "--quiet", "--only-binary=:all:", *PACKAGES])
            (self.cache / "ready").write_text(" ".join(PACKAGES) + "\n")
        self._dir = tempfile.mkdtemp(prefix="vsql-vss-")
        self._path = os.path.join(self._dir, "items.duckdb")
        self._worker = subprocess.Popen([str(python), str(WORKER), self._path],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._stop = weakref.finalize(self, _stop, self._worker, self._dir)
        self._pid = self._call_reply()

    def _call(self, operation: str, *arguments):
        if self.available():
            raise RuntimeError(f"{self.name} is not available: {self._reason}")
        pickle.dump((operation, arguments), self._worker.stdin)
        self._worker.stdin.flush()
        return self._call_reply()

    def _call_reply(self):
        try:
            status, value = pickle.load(self._worker.stdout)
        except EOFError:
            raise RuntimeError(f"the DuckDB worker stopped: {self._worker.stderr.read().decode()[-500:]}") from None
        if status != "ok":
            raise RuntimeError(value)
        return value

    @property
    def version(self) -> str:
        return self._call("version")

    def load(self, ids: np.ndarray, vectors: np.ndarray, cats: Columns) -> float:
        self._kind = None
        self._dim = vectors.shape[1]
        named = {name: values if is_text(values) else np.asarray(values, np.int32)
                 for name, values in columns(cats).items()}
        return self._call("load", np.asarray(ids, np.int64), np.ascontiguousarray(vectors, np.float32), named)

    def build(self, kind: str, metric: str, params: dict | None = None) -> float:
        params = self._build_params(kind, metric, params)
        vss_metric, self._function = OPS[metric]
        self._call("execute", "DROP INDEX IF EXISTS items_embedding")
        seconds = self._call("execute", "CREATE INDEX items_embedding ON items USING HNSW (embedding) WITH "
                             f"(metric = '{vss_metric}', M = {int(params['m'])}, "
                             f"ef_construction = {int(params['ef_construction'])})")
        seconds += self._call("execute", "CHECKPOINT")  # writes the index into the file, as a user's commit would
        self._kind, self._applied = kind, None
        return seconds

    def _query(self, query: np.ndarray, k: int, where: Where, settings: dict | None,
               fetch: tuple[str, ...] = ()) -> tuple[str, list]:
        settings = self._settings(self._kind, settings)
        if settings != self._applied:
            self._call("execute", f"SET hnsw_ef_search = {int(settings['ef_search'])}")
            self._applied = settings
        text, values = sql_where(where)
        literal = "[" + ",".join(repr(float(x)) for x in np.asarray(query, np.float32)) + f"]::FLOAT[{self._dim}]"
        columns = ", ".join(("id", *fetch))
        sql = f"SELECT {columns} FROM items{text} ORDER BY {self._function}(embedding, {literal}) LIMIT {int(k)}"
        return sql, values

    def search(self, query: np.ndarray, k: int, where: Where = None, settings: dict | None = None,
               fetch: tuple[str, ...] = ()) -> list[int]:
        ids, self.last_search_s = self._call("search", *self._query(query, k, where, settings, fetch))
        return ids

    def explain(self, query: np.ndarray, k: int, where: Where = None, settings: dict | None = None,
                fetch: tuple[str, ...] = ()) -> str:
        return self._call("explain", *self._query(query, k, where, settings, fetch))

    def disk_bytes(self) -> int:
        return sum(os.path.getsize(os.path.join(self._dir, f)) for f in os.listdir(self._dir))

    def reopen(self, query: np.ndarray, k: int) -> float:
        sql, values = self._query(query, k, None, self._applied)  # sets `_applied` (the defaults if unset)
        return self._call("reopen", [f"SET hnsw_ef_search = {int(self._applied['ef_search'])}"], sql, values)

    def processes(self) -> list[int]:
        return [] if self._worker is None else [self._pid]

    def close(self) -> None:
        if self._worker is not None:
            self._stop()
            self._worker = None


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {' | '.join((done.stderr or done.stdout).splitlines()[-3:])}")


def _stop(worker: subprocess.Popen, folder: str) -> None:
    worker.stdin.close()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    shutil.rmtree(folder, ignore_errors=True)
