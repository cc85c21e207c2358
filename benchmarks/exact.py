"""Exact k-NN side by side: vsql, the same query written in DuckDB SQL, and NumPy brute force.

    python -m benchmarks.exact                  # 100k x 128, 200 queries (about a minute)
    python -m benchmarks.exact --quick          # tiny sizes, a few seconds (CI)

Every system gets the same rows and the same query vectors, and the systems take turns query
by query (in every possible order in turn), so machine noise lands on all of them alike; each
statement is timed on its own with `time.perf_counter`. Workloads:

- `knn`: `SELECT id, embedding <-> ? AS d FROM items ORDER BY d LIMIT 10`, the vector bound as a
  NumPy array (vsql); `array_distance(embedding, ?::FLOAT[dim])` with a Python list (DuckDB);
  a matrix-vector product, `argpartition` and a sort (NumPy).
- `knn_filtered`: the same with `WHERE cat = ?`, which keeps about 10% of the rows.
- `select1`: `SELECT 1`, the fixed cost of one statement (vsql and DuckDB).
- `load`: appending all rows from an Arrow table, `Connection.load` against DuckDB's own
  `INSERT INTO ... SELECT` from the registered Arrow table (vsql and DuckDB).

The answers are checked inside the run: each system's ids must equal the others', except where
rows tie (their exact distances, recomputed in float64, equal within 1e-5 relative).

Results go to `<out>/exact.json` and `<out>/exact.md`; the Markdown is also printed.
"""

from __future__ import annotations

import os

# OpenBLAS's worker threads spin for a while after each NumPy matrix product; the DuckDB query
# that runs next then finds its cores busy and took twice as long in a measurement on this
# 2-core machine. Spin briefly instead (must be set before NumPy loads OpenBLAS; see _order too).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import argparse  # noqa: E402
import itertools  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

import vsql  # noqa: E402

from . import data
from . import report
from .report import git, loadavg, timed, write  # noqa: E402

K = 10
REL_TOL = 1e-5  # distances this close (relative) count as a tie
GOAL_PCT = 10.0  # vsql's overhead over DuckDB per exact k-NN statement, reported not asserted

VSQL_KNN = f"SELECT id, embedding <-> ? AS d FROM items ORDER BY d LIMIT {K}"
VSQL_FILTERED = f"SELECT id, embedding <-> ? AS d FROM items WHERE cat = ? ORDER BY d LIMIT {K}"
DUCKDB_KNN = "SELECT id, array_distance(embedding, ?::FLOAT[{dim}]) AS d FROM items ORDER BY d LIMIT " + str(K)
DUCKDB_FILTERED = (
    "SELECT id, array_distance(embedding, ?::FLOAT[{dim}]) AS d FROM items WHERE cat = ? ORDER BY d LIMIT " + str(K)
)

FULL = {"rows": 100_000, "dim": 128, "queries": 200, "trivial": 2000, "load_reps": 3, "warmup": 5}
QUICK = {"rows": 3_000, "dim": 16, "queries": 20, "trivial": 200, "load_reps": 1, "warmup": 2}

Rows = list[tuple[int, float]]


# -- the systems -----------------------------------------------------------------------------


class Vsql:
    name = "vsql"

    def __init__(self, database: str, dim: int):
        # autocommit: every statement commits on its own, as on DuckDB's connection below.
        self.con = vsql.connect(database, autocommit=True)
        self.cursor = self.con.cursor()
        self.dim = dim

    def create(self, table: str) -> None:
        self.cursor.execute(f"CREATE TABLE {table} (id BIGINT, cat INT, embedding VECTOR({self.dim}))")

    def drop(self, table: str) -> None:
        self.cursor.execute(f"DROP TABLE {table}")

    def load(self, table: str, rows: pa.Table) -> int:
        return self.con.load(table, rows)

    def knn(self, q: np.ndarray) -> Rows:
        return self.cursor.execute(VSQL_KNN, [q]).fetchall()

    def knn_filtered(self, q: np.ndarray, cat: int) -> Rows:
        return self.cursor.execute(VSQL_FILTERED, [q, cat]).fetchall()

    def select1(self) -> list:
        return self.cursor.execute("SELECT 1").fetchall()

    def close(self) -> None:
        self.con.close()


class DuckDB:
    name = "duckdb"

    def __init__(self, database: str, dim: int):
        self.con = duckdb.connect(database)
        self.dim = dim
        self.knn_sql = DUCKDB_KNN.format(dim=dim)
        self.filtered_sql = DUCKDB_FILTERED.format(dim=dim)

    def create(self, table: str) -> None:
        self.con.execute(f"CREATE TABLE {table} (id BIGINT, cat INTEGER, embedding FLOAT[{self.dim}])")

    def drop(self, table: str) -> None:
        self.con.execute(f"DROP TABLE {table}")

    def load(self, table: str, rows: pa.Table) -> int:
        self.con.register("__arrow_rows", rows)
        try:
            return self.con.execute(f"INSERT INTO {table} SELECT id, cat, embedding FROM __arrow_rows").fetchone()[0]
        finally:
            self.con.unregister("__arrow_rows")

    # The query vector arrives as NumPy, as it does for vsql; `tolist()` (a few microseconds) is timed.
    def knn(self, q: np.ndarray) -> Rows:
        return self.con.execute(self.knn_sql, [q.tolist()]).fetchall()

    def knn_filtered(self, q: np.ndarray, cat: int) -> Rows:
        return self.con.execute(self.filtered_sql, [q.tolist(), cat]).fetchall()

    def select1(self) -> list:
        return self.con.execute("SELECT 1").fetchall()

    def close(self) -> None:
        self.con.close()


class NumPy:
    """Brute force over the float32 matrix: ||x||^2 - 2 x.q ranks the rows (norms precomputed
    once), `argpartition` takes the k best, and their exact distances are sorted."""

    name = "numpy"

    def __init__(self, ids: np.ndarray, vectors: np.ndarray, cats: np.ndarray):
        self.ids, self.vectors, self.cats = ids, vectors, cats
        self.norms = np.einsum("ij,ij->i", vectors, vectors)

    @staticmethod
    def _top(ids: np.ndarray, vectors: np.ndarray, norms: np.ndarray, q: np.ndarray) -> Rows:
        score = norms - 2 * (vectors @ q)
        if len(score) > K:
            best = np.argpartition(score, K - 1)[:K]
        else:
            best = np.arange(len(score))
        diff = vectors[best] - q
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        order = np.argsort(dist, kind="stable")
        return list(zip(ids[best[order]].tolist(), dist[order].tolist()))

    def knn(self, q: np.ndarray) -> Rows:
        return self._top(self.ids, self.vectors, self.norms, q)

    def knn_filtered(self, q: np.ndarray, cat: int) -> Rows:
        rows = np.flatnonzero(self.cats == cat)
        return self._top(self.ids[rows], self.vectors[rows], self.norms[rows], q)

    def close(self) -> None:
        pass


# -- measuring -------------------------------------------------------------------------------




def _order(systems: list, block: int) -> tuple:
    """The systems' running order for one block: every permutation in turn, so each system goes
    first, last, and right after each other system equally often. (Rotating one order is not
    enough: with three systems, each would always follow the same one, and whatever a system
    leaves behind, such as NumPy's BLAS threads still spinning, would always land on the next.)"""
    orders = list(itertools.permutations(systems))
    return orders[block % len(orders)]


def measure_knn(systems: list, qvectors: np.ndarray, qcats: np.ndarray, warm_q: np.ndarray, warm_c: np.ndarray):
    """Per workload and system: each query's seconds and rows, the systems taking turns.
    The `warm_*` queries run first, untimed (compiled statements, caches, first allocations)."""
    calls = {
        "knn": lambda s, q, c: (lambda: s.knn(q)),
        "knn_filtered": lambda s, q, c: (lambda: s.knn_filtered(q, c)),
    }
    for q, cat in zip(warm_q, warm_c.tolist()):
        for s in systems:
            for make in calls.values():
                make(s, q, cat)()
    seconds = {w: {s.name: [] for s in systems} for w in calls}
    answers = {w: {s.name: [] for s in systems} for w in calls}
    for i, (q, cat) in enumerate(zip(qvectors, qcats.tolist())):
        for w, (workload, make) in enumerate(calls.items()):
            for s in _order(systems, i + w):  # each workload cycles through every order
                took, rows = timed(make(s, q, cat))
                seconds[workload][s.name].append(took)
                answers[workload][s.name].append(rows)
    return seconds, answers


def measure_select1(systems: list, rounds: int) -> dict[str, list[float]]:
    for s in systems:
        for _ in range(20):
            s.select1()
    seconds = {s.name: [] for s in systems}
    for i in range(rounds):
        for s in _order(systems, i):
            seconds[s.name].append(timed(s.select1)[0])
    return seconds


def measure_load(systems: list, rows: pa.Table, reps: int) -> dict[str, list[float]]:
    """Seconds to append all `rows` to a fresh table, `reps` times per system, taking turns."""
    seconds = {s.name: [] for s in systems}
    for i in range(reps):
        for s in _order(systems, i):
            table = f"items_load_{i}"
            s.create(table)
            took, count = timed(lambda: s.load(table, rows))
            if count != rows.num_rows:
                raise AssertionError(f"{s.name} loaded {count} rows of {rows.num_rows}")
            seconds[s.name].append(took)
            s.drop(table)
    return seconds


# -- checking --------------------------------------------------------------------------------


class Checker:
    """Compares answers by ids, tolerating ties: exact distances recomputed in float64."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray, cats: np.ndarray):
        self.order = np.argsort(ids)
        self.sorted_ids = ids[self.order]
        self.vectors, self.cats = vectors, cats

    def _rows(self, answer: Rows) -> np.ndarray | None:
        """The row positions of the answer's ids, None if one is unknown."""
        found = np.asarray([row[0] for row in answer], dtype=np.int64)
        at = np.minimum(np.searchsorted(self.sorted_ids, found), len(self.sorted_ids) - 1)
        if (self.sorted_ids[at] != found).any():
            return None
        return self.order[at]

    def _exact(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        diff = self.vectors[rows].astype(np.float64) - q.astype(np.float64)
        return np.sqrt((diff * diff).sum(axis=1))

    def distances(self, answer: Rows, q: np.ndarray) -> np.ndarray | None:
        rows = self._rows(answer)
        return None if rows is None else np.sort(self._exact(rows, q))

    def valid(self, answer: Rows, q: np.ndarray, cat: int | None, expected: int) -> bool:
        """Right length, unique known ids, rows that pass the filter, in order of distance, and
        distances as reported (within float32's rounding)."""
        rows = self._rows(answer)
        if rows is None or len(answer) != expected or len(set(rows.tolist())) != len(rows):
            return False
        if cat is not None and not (self.cats[rows] == cat).all():
            return False
        reported = np.asarray([row[1] for row in answer], dtype=np.float64)
        exact = self._exact(rows, q)
        return bool((np.diff(reported) >= 0).all() and np.allclose(reported, exact, rtol=1e-4, atol=1e-6))

    def agree(self, a: Rows, b: Rows, q: np.ndarray) -> bool:
        if [r[0] for r in a] == [r[0] for r in b]:
            return True
        da, db = self.distances(a, q), self.distances(b, q)
        if da is None or db is None or len(da) != len(db):
            return False
        return bool(np.all(np.abs(da - db) <= REL_TOL * np.maximum(np.maximum(da, db), 1e-30)))


def check(answers: dict, checker: Checker, qvectors: np.ndarray, qcats: np.ndarray, rows: int) -> dict:
    """Mismatches per workload: between each pair of systems, and answers invalid on their own."""
    report = {}
    counts = np.bincount(checker.cats, minlength=int(qcats.max()) + 1)
    for workload, by_system in answers.items():
        names = list(by_system)
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
        entry = {f"{a}_vs_{b}": 0 for a, b in pairs}
        entry.update({f"{n}_invalid": 0 for n in names})
        for i, q in enumerate(qvectors):
            cat = int(qcats[i]) if workload == "knn_filtered" else None
            expected = min(K, rows if cat is None else int(counts[cat]))
            for name in names:
                entry[f"{name}_invalid"] += not checker.valid(by_system[name][i], q, cat, expected)
            for a, b in pairs:
                entry[f"{a}_vs_{b}"] += not checker.agree(by_system[a][i], by_system[b][i], q)
        entry["queries"] = len(qvectors)
        entry["mismatches"] = sum(v for k, v in entry.items() if k not in ("queries", "mismatches"))
        report[workload] = entry
    return report


# -- reporting -------------------------------------------------------------------------------


def summarize(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000.0
    return {
        "n": len(ms),
        "median_ms": float(np.median(ms)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "min_ms": float(ms.min()),
        "qps": float(1000.0 / ms.mean()),
    }


def ratios(seconds: dict[str, list[float]], stats: dict[str, dict], base: str = "duckdb") -> dict:
    """Each system against `base`: ratio of medians, and the median of the per-round ratios
    (paired: the two ran back to back, so this one shrugs off slow stretches of the machine)."""
    out = {}
    for name, samples in seconds.items():
        if name == base:
            continue
        ratio = stats[name]["median_ms"] / stats[base]["median_ms"]
        paired = float(np.median(np.asarray(samples) / np.asarray(seconds[base])))
        out[f"{name}/{base}"] = {
            "ratio": ratio,
            "overhead_pct": (ratio - 1.0) * 100.0,
            "paired_ratio": paired,
            "paired_overhead_pct": (paired - 1.0) * 100.0,
            "extra_ms": stats[name]["median_ms"] - stats[base]["median_ms"],
        }
    return out




def _meta(args: argparse.Namespace, sizes: dict) -> dict:
    return {
        **report.run("exact"),
        "quick": args.quick,
        "storage": args.storage,
        "seed": args.seed,
        "k": K,
        "filter_keeps": 1.0 / data.CATEGORIES,
        **sizes,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "blas_env": {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP_", "MKL_"))},
        "versions": {"vsql": vsql.__version__, "duckdb": duckdb.__version__, "numpy": np.__version__, "pyarrow": pa.__version__},
        "vsql_path": str(Path(vsql.__file__).resolve().parent),
        "git": git(),
        "note": args.note,
    }




def _fmt(ms: float) -> str:
    return f"{ms:.3f}" if ms < 10 else f"{ms:.1f}"


def _vs(r: dict | None) -> str:
    if r is None:
        return "1 (baseline)"
    return f"{r['ratio']:.3f} ({r['overhead_pct']:+.1f}%)"


def _paired(r: dict | None) -> str:
    return "" if r is None else f"{r['paired_ratio']:.3f} ({r['paired_overhead_pct']:+.1f}%)"


def markdown(result: dict) -> str:
    m = result["meta"]
    lines = [
        f"# Exact k-NN: vsql vs DuckDB SQL vs NumPy ({m['rows']:,} x {m['dim']}, k = {m['k']})",
        "",
        f"{m['date']} · `{m['command']}` · {m['storage']} · {m['cpus']} CPUs · Python {m['python']} · "
        + " · ".join(f"{k} {v}" for k, v in m["versions"].items())
        + (f" · commit {m['git']['commit'][:10]}" if m["git"]["commit"] else f" · vsql from {m['vsql_path']}")
        + (f" (+ uncommitted changes in {', '.join(m['git']['vsql_modified'])})" if m["git"]["vsql_modified"] else ""),
        "",
        *([m["note"], ""] if m["note"] else []),
        f"{m['queries']} queries per k-NN workload, {m['trivial']} rounds of `SELECT 1`, {m['load_reps']} load(s) "
        "per system; systems take turns per query, in every order in turn. *vs DuckDB*: ratio of medians; *paired*: median of the "
        "per-query ratios. 1-minute load average "
        f"{m['loadavg_1min']['start']} at the start, {m['loadavg_1min']['end']} at the end, on {m['cpus']} CPUs "
        "(well above 0 means other work shared the cores).",
        "",
        "| workload | system | median ms | p99 ms | queries/s | vs DuckDB | paired |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "knn": "k-NN, no filter",
        "knn_filtered": f"k-NN, `WHERE cat = ?` (~{m['filter_keeps']:.0%})",
        "select1": "`SELECT 1`",
    }
    for workload, label in labels.items():
        stats, rel = result["results"][workload], result["ratios"][workload]
        for i, (name, s) in enumerate(stats.items()):
            r = rel.get(f"{name}/duckdb")
            lines.append(
                f"| {label if i == 0 else ''} | {name} | {_fmt(s['median_ms'])} | {_fmt(s['p99_ms'])} | "
                f"{s['qps']:,.0f} | {_vs(r)} | {_paired(r)} |"
            )
    load, rel = result["results"]["load"], result["ratios"]["load"]
    lines += [
        "",
        f"Loading {m['rows']:,} rows from an Arrow table into an empty table:",
        "",
        "| system | median s | rows/s | vs DuckDB |",
        "|---|---:|---:|---:|",
    ]
    for name, s in load.items():
        lines.append(
            f"| {name} | {s['median_ms'] / 1000:.3f} | {m['rows'] / (s['median_ms'] / 1000):,.0f} | "
            f"{_vs(rel.get(f'{name}/duckdb'))} |"
        )
    c = result["correctness"]
    lines += ["", f"**Correctness**: {result['mismatches']} mismatches in total."]
    for workload, entry in c.items():
        details = ", ".join(f"{k.replace('_vs_', ' vs ')} {v}" for k, v in entry.items() if k not in ("queries", "mismatches"))
        lines.append(f"- {workload} ({entry['queries']} queries): {details}")
    g = result["goal"]
    lines += [
        "",
        f"**Goal** (vsql's overhead over DuckDB per exact k-NN statement under {g['target_pct']:.0f}%): "
        f"{g['overhead_pct']:+.1f}% (ratio of medians), {g['paired_overhead_pct']:+.1f}% (paired), "
        f"{g['extra_ms']:+.3f} ms per statement; `SELECT 1` costs {g['select1_extra_ms']:+.3f} ms more "
        f"through vsql — **{'met' if g['met'] else 'not met'}**"
        + ("." if (m["rows"], m["dim"]) == (FULL["rows"], FULL["dim"])
           else f" (the goal is set for {FULL['rows']:,} x {FULL['dim']}; this run is smaller)."),
        "",
        "Where vsql's extra time goes, step by step: `python -m benchmarks.profile_vsql`.",
        "",
    ]
    return "\n".join(lines)




# -- main ------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    preset = QUICK if args.quick else FULL
    sizes = {key: getattr(args, key) if getattr(args, key) is not None else value for key, value in preset.items()}
    rows, dim = sizes["rows"], sizes["dim"]

    def log(message: str) -> None:
        print(f"[exact] {message}", file=sys.stderr, flush=True)

    load_before = loadavg()
    log(f"data: {rows:,} x {dim}, {sizes['queries']} queries, seed {args.seed}")
    ids, vectors, cats = data.clustered(rows, dim, args.seed)
    qvectors, qcats = data.queries(sizes["queries"] + sizes["warmup"], dim, args.seed)
    timed_q, timed_c = qvectors[: sizes["queries"]], qcats[: sizes["queries"]]
    warm_q, warm_c = qvectors[sizes["queries"]:], qcats[sizes["queries"]:]  # extra ones, untimed
    table = data.to_arrow(ids, vectors, cats)

    with tempfile.TemporaryDirectory(prefix="vsql-bench-") as tmp:
        path = (lambda name: os.path.join(tmp, name)) if args.storage == "file" else (lambda name: ":memory:")
        v, d, n = Vsql(path("vsql.duckdb"), dim), DuckDB(path("duckdb.duckdb"), dim), NumPy(ids, vectors, cats)
        try:
            first_load = {}
            for s in (v, d):
                s.create("items")
                first_load[s.name] = timed(lambda: s.load("items", table))[0]
            log(f"loaded items: vsql {first_load['vsql']:.2f} s, duckdb {first_load['duckdb']:.2f} s")

            log("k-NN queries ...")
            seconds, answers = measure_knn([v, d, n], timed_q, timed_c, warm_q, warm_c)
            log("SELECT 1 ...")
            seconds["select1"] = measure_select1([v, d], sizes["trivial"])
            log("loads ...")
            seconds["load"] = measure_load([v, d], table, sizes["load_reps"])
        finally:
            for s in (v, d, n):
                s.close()

    log("checking answers ...")
    correctness = check(answers, Checker(ids, vectors, cats), timed_q, timed_c, rows)
    results = {w: {name: summarize(s) for name, s in by_system.items()} for w, by_system in seconds.items()}
    rel = {w: ratios(seconds[w], results[w]) for w in results}
    knn = rel["knn"]["vsql/duckdb"]
    meta = _meta(args, sizes)
    meta["first_load_s"] = first_load
    meta["loadavg_1min"] = {"start": load_before, "end": loadavg()}
    return {
        "meta": meta,
        "results": results,
        "ratios": rel,
        "correctness": correctness,
        "mismatches": sum(entry["mismatches"] for entry in correctness.values()),
        "goal": {
            "target_pct": GOAL_PCT,
            "overhead_pct": knn["overhead_pct"],
            "paired_overhead_pct": knn["paired_overhead_pct"],
            "extra_ms": knn["extra_ms"],
            "select1_extra_ms": rel["select1"]["vsql/duckdb"]["extra_ms"],
            "met": knn["overhead_pct"] < GOAL_PCT,
        },
        "samples_ms": {w: {name: [round(t * 1000.0, 4) for t in s] for name, s in by.items()} for w, by in seconds.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.exact", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, help=f"rows in the table (default {FULL['rows']}; --quick {QUICK['rows']})")
    parser.add_argument("--dim", type=int, help=f"vector dimensions (default {FULL['dim']}; --quick {QUICK['dim']})")
    parser.add_argument("--queries", type=int, help=f"timed queries per workload (default {FULL['queries']})")
    parser.add_argument("--trivial", type=int, help=f"rounds of SELECT 1 (default {FULL['trivial']})")
    parser.add_argument("--load-reps", type=int, help=f"timed loads per system (default {FULL['load_reps']})")
    parser.add_argument("--warmup", type=int, help=f"untimed queries first (default {FULL['warmup']})")
    parser.add_argument("--quick", action="store_true", help="tiny sizes that run in seconds (for CI)")
    parser.add_argument("--storage", choices=("memory", "file"), default="memory",
                        help="in-memory databases (default) or database files in a temporary directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="a line recorded with the results (e.g. which vsql was measured)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                        help="directory for exact.json and exact.md (default benchmarks/results)")
    args = parser.parse_args(argv)

    result = run(args)
    write(args.out, "exact", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
