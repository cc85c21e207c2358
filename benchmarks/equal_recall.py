"""vsql against pgvector at equal recall, on the filters where pgvector's defaults return few rows.

    python -m benchmarks.equal_recall            # 100k x 128, 100 queries per workload
    python -m benchmarks.equal_recall --quick

`benchmarks.ann` compares each system at its own defaults, where pgvector's HNSW returns few or
no rows on selective and correlated filters, so its queries/s there buy no answer. This asks what
pgvector costs once it does answer: its iterative scans (`hnsw.iterative_scan = relaxed_order`,
`hnsw.max_scan_tuples` lifted) at ef_search 40 to 1000, against vsql-hnsw at its defaults, on the
same data, filters and queries as `benchmarks.ann`, measured as it measures (`ann.measure`:
blocks of queries, the systems taking turns, settings applied untimed before each block).
Results: `<out>/equal_recall.json` and `.md` (also printed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import ann
from .peers import PgvectorPeer
from . import report
from .report import git, loadavg, write

WORKLOADS = ("indep 10%", "corr 50%", "corr 10%")
WARMUP, BLOCK = 3, 10
EF_SEARCH = (40, 100, 200, 400, 1000)


def run(rows: int, dim: int, queries: int, seed: int) -> dict:
    ds = ann.make_data(rows, dim, seed)
    qs = ann.make_queries(ds, queries, WARMUP, 0, seed)
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
    configs = [vsql_db.config()]
    for ef in EF_SEARCH:
        settings = {"iterative_scan": "relaxed_order", "ef_search": ef, "max_scan_tuples": 1_000_000}
        configs.append(ann.Config(f"pgvector iterative ef={ef}", "pgvector-hnsw", "pgvector", settings,
                                  lambda q, w, s=settings: peer.search(q, ann.K, w.terms, s),
                                  lambda s=settings: peer.prepare(s)))
    loads = [w for w in ann.workloads() if w.name in WORKLOADS]
    try:
        measured = ann.measure(configs, loads, qs, BLOCK, print)
    finally:
        peer.close()
    out = {}
    for w in loads:
        mask = w.mask(ds.columns)
        truth = ann.exact_topk(ds, qs.timed[w.query_set], mask)
        out[w.name] = {c.label: ann.score(w, ds, measured[w.name]["seconds"][c.label], measured[w.name]["found"][c.label],
                                          truth, int(mask.sum())) for c in configs}
    return {"meta": {**report.run("equal_recall"), "rows": rows, "dim": dim, "queries": queries, "seed": seed,
                     "pgvector": version,
        "git": git(), "loadavg_1min": loadavg()}, "results": out}


def markdown(result: dict) -> str:
    meta = result["meta"]
    lines = [f"# vsql-hnsw against pgvector's iterative scans at equal recall ({meta['rows']:,} x {meta['dim']}, k = 10)",
             "", f"{meta['date']} · {meta['pgvector']} · commit {meta['git'].get('commit', '?')[:10]} · "
             f"{meta['queries']} queries per workload · 1-min load average {meta['loadavg_1min']}", "",
             "| workload | system | queries/s | recall@10 | fewest rows | vsql's queries/s over this |",
             "|---|---|---:|---:|---:|---:|"]
    for workload, by in result["results"].items():
        base = by["vsql-hnsw"]["qps_median"]
        for name, r in by.items():
            lines.append(f"| {workload} | {name} | {r['qps_median']:,.0f} | {r['recall']:.3f} | {r['rows_min']} | "
                         f"{base / r['qps_median']:.2f} |")
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
