"""The %vsql / %%vsql magics, run in a real IPython shell (and once in a real Jupyter kernel)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

import vsql
from vsql.client.magic import Plan, ShortError, VsqlMagic


@pytest.fixture
def ip():
    """The IPython shell with a fresh VsqlMagic: no connections, default options."""
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("vsql")  # %load_ext vsql, quietly after the first test
    magic = VsqlMagic(shell=shell)
    shell.register_magics(magic)
    yield shell
    shell.configurables.remove(magic)
    shell.config.pop("VsqlMagic", None)  # %config also lands in the shell's config
    for connection in magic.connections.values():
        connection.close()


@pytest.fixture
def run(ip, capsys):
    """Run a cell as a notebook would; returns (ExecutionResult, everything it printed)."""

    def run(cell: str):
        result = ip.run_cell(cell)
        printed = capsys.readouterr()
        return result, printed.out + printed.err

    return run


def magic_of(ip) -> VsqlMagic:
    return ip.magics_manager.registry["VsqlMagic"]


def test_load_ext_registers_line_and_cell_magics(ip):
    assert "vsql" in ip.extension_manager.loaded
    assert "vsql" in ip.magics_manager.magics["line"]
    assert "vsql" in ip.magics_manager.magics["cell"]


def test_first_query_opens_an_in_memory_database(ip):
    assert ip.run_line_magic("vsql", "SELECT 42 AS answer")["answer"].tolist() == [42]
    assert magic_of(ip).current == ":memory:"


def test_connect_memory_and_file_under_aliases(ip, tmp_path):
    path = tmp_path / "docs.duckdb"
    ip.run_line_magic("vsql", f"connect {path} --alias disk")
    ip.run_line_magic("vsql", "CREATE TABLE notes (body TEXT)")
    ip.run_line_magic("vsql", "connect :memory: --alias scratch")
    assert ip.run_line_magic("vsql", "SELECT count(*) AS n FROM duckdb_tables()")["n"][0] == 0
    ip.run_line_magic("vsql", "connect disk")  # an alias switches back
    assert ip.run_line_magic("vsql", "SELECT table_name FROM duckdb_tables()")["table_name"].tolist() == ["notes"]
    assert path.exists() and sorted(magic_of(ip).connections) == ["disk", "scratch"]


def test_create_insert_select(run):
    assert run("%vsql CREATE TABLE t (id INT, name TEXT)")[1] == "Done.\n"
    result, printed = run("%%vsql\nINSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    assert printed == "3 rows affected\n"
    frame = run("%vsql SELECT * FROM t WHERE id > 1 ORDER BY id")[0].result
    assert isinstance(frame, pd.DataFrame) and frame.to_dict("list") == {"id": [2, 3], "name": ["b", "c"]}


def test_vector_query_binds_numpy_and_matches_brute_force(ip, run):
    rng = np.random.default_rng(7)
    ip.user_ns.update(data=rng.random((40, 8), dtype=np.float32), q=rng.random(8, dtype=np.float32))
    run("%vsql CREATE TABLE items (id INT, embedding VECTOR(8))")
    run("for i, v in enumerate(data):\n    %vsql INSERT INTO items VALUES (:i, :v)")
    result, _ = run("%%vsql -o nearest\nSELECT id, embedding FROM items ORDER BY embedding <-> :q LIMIT 3")
    expected = np.argsort(np.linalg.norm(ip.user_ns["data"] - ip.user_ns["q"], axis=1))[:3]
    assert ip.user_ns["nearest"]["id"].tolist() == expected.tolist()
    assert result.result is ip.user_ns["nearest"]
    assert ip.user_ns["nearest"]["embedding"][0].dtype == np.float32


def test_out_option_spellings(ip):
    ip.run_line_magic("vsql", "--out=a SELECT 1 AS x")
    ip.run_cell_magic("vsql", "b <<", "SELECT 2 AS x")
    assert ip.user_ns["a"]["x"][0] == 1 and ip.user_ns["b"]["x"][0] == 2


def test_config_changes_options(ip, run):
    run("%config VsqlMagic.displaylimit = 4")
    result, printed = run("%vsql SELECT * FROM range(100) t(n)")
    assert len(result.result) == 100 and "[100 rows x 1 columns]" in printed
    assert "\n1    1\n..  ..\n98  98\n" in printed and "\n2    2\n" not in printed
    run("%config VsqlMagic.autopandas = False")
    assert ip.run_line_magic("vsql", "SELECT 1 AS x, 'y' AS y") == [(1, "y")]
    run("%config VsqlMagic.short_errors = False")
    result, printed = run("%vsql SELEC 1")
    assert isinstance(result.error_in_exec, vsql.ProgrammingError) and "Traceback" in printed


def test_explain_displays_the_plan_as_text(run):
    run("%vsql CREATE TABLE items (id INT, embedding VECTOR(3))")
    result, printed = run("q = [1, 2, 3]\n%vsql EXPLAIN SELECT id FROM items ORDER BY embedding <-> :q LIMIT 3")
    assert isinstance(result.result, Plan) and "Seq Scan" in result.result
    assert "Seq Scan" in printed and "explain_value" not in printed and "\\n" not in printed


def test_values_are_bound_never_pasted(ip, run, monkeypatch):
    executed, execute = [], vsql.Cursor.execute

    def spy(cursor, sql, params=None):
        executed.append((sql, params))
        return execute(cursor, sql, params)

    monkeypatch.setattr(vsql.Cursor, "execute", spy)
    x = "'); DROP TABLE t; --"
    ip.user_ns["x"] = x
    run("%vsql CREATE TABLE t (s TEXT)")
    assert run("%vsql INSERT INTO t VALUES (:x)")[0].success
    assert run("%%vsql\nINSERT INTO t VALUES ($x)")[0].success
    assert run("%vsql INSERT INTO t VALUES ('{x}')")[0].success  # IPython must not expand {x} either
    assert ip.run_line_magic("vsql", "SELECT s FROM t")["s"].tolist() == [x, x, "{x}"]
    assert all(x not in sql for sql, _ in executed)
    assert executed[1] == ("INSERT INTO t VALUES (:x)", {"x": x})


@pytest.mark.parametrize("cell, message", [
    ("%vsql SELEC 1", "ProgrammingError: syntax error at line 1, column 7 near '1'"),
    ("%vsql SELECT id FROM items ORDER BY embedding <-> :q", "VectorError: different vector dimensions 3 and 2"),
])
def test_errors_are_one_red_line_and_fail_the_cell(ip, run, cell, message):
    run("%vsql CREATE TABLE items (id INT, embedding VECTOR(3))")
    ip.user_ns["q"] = np.array([1.0, 2.0])
    result, printed = run(cell)
    assert isinstance(result.error_in_exec, ShortError)  # failed: "Run All" stops here
    assert printed.startswith(f"\x1b[31m{message}") and printed.count("\n") == 1
    assert "Traceback" not in printed


def test_in_a_jupyter_kernel():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = ["%load_ext vsql", "%vsql SELECT 42 AS answer", "%vsql SELECT * FROM missing"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3", allow_errors=True).execute()
    answer, error = notebook.cells[1].outputs[0], notebook.cells[2].outputs[0]
    assert "<td>42</td>" in answer["data"]["text/html"]
    assert error["output_type"] == "error" and len(error["traceback"]) == 1
    assert "ProgrammingError: Catalog Error: Table with name missing does not exist!" in error["traceback"][0]
