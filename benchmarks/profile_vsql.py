"""Where vsql's time goes on the exact k-NN statement, next to direct DuckDB.

    python -m benchmarks.profile_vsql            # 100k x 128, as benchmarks.exact
    python -m benchmarks.profile_vsql --quick

Three views, printed as Markdown:

1. A ladder from DuckDB's own query to vsql's, the rungs run in turn query by query, each one
   against the first (paired medians): DuckDB with the hand-written SQL and `fetchall()`; the
   same with `to_arrow_table()` (how vsql's session takes results); DuckDB running the SQL text
   vsql generates; that with `to_arrow_table()`; and vsql's `cursor.execute().fetchall()`.
   The steps split vsql's overhead into the SQL it emits, the Arrow hand-off and its Python code.
2. cProfile of vsql's k-NN statements, the functions that take the most time of their own.
3. Loading: DuckDB into a plain table, DuckDB into a table with the constraint vsql's
   `VECTOR(n)` columns carry, and `Connection.load`.

It reads vsql's internals (`Session.compile`, `Session.con`), so it is a diagnostic, not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
import warnings

from .exact import DUCKDB_FILTERED, DUCKDB_KNN, FULL, QUICK, VSQL_FILTERED, VSQL_KNN, DuckDB, Vsql  # first: BLAS env

import numpy as np  # noqa: E402, I001

from . import data  # noqa: E402


def _interleaved(calls: dict, count: int, warm: int = 3) -> dict[str, np.ndarray]:
    for i in range(warm):
        for call in calls.values():
            call(count + i)
    seconds = {name: [] for name in calls}
    names = list(calls)
    rng = np.random.default_rng(0)
    for i in range(count):
        for name in rng.permutation(names):  # a fresh order each round: no step always follows another
            start = time.perf_counter()
            calls[name](i)
            seconds[name].append(time.perf_counter() - start)
    return {name: np.asarray(s) for name, s in seconds.items()}


def _ladder_table(title: str, seconds: dict[str, np.ndarray]) -> list[str]:
    base = seconds[next(iter(seconds))]
    lines = [f"### {title}", "", "| step | median ms | paired extra ms vs first | paired ratio |", "|---|---:|---:|---:|"]
    for name, s in seconds.items():
        lines.append(
            f"| {name} | {np.median(s) * 1e3:.3f} | {np.median(s - base) * 1e3:+.3f} | {np.median(s / base):.3f} |"
        )
    return lines + [""]


def ladder(v: Vsql, d: DuckDB, qv: np.ndarray, qc: np.ndarray, filtered: bool, count: int) -> list[str]:
    vsql_sql = VSQL_FILTERED if filtered else VSQL_KNN
    hand_sql = (DUCKDB_FILTERED if filtered else DUCKDB_KNN).format(dim=d.dim)

    def vparams(i):
        return [qv[i], int(qc[i])] if filtered else [qv[i]]

    def lparams(i):
        return [qv[i].tolist(), int(qc[i])] if filtered else [qv[i].tolist()]

    generated = v.con.session.compile(vsql_sql, vparams(0))[-1].sql[-1]
    con, own = d.con, v.con.session.engine.con
    calls = {
        "DuckDB, hand SQL, fetchall()": lambda i: con.execute(hand_sql, lparams(i)).fetchall(),
        "DuckDB, hand SQL, to_arrow_table()": lambda i: con.execute(hand_sql, lparams(i)).to_arrow_table(),
        "DuckDB, vsql's SQL, fetchall()": lambda i: con.execute(generated, lparams(i)).fetchall(),
        "DuckDB, vsql's SQL, to_arrow_table()": lambda i: con.execute(generated, lparams(i)).to_arrow_table(),
        "vsql's DuckDB connection and table, vsql's SQL, to_arrow_table()":
            lambda i: own.execute(generated, lparams(i)).to_arrow_table(),
        "vsql cursor.execute().fetchall()": lambda i: v.cursor.execute(vsql_sql, vparams(i)).fetchall(),
    }
    title = "k-NN, WHERE cat = ?" if filtered else "k-NN, no filter"
    return _ladder_table(title, _interleaved(calls, count)) + [f"vsql's SQL: `{generated}`", ""]


def select1(v: Vsql, d: DuckDB, count: int) -> list[str]:
    con = d.con
    calls = {
        "DuckDB, fetchall()": lambda i: con.execute("SELECT 1").fetchall(),
        "DuckDB, to_arrow_table()": lambda i: con.execute("SELECT 1").to_arrow_table(),
        "vsql cursor.execute().fetchall()": lambda i: v.cursor.execute("SELECT 1").fetchall(),
    }
    return _ladder_table("SELECT 1", _interleaved(calls, count, warm=20))


def profile(v: Vsql, qv: np.ndarray, qc: np.ndarray, count: int, top: int = 15) -> list[str]:
    lines = []
    for title, sql, params in (
        ("k-NN, no filter", VSQL_KNN, lambda i: [qv[i]]),
        ("k-NN, WHERE cat = ?", VSQL_FILTERED, lambda i: [qv[i], int(qc[i])]),
    ):
        for i in range(3):
            v.cursor.execute(sql, params(i)).fetchall()
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(count):
            v.cursor.execute(sql, params(i)).fetchall()
        profiler.disable()
        stats = pstats.Stats(profiler)
        rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
        lines += [f"### cProfile, {title}: {count} statements, by own time", "",
                  "| function | calls | own ms per statement | total ms per statement |", "|---|---:|---:|---:|"]
        for (path, line, name), (_, calls, own, total, _) in rows:
            where = path.split("site-packages/")[-1].split("/work/main/")[-1]
            lines.append(f"| `{where}:{line}({name})` | {calls} | {own / count * 1e3:.3f} | {total / count * 1e3:.3f} |")
        lines.append("")
    return lines


def loads(v: Vsql, d: DuckDB, table, reps: int) -> list[str]:
    generated = v.con.session.compile(f"CREATE TABLE t (id BIGINT, cat INT, embedding VECTOR({d.dim}))")[-1].sql[-1]
    seconds = {"DuckDB, plain FLOAT[n]": [], "DuckDB, with vsql's DDL": [], "vsql Connection.load": []}
    for i in range(reps):
        d.create("load_plain")
        seconds["DuckDB, plain FLOAT[n]"].append(_time(lambda: d.load("load_plain", table)))
        d.drop("load_plain")
        d.con.execute(generated.replace("CREATE TABLE t ", "CREATE TABLE load_checked ", 1))
        seconds["DuckDB, with vsql's DDL"].append(_time(lambda: d.load("load_checked", table)))
        d.drop("load_checked")
        v.create("load_vsql")
        seconds["vsql Connection.load"].append(_time(lambda: v.load("load_vsql", table)))
        v.drop("load_vsql")
    lines = ["### Loading", "", f"vsql's DDL: `{generated}`", "", "| path | median s |", "|---|---:|"]
    lines += [f"| {name} | {np.median(s):.3f} |" for name, s in seconds.items()]
    return lines + [""]


def _time(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_vsql", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int)
    parser.add_argument("--dim", type=int)
    parser.add_argument("--queries", type=int, help="statements per ladder step and per profile (default 100)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    rows, dim = args.rows or preset["rows"], args.dim or preset["dim"]
    count = args.queries or (20 if args.quick else 100)
    warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")

    ids, vectors, cats = data.clustered(rows, dim, args.seed)
    qv, qc = data.queries(count + 20, dim, args.seed)
    table = data.to_arrow(ids, vectors, cats)
    v, d = Vsql(":memory:", dim), DuckDB(":memory:", dim)
    try:
        for s in (v, d):
            s.create("items")
            s.load("items", table)
        out = io.StringIO()
        lines = [f"## Where vsql's time goes ({rows:,} x {dim}, {count} statements per step)", ""]
        lines += ladder(v, d, qv, qc, False, count)
        lines += ladder(v, d, qv, qc, True, count)
        lines += select1(v, d, count * 10)
        lines += profile(v, qv, qc, count)
        lines += loads(v, d, table, 1 if args.quick else 3)
        out.write("\n".join(lines))
        print(out.getvalue())
    finally:
        v.close()
        d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
