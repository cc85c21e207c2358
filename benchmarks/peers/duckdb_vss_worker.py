"""The DuckDB-with-vss side of `duckdb_vss_peer`, run by the Python of its own virtual environment
(duckdb 1.5.5, which the vss wheel needs, while vsql runs on duckdb 2).

It reads pickled `(operation, arguments)` pairs from stdin and answers each with a pickled
`("ok", value)` or `("error", message)` on stdout. Searches are timed here, around `execute`
and `fetchall`, so the pipe to the benchmark is not counted as DuckDB's time.
"""

import glob
import os
import pickle
import sys
import time

import duckdb
import duckdb_extension_vss
import pyarrow as pa

#: The extension file the `duckdb-extension-vss` wheel installs.
EXTENSION = glob.glob(os.path.join(os.path.dirname(duckdb_extension_vss.__file__), "**", "vss.duckdb_extension"),
                      recursive=True)[0]


class Worker:
    def __init__(self, path: str) -> None:
        self.path = path
        self.con = self.open()

    def open(self):
        con = duckdb.connect(self.path)
        con.execute(f"LOAD '{EXTENSION}'")  # the wheel's file: no INSTALL, no network
        con.execute("SET hnsw_enable_experimental_persistence = true")  # the index is saved with the file
        return con

    def load(self, ids, vectors, columns) -> float:
        start = time.perf_counter()
        table = pa.table({"id": pa.array(ids, pa.int64()),
                          **{name: pa.array(values, pa.string() if values.dtype.kind in "OUS" else pa.int32())
                             for name, values in columns.items()},
                          "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)),
                                                                         vectors.shape[1])})
        self.con.register("rows", table)
        self.con.execute("CREATE OR REPLACE TABLE items AS SELECT * FROM rows")
        self.con.unregister("rows")
        self.con.execute("CHECKPOINT")
        return time.perf_counter() - start

    def execute(self, sql: str, params=None) -> float:
        start = time.perf_counter()
        self.con.execute(sql, params)
        return time.perf_counter() - start

    def search(self, sql: str, params) -> tuple[list[int], float]:
        start = time.perf_counter()
        ids = [row[0] for row in self.con.execute(sql, params).fetchall()]
        return ids, time.perf_counter() - start

    def explain(self, sql: str, params) -> str:
        return "\n".join(row[1] for row in self.con.execute("EXPLAIN " + sql, params).fetchall())

    def reopen(self, settings: list[str], sql: str, params) -> float:
        self.con.close()
        start = time.perf_counter()
        self.con = self.open()
        for statement in settings:
            self.con.execute(statement)
        self.con.execute(sql, params).fetchall()
        return time.perf_counter() - start

    def version(self) -> str:
        return f"DuckDB {duckdb.__version__} with vss"


def main() -> None:
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    worker = Worker(sys.argv[1])
    pickle.dump(("ok", os.getpid()), sink)
    sink.flush()
    while True:
        try:
            operation, arguments = pickle.load(source)
        except EOFError:
            break
        try:
            answer = ("ok", getattr(worker, operation)(*arguments))
        except Exception as error:  # reported to the benchmark, which raises it there
            answer = ("error", f"{type(error).__name__}: {error}")
        pickle.dump(answer, sink)
        sink.flush()
    worker.con.close()


if __name__ == "__main__":
    main()
