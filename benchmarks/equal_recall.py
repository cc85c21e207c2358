"""vsql against pgvector at equal recall, on the filters where pgvector's defaults return few rows.

    python -m benchmarks.equal_recall            # 100k x 128, 100 queries per workload
    python -m benchmarks.equal_recall --quick

`benchmarks.ann` compares each system at its own defaults, where pgvector's HNSW returns few or
no rows on selective and correlated filters, so its queries/s there buy no answer. This asks what
pgvector costs once it does answer: its iterative scans (`hnsw.iterative_scan = relaxed_order`,
`hnsw.max_scan_tuples` lifted) at ef_search 40 to 1000, against vsql-hnsw at its defaults, on the
same data, filters and queries as `benchmarks.ann`, the systems taking turns query by query.
Results: `<out>/equal_recall.json` and `.md` (also printed).
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np

from . import ann
from .peers import PgvectorPeer
from .report import git, loadavg, write

WORKLOADS = ("indep 10%", "corr 50%", "corr 10%")
EF_SEARCH = (40, 100, 200, 400, 1000)


def run(rows: int, dim: int, queries: int, seed: int) -> dict:
    ds = ann.make_data(rows, dim, seed)
    qs = ann.make_queries(ds, queries, 0, 0, seed)
    vsql_db = ann.VsqlSystem("vsql-hnsw", dim, "hnsw")
    vsql_db.load(ds.arrow())
    vsql_db.build()
    peer = PgvectorPeer()
    reason = peer.available()
    if reason:
        raise SystemExit(f"pgvector cannot run here: {reason}")
    version = peer.version
    peer.load(ds.ids, ds.vectors, ds.columns)
    peer.build("hnsw", "l2")
    loads = {w.name: w for w in ann.workloads()}
    out = {}
    try:
        for name in WORKLOADS:
            w = loads[name]
            batch = qs.timed[w.query_set]
            truth = ann.exact_topk(ds, batch, w.mask(ds.columns))
            systems = {"vsql-hnsw": lambda q, w=w: vsql_db.search(q, w)}
            for ef in EF_SEARCH:
                settings = {"iterative_scan": "relaxed_order", "ef_search": ef, "max_scan_tuples": 1_000_000}
                systems[f"pgvector iterative ef={ef}"] = lambda q, w=w, s=settings: peer.search(q, ann.K, w.terms, s)
            out[name] = _measure(systems, batch, truth)
    finally:
        peer.close()
    return {"meta": {"benchmark": "equal_recall", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "rows": rows, "dim": dim, "queries": queries, "seed": seed, "pgvector": version,
        "git": git(), "loadavg_1min": loadavg()}, "results": out}


def _measure(systems: dict, queries: np.ndarray, truth: list[np.ndarray]) -> dict:
    """Per system: queries/s (1 / median latency), recall@10 and fewest rows; turns rotate per query."""
    names = list(systems)
    seconds = {n: [] for n in names}
    found = {n: [] for n in names}
    for name in names:
        systems[name](queries[0])  # warm: settings applied, caches filled
    for i, q in enumerate(queries):
        for name in names[i % len(names):] + names[:i % len(names)]:
            start = time.perf_counter()
            ids = systems[name](q)
            seconds[name].append(time.perf_counter() - start)
            found[name].append(np.asarray(ids, np.int64))
    return {n: {"qps": 1 / float(np.median(seconds[n])),
                "recall": float(np.mean([len(np.intersect1d(f, t)) / max(len(t), 1) for f, t in zip(found[n], truth)])),
                "rows_min": min(len(f) for f in found[n])} for n in names}


def markdown(result: dict) -> str:
    meta = result["meta"]
    lines = [f"# vsql-hnsw against pgvector's iterative scans at equal recall ({meta['rows']:,} x {meta['dim']}, k = 10)",
             "", f"{meta['date']} · {meta['pgvector']} · commit {meta['git'].get('commit', '?')[:10]} · "
             f"{meta['queries']} queries per workload · 1-min load average {meta['loadavg_1min']}", "",
             "| workload | system | queries/s | recall@10 | fewest rows | vsql's queries/s over this |",
             "|---|---|---:|---:|---:|---:|"]
    for workload, by in result["results"].items():
        base = by["vsql-hnsw"]["qps"]
        for name, r in by.items():
            lines.append(f"| {workload} | {name} | {r['qps']:,.0f} | {r['recall']:.3f} | {r['rows_min']} | "
                         f"{base / r['qps']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small table and few queries (seconds)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    rows, dim, queries = (ann.QUICK["rows"], ann.QUICK["dim"], 10) if args.quick else (100_000, 128, 100)
    result = run(rows, dim, queries, args.seed)
    write(args.out, "equal_recall", result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
