"""`python -m benchmarks.ann --quick` end to end (without pgvector, to stay fast): the report is
complete, and vsql keeps its promise on every workload, filtered or not, correlated or not, with
a filter value per query or not, selecting the row's columns or only its id: it returns k rows
whenever k rows match, and only rows that pass the filter. The other peers run once more on a
small table, for the figures the report gives of each."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the benchmark end to end: about 40 s; CI runs it

ROOT = Path(__file__).resolve().parent.parent
SYSTEMS = "vsql-hnsw,vsql-ivfflat,faiss-hnsw,vsql-exact"
STANDARD = ["unfiltered", "indep 50%", "indep 10%", "indep 1%", "indep 0.1%",
            "corr 50%", "corr 10%", "corr 1%", "corr 0.1%"]
APP = ["unfiltered fetch", "tenant/q 0.1%", "tenant/q 0.1% fetch", "category/q 5%", "category/q 5% fetch",
       "range/q 50%", "range/q 10%", "range/q 1%", "range/q 0.1%"]
WORKLOADS = STANDARD + APP
METRICS = ["n", "p50_ms", "p99_ms", "mean_ms", "qps_median", "qps_total", "recall", "recall_min", "recall_at_1",
           "rows_mean", "rows_min", "rows_expected", "short_queries", "bad_rows"]
VSQL = {"hnsw": ["vsql-exact", "vsql-hnsw"], "ivfflat": ["vsql-exact", "vsql-ivfflat"]}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ann")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.ann", "--quick", "--out", str(out), "--systems", SYSTEMS],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "ann.json").read_text()), (out / "ann.md").read_text()


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def test_report_is_complete(quick_run):
    result, md = quick_run
    meta = result["meta"]
    assert meta["quick"] and meta["k"] == 10 and meta["queries"] > 0
    assert [w["name"] for w in result["workloads"]] == WORKLOADS
    for w in result["workloads"]:
        assert 0 < w["matching"] <= meta["rows"] and w["expected_rows"] == min(10, w["matching"])
        # the share each workload was meant to keep, within the noise of a random table
        assert w["target_share"] / 2 < w["share"] < w["target_share"] * 2, w
    assert result["systems"]["selected"] == ["vsql-exact", "vsql-hnsw", "vsql-ivfflat", "faiss-hnsw"]
    assert set(result["results"]) == {"hnsw", "ivfflat"}
    tuned = meta["tuned"]
    assert set(tuned) == {"hnsw", "ivfflat"} and all(v >= 1 for v in tuned.values())
    expected_labels = {
        "hnsw": {"vsql-exact", "vsql-hnsw", "faiss-hnsw ef=40", f"faiss-hnsw ef={tuned['hnsw']}"},
        "ivfflat": {"vsql-exact", "vsql-ivfflat"},
    }
    for kind, by_workload in result["results"].items():
        assert list(by_workload) == WORKLOADS
        for workload, by_system in by_workload.items():
            assert set(by_system) == expected_labels[kind], (kind, workload)
            for label, s in by_system.items():
                assert set(METRICS) <= set(s), (kind, workload, label)
                assert all(_finite(s[m]) for m in METRICS), (kind, workload, label, s)
                assert s["n"] == meta["queries"]
                assert 0 < s["p50_ms"] <= s["p99_ms"] and s["qps_median"] > 0 and s["qps_total"] > 0
                assert 0 <= s["recall_min"] <= s["recall"] <= 1 and 0 <= s["recall_at_1"] <= 1
                assert 0 <= s["rows_min"] <= s["rows_mean"] <= 10
        assert set(result["ratios"][kind]) == set(WORKLOADS)
        assert set(result["vsql_plans"][kind]) == set(WORKLOADS)
        assert f"## {'HNSW' if kind == 'hnsw' else 'IVFFlat'}" in md
    assert md.count("recall@1 (the first row returned is the nearest matching row)") == 2
    for kind in ("hnsw", "ivfflat"):
        assert result["build"][kind]["vsql_s"] > 0
    assert result["build"]["hnsw"]["faiss_s"] > 0 and result["build"]["hnsw"]["ratio_vsql_over_faiss"] > 0
    assert set(result["load_s"]) >= {"vsql-exact", "vsql-hnsw", "vsql-ivfflat"}
    batch = result["batch"]
    assert batch["queries"] == meta["batch"] and not batch["vsql"]["timed_out"]
    assert batch["vsql"]["rows"] == 10 * batch["queries"] and batch["vsql"]["recall"] > 0
    assert batch["ratio_vsql_over_faiss_qps"] > 0
    assert set(result["headline"]) == {"hnsw", "ivfflat"}


def test_application_workloads(quick_run):
    """Per-query filters draw a value for each query (the fetching twin the same ones); fetching
    workloads select the row's columns; the scalar indexes vsql was given are recorded."""
    result, md = quick_run
    by_name = {w["name"]: w for w in result["workloads"]}
    for name in APP:
        w = by_name[name]
        assert w["fetch"] == (["tenant", "category", "title"] if name.endswith(" fetch") else [])
        assert w["vsql_sql"].startswith("SELECT id, tenant, category, title FROM items" if w["fetch"]
                                        else "SELECT id FROM items")
        if name.startswith(("tenant", "category", "range")):
            values = w["per_query"]["values"]
            assert len(values) == result["meta"]["queries"] and len(set(values)) > 1, w
            assert all(w["per_query"]["low"] <= v < w["per_query"]["high"] for v in values)
            assert w["matching_min"] <= w["matching"] <= w["matching_max"]
    assert by_name["tenant/q 0.1% fetch"]["per_query"] == by_name["tenant/q 0.1%"]["per_query"]
    assert by_name["range/q 10%"]["vsql_sql"].startswith("SELECT id FROM items WHERE r >= ? AND r < ?")
    for kind in ("hnsw", "ivfflat"):
        cost = result["fetch_cost"][kind]
        assert set(cost) == {"unfiltered fetch", "tenant/q 0.1% fetch", "category/q 5% fetch"}
        assert all(_finite(r) and r > 0 for by in cost.values() for r in by.values())
        plans = result["vsql_plans"][kind]
        assert plans["unfiltered"]["index_only_queries"] == result["meta"]["queries"]
        assert plans["unfiltered fetch"]["index_only_queries"] == result["meta"]["queries"]  # its row store
    for system in ("vsql-exact", "vsql-hnsw", "vsql-ivfflat"):
        indexes = result["scalar_indexes"][system]
        assert set(indexes) == {"tenant", "category"} and all(i.get("statement") or i.get("refused")
                                                             for i in indexes.values())
    assert "Fetching the row" in md and "per query" in md


@pytest.mark.slow
def test_workloads_switch(tmp_path):
    """`--workloads app` runs the application's workloads only."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.ann", "--quick", "--out", str(tmp_path), "--workloads", "app",
         "--queries", "4", "--warmup", "1", "--batch", "0", "--sweep", "0", "--no-reopen", "--systems",
         "vsql-hnsw,faiss-hnsw"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "ann.json").read_text())
    assert [w["name"] for w in result["workloads"]] == ["unfiltered", *APP]
    assert list(result["results"]["hnsw"]) == ["unfiltered", *APP]


def test_vsql_returns_k_rows_on_every_workload(quick_run):
    """The hard promise: k rows whenever k rows match, at default settings, on every workload."""
    result, _ = quick_run
    for kind, labels in VSQL.items():
        for workload, by_system in result["results"][kind].items():
            for label in labels:
                s = by_system[label]
                assert s["rows_min"] == s["rows_expected"], (kind, workload, label, s)
                assert s["short_queries"] == 0 and s["bad_rows"] == 0, (kind, workload, label, s)
        assert result["headline"][kind]["k_rows_everywhere"], result["headline"][kind]


def test_exact_baseline_is_exact(quick_run):
    """vsql without an index agrees with NumPy: the ground truth and the baseline check each other."""
    result, _ = quick_run
    for kind in VSQL:
        for workload, by_system in result["results"][kind].items():
            assert by_system["vsql-exact"]["recall_min"] == 1.0, (kind, workload)


PEER_SYSTEMS = ["duckdb-vss-hnsw", "lancedb-ivfflat", "milvus-lite-hnsw", "sqlite-vec"]  # both kinds, each peer once


@pytest.fixture(scope="module")
def peers_run(tmp_path_factory):
    """The other peers, small: every metric of the issue reported for each one that runs here."""
    out = tmp_path_factory.mktemp("ann-peers")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.ann", "--quick", "--out", str(out), "--rows", "5000", "--queries", "4",
         "--warmup", "1", "--batch", "0", "--sweep", "2", "--systems", ",".join(["vsql-hnsw", *PEER_SYSTEMS])],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "ann.json").read_text()), (out / "ann.md").read_text()


@pytest.mark.slow  # starts every peer: about 30 s
def test_peers_report_every_metric(peers_run):
    result, md = peers_run
    ran = [s for s in PEER_SYSTEMS if s in result["systems"]["selected"]]
    assert set(ran) | set(result["systems"]["skipped"]) == set(PEER_SYSTEMS)  # run, or skipped with a reason
    assert all(result["systems"]["skipped"].values())
    for system in ran:
        kind = "ivfflat" if system.endswith("ivfflat") else "hnsw"
        labels = [c["label"] for c in result["configs"][kind] if c["system"] == system]
        assert labels, system
        for by_system in result["results"][kind].values():
            for label in labels:
                s = by_system[label]
                assert all(_finite(s[m]) for m in METRICS), (system, label, s)
        engine = system.removesuffix("-hnsw").removesuffix("-ivfflat")
        assert result["build"][kind][f"{engine}_s"] >= 0 and result["load_s"][engine] > 0
        assert result["memory_mb"][system]["build"] is not None
        stored = result["stored"][system]
        assert stored["disk_mb"] > 0 and stored["reopen_ms"] > 0, (system, stored)
        if system != "sqlite-vec":
            points = result["sweeps"][kind]["points"][system]
            assert len(points) == len(result["sweeps"][kind]["depths"]) and all(p["qps"] > 0 for p in points)
        assert f"| {system} |" in md
    assert "## Recall / throughput sweep, hnsw" in md and "## Load, build, memory, disk, reopening" in md


@pytest.mark.slow
def test_minilm_dataset_runs(tmp_path):
    """`--dataset minilm`: real text embeddings (384 dims), queries held out; embeds on first use."""
    pytest.importorskip("sentence_transformers")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.ann", "--quick", "--dataset", "minilm", "--out", str(tmp_path),
         "--queries", "5", "--batch", "0", "--sweep", "0", "--no-reopen", "--systems", "vsql-hnsw,faiss-hnsw"],
        cwd=ROOT, capture_output=True, text=True, timeout=3600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "ann.json").read_text())
    assert result["meta"]["dataset"] == "minilm" and result["meta"]["dim"] == 384
    assert 30_000 < result["meta"]["rows"] < 40_000
    assert result["headline"]["hnsw"]["k_rows_everywhere"]


@pytest.mark.slow
@pytest.mark.parametrize("key", ["uuid", "none"])
def test_key_option(tmp_path, key):
    """`--key uuid` / `--key none` change vsql's table only: its results go to their own files, the
    key is recorded in the meta and the title, and vsql still returns k right rows, selecting `id`."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.ann", "--quick", "--out", str(tmp_path), "--workloads", "app",
         "--queries", "4", "--warmup", "1", "--batch", "0", "--sweep", "0", "--no-reopen", "--systems",
         "vsql-hnsw", "--key", key],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (tmp_path / "ann.json").exists()
    result = json.loads((tmp_path / f"ann-key-{key}.json").read_text())
    md = (tmp_path / f"ann-key-{key}.md").read_text()
    assert result["meta"]["key"] == key and f"vsql key {key})" in md.splitlines()[0]
    assert "The other systems keep `id BIGINT PRIMARY KEY`" in md
    for workload, by_system in result["results"]["hnsw"].items():
        s = by_system["vsql-hnsw"]
        assert s["rows_min"] == s["rows_expected"] and not s["bad_rows"], (workload, s)
        assert s["recall"] >= 0.9, (workload, s)
