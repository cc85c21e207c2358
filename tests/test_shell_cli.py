"""`vsql` run without a terminal: -c, -f and stdin, exit statuses, formats, errors, --demo."""

import subprocess
import sys

import pytest

from vsql.client.shell.render import FORMATS


def vsql(*args, stdin="", cwd=None):
    """Run the real shell in a subprocess, stdin piped (so never interactive)."""
    return subprocess.run(
        [sys.executable, "-m", "vsql.client.shell", *map(str, args)],
        input=stdin, capture_output=True, text=True, timeout=60, cwd=cwd,
    )


def test_commands_run_in_order():
    run = vsql("-c", "CREATE TABLE t (id INT, e VECTOR(3))", "-c", "INSERT INTO t VALUES (1, '[1,2,3]')",
               "-c", "SELECT id, e <-> '[1,2,4]' AS d FROM t; \\dt")
    assert run.returncode == 0, run.stderr
    assert run.stdout == (
        "CREATE TABLE\nINSERT 1\n"
        " id |  d\n----+-----\n  1 | 1.0\n(1 row)\n\n"
        " name | type  | rows\n------+-------+------\n t    | table |    1\n(1 row)\n\n"
    )


def test_first_error_stops_the_run_with_a_caret_under_it():
    run = vsql("-c", "SELECT 1 AS one", "-c", "SELECT 2 AS two,\n  3 +\n  FROM x", "-c", "SELECT 4 AS four")
    assert run.returncode == 1
    assert "one" in run.stdout and "four" not in run.stdout
    error, line, caret = run.stderr.splitlines()
    assert error == 'ERROR: syntax error at or near "FROM"'
    assert (line, caret) == ("LINE 3:   FROM x", "          ^^^^")


def test_engine_errors_are_one_line_and_debug_adds_the_traceback():
    run = vsql("-c", "SELECT * FROM nowhere")
    assert (run.returncode, run.stderr) == (1, "ERROR: Table with name nowhere does not exist!\n")
    assert "Traceback" in vsql("--debug", "-c", "SELECT * FROM nowhere").stderr


def test_stdin_is_a_script(tmp_path):
    run = vsql(tmp_path / "db.duckdb", stdin="CREATE TABLE t AS SELECT 1 AS a;\n-- comment\nSELECT a + 1 AS b FROM t")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "CREATE TABLE\n b\n---\n 2\n(1 row)\n\n"
    assert vsql(tmp_path / "db.duckdb", "-c", "SELECT a FROM t").stdout.splitlines()[2] == " 1"


def test_stdin_stops_at_the_first_error():
    run = vsql(stdin="SELECT 1 AS one;\nSELECT nope;\nSELECT 3 AS three;\n")
    assert run.returncode == 1 and "one" in run.stdout and "three" not in run.stdout
    assert run.stderr.startswith("ERROR: ")


def test_files_and_includes(tmp_path):
    (tmp_path / "inner.sql").write_text("INSERT INTO t VALUES (2);\n")
    (tmp_path / "main.sql").write_text(
        "CREATE TABLE t (a INT);\n\\i inner.sql\n.read inner.sql\nSELECT sum(a) AS s FROM t;"
    )
    run = vsql("-f", "main.sql", "--format", "csv", cwd=tmp_path)
    assert (run.returncode, run.stdout) == (0, "CREATE TABLE\nINSERT 1\nINSERT 1\ns\n4\n")
    missing = vsql("-f", tmp_path / "missing.sql")
    assert missing.returncode == 1 and "No such file" in missing.stderr


def test_an_error_in_an_included_file_stops_everything(tmp_path):
    (tmp_path / "bad.sql").write_text("SELECT 1 AS one; SELECT nope; SELECT 2 AS two;")
    run = vsql("-c", f"\\i {tmp_path / 'bad.sql'}", "-c", "SELECT 3 AS three")
    assert run.returncode == 1
    assert "one" in run.stdout and "two" not in run.stdout and "three" not in run.stdout
    assert len(run.stderr.splitlines()) == 1


SELECT_BOTH = "SELECT 1 AS id, '[1,2.5,3]'::vector(3) AS v UNION ALL SELECT 2, NULL ORDER BY id"


@pytest.mark.parametrize("fmt, expected", [
    ("csv", 'id,v\n1,"[1,2.5,3]"\n2,\n'),
    ("json", '[{"id": 1, "v": [1.0, 2.5, 3.0]},\n{"id": 2, "v": null}]\n'),
    ("markdown", "|  id | v         |\n|----:|-----------|\n|   1 | [1,2.5,3] |\n|   2 |           |\n"),
])
def test_formats(fmt, expected):
    assert vsql("--format", fmt, "-c", SELECT_BOTH).stdout == expected


def test_backslash_and_dot_commands(tmp_path):
    out = tmp_path / "out.txt"
    run = vsql("-c", "CREATE TABLE items (id BIGINT PRIMARY KEY, embedding VECTOR(8))",
               "-c", "CREATE INDEX items_id ON items (id)",
               "-c", "\\d items", "-c", ".tables", "-c", "\\di", "-c", ".timer on",
               "-c", f"\\o {out}", "-c", "SELECT 42 AS answer", "-c", "\\o", "-c", "\\x", "-c", "SELECT 1 AS a",
               "-c", ".quit", "-c", "SELECT 'not reached'")
    assert run.returncode == 0, run.stderr
    assert " id        | bigint    | false    |\n embedding | vector(8) | true     |" in run.stdout
    assert " items | table |    0" in run.stdout
    assert " items_id | items | art  | [id]" in run.stdout
    assert "Timing is on." in run.stdout and "Time: " in run.stdout
    assert "answer" in out.read_text() and "answer" not in run.stdout  # \\o sent the result to the file
    assert "-[ RECORD 1 ]" in run.stdout and "not reached" not in run.stdout


def test_help_lists_commands():
    run = vsql("-c", "\\?")
    for name in ["\\d [TABLE]", "\\dt", "\\di", "\\timing [on|off]", "\\x", "\\i FILE", "\\o [FILE]", "\\q", ".tables"]:
        assert name in run.stdout


def test_unknown_command():
    assert vsql("-c", "\\nope").stderr == "ERROR: unknown command \\nope: \\? lists the commands\n"


def test_help_documents_error_handling():
    assert "ON_ERROR_STOP" in vsql("--help").stdout


def test_demo_loads_once_then_reads_stdin(tmp_path):
    first = vsql("--demo", tmp_path / "demo.duckdb", stdin="SELECT count(*) AS n FROM items;")
    assert first.returncode == 0, first.stderr
    assert "Loaded 50,000 rows" in first.stdout
    assert "ORDER BY distance LIMIT 5;" in first.stdout and "(5 rows)" in first.stdout
    assert "index: items_embedding_idx (hnsw" in first.stdout  # the demo's search uses its index
    assert " 50000\n" in first.stdout
    again = vsql("--demo", tmp_path / "demo.duckdb", stdin="")
    assert again.returncode == 0 and "Loaded" not in again.stdout and "(5 rows)" in again.stdout


def test_errors_in_files_name_the_file_and_the_line(tmp_path):
    (tmp_path / "bad.sql").write_text("SELECT 1 AS one;\n\n-- a comment\nSELECT\n  nope\n  FROM (SELECT 1);\n"
                                      "SELECT 2;\n")
    run = vsql("-f", "bad.sql", cwd=tmp_path)
    assert run.returncode == 1 and "one" in run.stdout
    assert run.stderr.startswith('vsql:bad.sql:4: ERROR: Referenced column "nope" not found')
    (tmp_path / "outer.sql").write_text("SELECT 0 AS zero;\n\\i bad.sql\n")
    assert vsql("-f", "outer.sql", cwd=tmp_path).stderr.startswith("vsql:bad.sql:4: ERROR: ")  # the innermost file
    (tmp_path / "last.sql").write_text("SELECT 1 AS one;\n\nSELECT 1 +")  # the last statement without its `;`
    error, line, caret = vsql("-f", "last.sql", cwd=tmp_path).stderr.splitlines()
    assert error == "vsql:last.sql:3: ERROR: syntax error at end of input"
    assert (line, caret) == ("LINE 1: SELECT 1 +", "                  ^")  # past the end, as psql's
    (tmp_path / "missing.sql").write_text("SELECT 1;\n\\i nowhere.sql\n")
    assert vsql("-f", "missing.sql", cwd=tmp_path).stderr.startswith("vsql:missing.sql:2: ERROR: FileNotFoundError")
    assert vsql("-c", "SELECT nope").stderr.startswith("ERROR: ")  # -c names no file


def test_format_takes_psets_names():
    assert vsql("--format", "unaligned", "-c", "SELECT 1 AS a, NULL AS b").stdout == "a|b\n1|\n(1 row)\n"
    assert vsql("--format", "table", "-c", "SELECT 1 AS a").stdout == " a\n---\n 1\n(1 row)\n\n"
    bad = vsql("--format", "html", "-c", "SELECT 1")
    assert bad.returncode == 2 and "invalid choice: 'html'" in bad.stderr
    usage = vsql("--help").stdout
    assert all(name in usage for name in FORMATS)


def test_help_loads_neither_the_engine_nor_the_shell():
    """`vsql --help` answers after argparse alone: the engine, Faiss, Arrow, NumPy and prompt_toolkit
    are imported only once there is a statement to run."""
    check = """if True:
        import contextlib, io, sys
        from vsql.client.shell import cli
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            cli.main(["--help"])
        assert out.getvalue().startswith("usage: vsql"), out.getvalue()
        print(sorted(m for m in ("duckdb", "faiss", "pyarrow", "numpy", "prompt_toolkit") if m in sys.modules))
    """
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout) == (0, "[]\n"), run.stderr


def test_help_does_not_load_sqlglot():
    check = "import sys; from vsql.client.shell import cli; assert 'sqlglot' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, timeout=60).returncode == 0
