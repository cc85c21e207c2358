"""vsql on Spark `local[2]` beside vsql on DuckDB and raw Faiss: a batch of LATERAL searches over a
table in several Parquet files, exact and through HNSW, filtered and not; sharded index build
against one Faiss build; and how build and batch change from 1 to 2 executor cores.

    python -m benchmarks.spark                                   # 1M x 128, 8 files, batch of 1,000
    python -m benchmarks.spark --rows 20000 --batch 50 --name spark-small

One run generates seeded clustered rows (`benchmarks.data.clustered`, never downloaded)

    items (id BIGINT PRIMARY KEY, cat INT, embedding VECTOR(dim))    queries (qid BIGINT PRIMARY KEY, q VECTOR(dim))

and runs the same statement on each system:

    SELECT s.qid, n.id FROM queries s CROSS JOIN LATERAL (SELECT id FROM items [WHERE cat = 3]
        ORDER BY embedding <-> s.q LIMIT 10) n

- Spark: a `local[2]` session (then `local[1]`); the table loaded in `--files` appends (each
  writes one Parquet file), so `--files` files; `CREATE INDEX ... USING hnsw (embedding
  vector_l2_ops)` builds one shard per file on the executors. Exact is Spark's NEAREST join over
  every row (before the index exists); HNSW is vsql's shard search, then Spark ranking each query's
  own candidates (`ann.run_batch`), with the shards searched on the driver (a local master's
  default), then again in Spark tasks (`spark.vsql.shardSearch = executors`, a cluster's default).
  On DuckDB and Spark, the unfiltered HNSW batch runs again at `SET hnsw.ef_search = 100`.
  Exact batches are `--exact-batch` queries (the first 20): exact searches over 1M rows take
  Spark's NEAREST join seconds each on 2 cores.
- DuckDB: vsql in a temporary DuckDB file, the same statements (its batch path).
- Raw Faiss: one `IndexHNSWFlat` (M 16, efConstruction 64, pgvector's defaults, as vsql's index)
  over every row, 2 threads; batch search at ef_search 40 (pgvector's default), and filtered with
  an `IDSelectorBitmap`.

Recall@10 is against exact L2 in NumPy/Faiss flat over the float32 rows. Times are wall seconds of
one batch after an untimed warm-up statement of one query (Spark's first job compiles code); queries/s =
batch / seconds. Results: `<out>/<name>.json|md`, default `benchmarks/results/spark/spark.*`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

import vsql
from benchmarks import data, report

K = 10
CAT = 3  # the filter `cat = 3` keeps about a tenth of the rows
HNSW = "WITH (m = 16, ef_construction = 64)"


DEEPER = 100  # a second HNSW batch at this ef_search (SET hnsw.ef_search): recall against speed


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def statement(filtered: bool, k: int = K, queries: str = "queries") -> str:
    where = f"WHERE cat = {CAT} " if filtered else ""
    return (f"SELECT s.qid, n.id FROM {queries} s CROSS JOIN LATERAL (SELECT id FROM items {where}"
            f"ORDER BY embedding <-> s.q LIMIT {k}) n")


def truth(vectors: np.ndarray, ids: np.ndarray, asked: np.ndarray, allowed: np.ndarray | None) -> list[set]:
    import faiss

    rows = np.arange(len(vectors)) if allowed is None else np.flatnonzero(allowed)
    flat = faiss.IndexFlatL2(vectors.shape[1])
    flat.add(vectors[rows])
    _, found = flat.search(asked, K)
    return [set(ids[rows[f]].tolist()) for f in found]


def recall(rows: list[tuple], expected: list[set], count: int) -> tuple[float, int]:
    """Mean recall@10 over the first `count` queries, and how many of them got fewer than 10 rows."""
    got: dict[int, set] = {}
    for qid, key in rows:
        got.setdefault(qid, set()).add(key)
    short = sum(len(got.get(q, ())) < K for q in range(count))
    return float(np.mean([len(got.get(q, set()) & expected[q]) / K for q in range(count)])), short


def batch(con, filtered: bool, expected: list[set], count: int, queries: str = "queries") -> dict:
    sql = statement(filtered, queries=queries)
    con.execute(statement(filtered, 1, "warm_queries")).fetchall()  # warm-up: one query, the same plan
    started = time.perf_counter()
    rows = con.execute(sql).fetchall()
    seconds = time.perf_counter() - started
    found, short = recall(rows, expected, count)
    plan = getattr(con.session.engine, "last_search", None) or con.execute("EXPLAIN " + sql).fetchall()[0][-1]
    return {"queries": count, "seconds": round(seconds, 3), "qps": round(count / seconds, 2), "recall": round(found, 4),
            "fewer_than_k": short, "plan": str(plan).splitlines()[:3]}


def load(con, ids, vectors, cats, asked, appends: int, exact: int) -> None:
    """The rows in `appends` appends; the queries, and the first `exact` of them for the exact
    batches (1,000 exact searches over 1M rows run for minutes)."""
    con.execute(f"CREATE TABLE items (id BIGINT PRIMARY KEY, cat INT, embedding VECTOR({vectors.shape[1]}))")
    for part in np.array_split(np.arange(len(ids)), max(1, appends)):
        con.load("items", data.to_arrow(ids[part], vectors[part], cats[part]))
    for name, count in (("queries", len(asked)), ("exact_queries", exact), ("warm_queries", 1)):
        con.execute(f"CREATE TABLE {name} (qid BIGINT PRIMARY KEY, q VECTOR({vectors.shape[1]}))")
        con.load(name, pa.table({"qid": pa.array(np.arange(count), pa.int64()),
                                 "q": pa.FixedSizeListArray.from_arrays(pa.array(asked[:count].ravel()), asked.shape[1])}))


def measure(con, label: str, args, asked, expected: dict) -> dict:
    """Exact batches, CREATE INDEX, HNSW batches, filtered and not, on one vsql connection."""
    out = {}
    for filtered in () if args.no_exact else (False, True):
        log(f"{label}: exact batch, filtered={filtered}")
        out[f"exact{'_filtered' if filtered else ''}"] = batch(
            con, filtered, expected[filtered], args.exact_batch, "exact_queries")
    log(f"{label}: CREATE INDEX")
    seconds, _ = report.timed(lambda: con.execute(
        f"CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_l2_ops) {HNSW}"))
    con.commit()
    out["build_s"] = round(seconds, 1)
    for filtered in (False, True):
        log(f"{label}: HNSW batch, filtered={filtered}")
        out[f"hnsw{'_filtered' if filtered else ''}"] = batch(con, filtered, expected[filtered], len(asked))
    log(f"{label}: HNSW batch, ef_search {DEEPER}")
    con.execute(f"SET hnsw.ef_search = {DEEPER}")
    out["hnsw_deeper"] = batch(con, False, expected[False], len(asked))
    con.execute("RESET hnsw.ef_search")
    return out


def spark_run(cores: int, args, ids, vectors, cats, asked, expected: dict, warehouse: str) -> dict:
    from vsql.engine.spark import ann

    config = {"spark.sql.warehouse.dir": os.path.join(warehouse, f"cores-{cores}"),
              "spark.sql.shuffle.partitions": str(cores), "spark.driver.memory": "6g"}
    log(f"spark local[{cores}]: starting")
    started = time.perf_counter()
    con = vsql.connect(f"spark://local[{cores}]", config=config)
    out = {"session_start_s": round(time.perf_counter() - started, 1)}
    try:
        engine = con.session.engine
        load(con, ids, vectors, cats, asked, args.files, args.exact_batch)  # an append writes one file
        out["files"] = len(engine.spark.table("items").inputFiles())
        out.update(measure(con, f"spark local[{cores}]", args, asked, expected))
        engine.spark.conf.set(ann.SEARCH_WHERE, "executors")  # the shards searched in Spark tasks, as on a cluster
        for filtered in (False, True):
            log(f"spark local[{cores}]: HNSW batch, shards on the executors, filtered={filtered}")
            out[f"hnsw_executors{'_filtered' if filtered else ''}"] = batch(con, filtered, expected[filtered],
                                                                            len(asked))
        manifest = ann._manifest(os.path.join(ann._folder(engine, "items", "items_hnsw"), "v1"))
        out["shard_build_s"] = [s["seconds"] for s in manifest["shards"]]
    finally:
        con.close()
    return out


def duckdb_run(args, ids, vectors, cats, asked, expected: dict, folder: str) -> dict:
    con = vsql.connect(os.path.join(folder, "bench.duckdb"))
    try:
        load(con, ids, vectors, cats, asked, args.files, args.exact_batch)
        con.commit()
        return measure(con, "duckdb", args, asked, expected)
    finally:
        con.close()


def faiss_run(args, ids, vectors, cats, asked, expected: dict) -> dict:
    import faiss

    faiss.omp_set_num_threads(2)
    out = {}
    index = faiss.IndexHNSWFlat(vectors.shape[1], 16)
    index.hnsw.efConstruction = 64
    seconds, _ = report.timed(lambda: index.add(vectors))
    out["build_s"] = round(seconds, 1)
    shards = np.array_split(np.arange(len(vectors)), args.files)
    faiss.omp_set_num_threads(1)
    shard_seconds = []
    for part in shards[:2]:  # one shard's build on one thread, as a Spark task builds it
        shard = faiss.IndexHNSWFlat(vectors.shape[1], 16)
        shard.hnsw.efConstruction = 64
        shard_seconds.append(report.timed(lambda shard=shard, part=part: shard.add(vectors[part]))[0])
    out["shard_build_1_thread_s"] = round(float(np.mean(shard_seconds)), 1)
    faiss.omp_set_num_threads(2)
    for filtered in (False, True):
        params = faiss.SearchParametersHNSW(efSearch=40)
        if filtered:
            mask = np.packbits(cats == CAT, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(vectors), faiss.swig_ptr(mask))
        seconds, (_, found) = report.timed(lambda params=params: index.search(asked, K, params=params))
        rows = [(q, int(ids[s])) for q, slots in enumerate(found) for s in slots if s >= 0]
        got, short = recall(rows, expected[filtered], len(asked))
        out[f"hnsw{'_filtered' if filtered else ''}"] = {
            "queries": len(asked), "seconds": round(seconds, 3), "qps": round(len(asked) / seconds, 1),
            "recall": round(got, 4), "fewer_than_k": short}
    return out


PLAN = {"rows": 1_000_000_000, "dim": 768, "shard_rows": 250_000, "executors": 64, "cores": 8, "memory_gb": 64}


def shard_figures(rows: int, dim: int, batch: int) -> dict:
    """One shard as a Spark task builds and searches it (one thread): HNSW over `rows` x `dim`
    clustered rows, build seconds, serialized bytes per vector, and a batch of `batch` queries."""
    import faiss

    faiss.omp_set_num_threads(1)
    _, vectors, _ = data.clustered(rows, dim, seed=11)
    asked, _ = data.queries(batch, dim, seed=11)
    index = faiss.IndexHNSWFlat(dim, 16)
    index.hnsw.efConstruction = 64
    build, _ = report.timed(lambda: index.add(vectors))
    search, _ = report.timed(lambda: index.search(asked, K, params=faiss.SearchParametersHNSW(efSearch=40)))
    return {"rows": rows, "dim": dim, "batch": batch, "build_s": round(build, 1),
            "bytes_per_vector": round(len(faiss.serialize_index(index)) / rows, 1), "batch_search_s": round(search, 3)}


def plan(shard: dict, spark_overhead_s: float) -> dict:
    """A 1B x 768 deployment from one measured shard: shards of `PLAN['shard_rows']` rows (one
    Parquet file each), build and search time scaled linearly in rows (an HNSW build grows about
    as n log n: slightly under; a search as log n: well over), spread over the executors' cores."""
    p = PLAN
    shards = p["rows"] // p["shard_rows"]
    scale = p["shard_rows"] / shard["rows"]
    cores = p["executors"] * p["cores"]
    shard_gb = shard["bytes_per_vector"] * p["shard_rows"] / 1e9
    per_core = -(-shards // cores)
    return {**p, "shards": shards, "shard_gb": round(shard_gb, 2),
            "index_tb": round(shard_gb * shards / 1e3, 2),
            "memory_per_executor_gb": round(shard_gb * per_core * p["cores"], 1),
            "shard_build_s": round(shard["build_s"] * scale), "build_hours": round(shard["build_s"] * scale * per_core / 3600, 1),
            "shards_per_core": per_core,
            "batch_s": round(shard["batch_search_s"] * scale * per_core + spark_overhead_s, 1)}


def run(args) -> dict:
    meta = {**report.run("spark"), "git": report.git(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "loadavg_1min": {"start": report.loadavg()}}
    import duckdb
    import faiss
    import pyspark

    meta["versions"] = {"duckdb": duckdb.__version__, "faiss": faiss.__version__, "pyspark": pyspark.__version__}
    ids, vectors, cats = data.clustered(args.rows, args.dim, seed=7)
    asked, _ = data.queries(args.batch, args.dim, seed=7)
    log(f"{args.rows} x {args.dim}, batch {args.batch}: exact answers")
    expected = {False: truth(vectors, ids, asked, None), True: truth(vectors, ids, asked, cats == CAT)}
    result = {"meta": meta, "rows": args.rows, "dim": args.dim, "batch": args.batch, "exact_batch": args.exact_batch,
              "files_asked": args.files}
    folder = tempfile.mkdtemp(prefix="vsql-bench-spark-")
    try:
        if args.plan_shard:
            log(f"one {args.plan_shard} x 768 shard, one thread: the 1B x 768 plan's figures")
            result["shard"] = shard_figures(args.plan_shard, 768, args.batch)
        log("raw faiss")
        result["faiss"] = faiss_run(args, ids, vectors, cats, asked, expected)
        if not args.no_duckdb:
            result["duckdb"] = duckdb_run(args, ids, vectors, cats, asked, expected, folder)
        for cores in args.cores:
            result[f"spark_local{cores}"] = spark_run(cores, args, ids, vectors, cats, asked, expected, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    meta["loadavg_1min"]["end"] = report.loadavg()
    return result


def markdown(result: dict) -> str:
    meta = result["meta"]
    lines = [f"# vsql on Spark beside vsql on DuckDB and raw Faiss: {result['rows']:,} x {result['dim']}",
             "", report.header(meta), "",
             f"Batch of {result['batch']:,} LATERAL searches (k = {K}); exact batches: the first "
             f"{result['exact_batch']:,} queries; filtered: `WHERE cat = {CAT}` (about 10% of rows). "
             "q/s: queries per second of the batch; ratio: q/s against vsql on DuckDB.", "",
             "| system | search | q/s | ratio | recall@10 | queries < k rows |", "|---|---|---|---|---|---|"]
    systems = [("raw Faiss (one HNSW, 2 threads, ef 40)", result["faiss"])]
    if "duckdb" in result:
        systems.append(("vsql on DuckDB", result["duckdb"]))
    systems += [(f"vsql on Spark local[{key.removeprefix('spark_local')}] ({result[key]['files']} files)", result[key])
                for key in result if key.startswith("spark_local")]
    base = result.get("duckdb", {})
    for name, figures in systems:
        for search in ("exact", "exact_filtered", "hnsw", "hnsw_filtered", "hnsw_deeper", "hnsw_executors",
                       "hnsw_executors_filtered"):
            f = figures.get(search)
            if f is None:
                continue
            same = search.replace("_executors", "")
            ratio = f"{f['qps'] / base[same]['qps']:.2f}x" if same in base else "-"
            label = same.replace("_", ", ").replace("deeper", f"ef_search {DEEPER}") + (
                " (shards searched on the executors)" if same != search else "")
            lines.append(f"| {name} | {label} | {f['qps']:,.1f} | {ratio} | {f['recall']:.3f} | "
                         f"{f['fewer_than_k']} |")
    lines += ["", "| system | index build (s) | per shard (s, one thread) |", "|---|---|---|",
              f"| raw Faiss, one index, 2 threads | {result['faiss']['build_s']} | "
              f"{result['faiss']['shard_build_1_thread_s']} (a 1/{result['files_asked']} slice) |"]
    if "duckdb" in result:
        lines.append(f"| vsql on DuckDB, one index | {result['duckdb']['build_s']} | - |")
    for name, figures in systems[1 + ("duckdb" in result):]:
        shards = figures["shard_build_s"]
        lines.append(f"| {name}, {len(shards)} shards | {figures['build_s']} | "
                     f"{np.mean(shards):.1f} mean, {max(shards):.1f} max |")
    spark = next((result[key] for key in result if key.startswith("spark_local")), None)
    if "shard" in result and spark is not None:
        shard = result["shard"]
        p = plan(shard, spark["hnsw"]["seconds"])
        lines += ["", "## 1B x 768 on paper, from one measured shard", "",
                  f"Measured: one HNSW shard of {shard['rows']:,} x {shard['dim']} (M 16, efConstruction 64) on one "
                  f"thread builds in {shard['build_s']} s, holds {shard['bytes_per_vector']:,} bytes a vector, and "
                  f"answers a batch of {shard['batch']:,} queries at ef_search 40 in {shard['batch_search_s']} s. "
                  f"Scaled linearly in rows (builds slightly under, searches well over) to shards of {p['shard_rows']:,} rows (one Parquet file of about "
                  f"{p['shard_rows'] * p['dim'] * 4 / 1e9:.1f} GB each), on {p['executors']} executors of "
                  f"{p['cores']} cores and {p['memory_gb']} GB:", "",
                  "| shards | index size | per shard | shards per core | memory per executor | build | batch of "
                  f"{shard['batch']:,} |", "|---|---|---|---|---|---|---|",
                  f"| {p['shards']:,} | {p['index_tb']} TB | {p['shard_gb']} GB, {p['shard_build_s']:,} s to build | "
                  f"{p['shards_per_core']} | {p['memory_per_executor_gb']} GB | {p['build_hours']} h | "
                  f"{p['batch_s']} s |", "",
                  f"The batch figure adds this run's whole Spark HNSW batch time ({spark['hnsw']['seconds']} s: the "
                  "query rows, the shard search, Spark's ranking of each query's candidates) to the shards' search, "
                  "with each executor searching the shards it holds (`spark.vsql.shardSearch = executors`, the "
                  "default off a local master; each Python worker keeps the shards it loaded)."]
    lines += ["", "Plans (first lines):", ""]
    for name, figures in systems[1:]:
        for search in [s for s in ("hnsw", "hnsw_filtered", "hnsw_executors", "hnsw_executors_filtered") if s in figures]:
            lines.append(f"- {name}, {search}: `{' / '.join(figures[search]['plan'])}`")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--exact-batch", type=int, default=20)
    parser.add_argument("--cores", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--plan-shard", type=int, default=100_000, help="rows of the 768-dimension shard measured "
                        "for the 1B x 768 plan (0: none)")
    parser.add_argument("--no-exact", action="store_true")
    parser.add_argument("--no-duckdb", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/spark"))
    parser.add_argument("--name", default="spark")
    args = parser.parse_args(argv)
    result = run(args)
    report.write(args.out, args.name, result, markdown(result))


if __name__ == "__main__":
    main()
