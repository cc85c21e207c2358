"""Quantized indexes against flat ones: build time, size on disk, bytes per vector, recall@10 and
queries per second, through vsql's SQL on clustered rows (`python -m benchmarks.quantized`).

    python -m benchmarks.quantized --rows 100000 --dim 128 --queries 200
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import vsql
from benchmarks.data import clustered, queries, to_arrow

CONFIGS = [
    ("hnsw", ""), ("hnsw", "quantizer = 'sq8'"), ("hnsw", "quantizer = 'rabitq'"),
    ("ivfflat", ""), ("ivfflat", "quantizer = 'pq', pq_m = 16"), ("ivfflat", "quantizer = 'pq'"),
    ("ivfflat", "quantizer = 'rabitq'"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    ids, vectors, cats = clustered(args.rows, args.dim, seed=0)
    asked, _ = queries(args.queries, args.dim, seed=0)
    truth = [set(ids[np.argsort(((vectors - q) ** 2).sum(axis=1))[:10]]) for q in asked]
    with tempfile.TemporaryDirectory() as folder:
        con = vsql.connect(str(Path(folder) / "bench.duckdb"), autocommit=True)
        con.execute(f"CREATE TABLE items (id BIGINT PRIMARY KEY, cat INT, embedding VECTOR({args.dim}))")
        con.load("items", to_arrow(ids, vectors, cats))
        print("| index | build s | size MB | bytes/vector | recall@10 | queries/s |")
        print("|---|---|---|---|---|---|")
        for method, options in CONFIGS:
            con.execute("DROP INDEX IF EXISTS bench_idx")
            with_ = f" WITH ({options})" if options else ""
            con.execute(f"CREATE INDEX bench_idx ON items USING {method} (embedding vector_l2_ops){with_}")
            built, size, count = con.execute(
                "SELECT build_seconds, size_bytes, rows FROM vsql.indexes WHERE name = 'bench_idx'").fetchone()
            sql = "SELECT id FROM items ORDER BY embedding <-> ? LIMIT 10"
            con.execute(sql, [asked[0]]).fetchall()  # warm: the row store, the threads
            started, found = time.perf_counter(), 0
            for q, expected in zip(asked, truth):
                found += len(expected & {row[0] for row in con.execute(sql, [q]).fetchall()})
            seconds = time.perf_counter() - started
            print(f"| {method} {options or 'flat'} | {built:.1f} | {size / 1e6:.1f} | {size / count:.0f} | "
                  f"{found / (10 * len(asked)):.3f} | {len(asked) / seconds:.0f} |", flush=True)
        con.close()


if __name__ == "__main__":
    main()
