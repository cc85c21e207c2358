"""The %vsql / %%vsql magics, run in a real IPython shell (and once in a real Jupyter kernel)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

import vsql
from vsql.client.magic import Frame, Plan, Rows, ShortError, VsqlMagic

ROOT = Path(__file__).resolve().parent.parent


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
    assert len(result.result) == 100 and printed.endswith("\n1    1\n..  ..\n98  98\n99  99\n(100 rows)\n")
    run("%config VsqlMagic.autopandas = False")
    rows = ip.run_line_magic("vsql", "SELECT 1 AS x, 'y' AS y")
    assert rows == [(1, "y")] and rows.columns == ["x", "y"]
    run("%config VsqlMagic.short_errors = False")
    result, printed = run("%vsql SELEC 1")
    assert isinstance(result.error_in_exec, vsql.ProgrammingError) and "Traceback" in printed


def shown(ip, value) -> dict[str, str]:
    """What a notebook (text/html) and a terminal (text/plain) show for `value`, from the shell's formatters."""
    data, _ = ip.display_formatter.format(value)
    return data


@pytest.mark.parametrize("autopandas", [True, False])
def test_results_show_short_vectors_nulls_and_a_row_count(ip, run, autopandas):
    run(f"%config VsqlMagic.autopandas = {autopandas}")
    ip.user_ns["v"] = np.linspace(-1, 1, 384, dtype=np.float32)
    run("%vsql CREATE TABLE docs (id INT, title TEXT, embedding VECTOR(384))")
    run("%vsql INSERT INTO docs VALUES (1, 'a < b', :v), (2, NULL, NULL)")
    result, _ = run("%vsql -o found SELECT id, title, embedding FROM docs ORDER BY id")
    found = ip.user_ns["found"]
    assert result.result is found and isinstance(found, Frame if autopandas else Rows)
    html, text = shown(ip, found)["text/html"], shown(ip, found)["text/plain"]
    short = "[-1,-0.9947781,-0.98955613,…,1] (384)"  # the shell's form: first values, last, dimension
    for display in (html, text):
        assert short in display and "-0.98433423" not in display  # never the whole vector
        assert "None" not in display and "nan" not in display.lower() and "(2 rows)" in display
    assert "<td>a &lt; b</td>" in html and html.count("<td></td>") == 2  # NULL as psql shows it: empty
    vector = found["embedding"][0] if autopandas else found[0][2]
    assert isinstance(vector, np.ndarray) and len(vector) == 384  # the data keep every value
    run("%config VsqlMagic.null = '(null)'")
    assert shown(ip, ip.run_line_magic("vsql", "SELECT title FROM docs WHERE id = 2"))["text/html"].count(
        "<td>(null)</td>") == 1


def test_the_readme_example_shows_what_it_says(run):
    """The README's Notebooks example, cell by cell (cells end at blank lines): a cell's `# ` lines
    are what it prints and displays."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Notebooks\n\n```ipython\n(.*?)```", readme, re.DOTALL)[1]
    for cell in block.strip().split("\n\n"):
        lines = cell.splitlines()
        code = "\n".join(line for line in lines if not line.startswith("#"))
        expected = "".join(f"{line[2:]}\n" for line in lines if line.startswith("#"))
        result, printed = run(code)
        assert result.success, code
        if expected:
            assert re.sub(r"^Out\[\d+\]: \n", "", printed) == expected


def test_pandas_is_a_dependency():
    """The README promises DataFrames from a plain `pip install vsql`."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(re.match(r"pandas\b", dependency) for dependency in dependencies)
    assert "pandas is a dependency of vsql" in (ROOT / "README.md").read_text()


def test_without_pandas_rows_are_tuples_and_a_note_says_so(tmp_path):
    """pandas is a dependency, but an environment may still lack it: then the magic says so, once."""
    script = textwrap.dedent("""
        import sys
        sys.modules["pandas"] = None  # import pandas raises ImportError
        from IPython.core.interactiveshell import InteractiveShell
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "vsql")
        ip.run_line_magic("vsql", "-o first SELECT 1 AS x, 'y' AS y")
        ip.run_line_magic("vsql", "-o second SELECT 2 AS x")
        print(repr(ip.user_ns["first"]), type(ip.user_ns["second"]).__name__, ip.user_ns["second"] == [(2,)])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[(1, 'y')] Rows True\n"
    assert done.stderr == ("vsql: pandas is not installed, so results are lists of tuples; `pip install pandas` "
                           "(or `pip install vsql`, which requires it) gives DataFrames\n")


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
    ("%vsql SELEC 1", 'SyntaxError: syntax error at or near "1"'),
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
    cells = ["%load_ext vsql", "%vsql SELECT 42 AS answer", "%vsql SELECT * FROM missing",
             "%vsql SELECT array_agg(i)::FLOAT[]::VECTOR(100) AS v, NULL AS nothing FROM range(100) t(i)"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3", allow_errors=True).execute()
    answer, error, vector = (notebook.cells[i].outputs[0] for i in (1, 2, 3))
    assert "<td>42</td>" in answer["data"]["text/html"] and "<p>(1 row)</p>" in answer["data"]["text/html"]
    assert "<td>[0,1,2,…,99] (100)</td>\n      <td></td>" in vector["data"]["text/html"]
    assert error["output_type"] == "error" and len(error["traceback"]) == 1
    assert "ProgrammingError: Table with name missing does not exist!" in error["traceback"][0]
