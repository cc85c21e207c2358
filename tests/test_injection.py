"""Values never become SQL text: through the DB-API (every parameter style, executemany, loads),
the notebook magics and the shell, strings made to break out of a literal or an identifier are
stored and read back as they were, and the tables they aim at stay intact."""

import numpy as np
import pyarrow as pa
import pytest

import test_magic
import vsql
from vsql.client.shell.runner import Shell

ip, run = test_magic.ip, test_magic.run  # the IPython shell fixtures

EVIL = [
    "'); DROP TABLE items; --",
    "x' OR '1'='1",
    '"; DROP TABLE items; --',
    "'; DELETE FROM items WHERE 'a'='a",
    "$$; DROP TABLE items; $$",
    "\\'; DROP TABLE items; --",
    "?", "$1", ":q", "%s", "%(q)s", "{q}", "$q",
    "[1,2,3]'); DROP TABLE items; --",
    "’; DROP TABLE items; --",  # a typographic quote
    "/* */ DROP TABLE items",
    "a\x00b",
    "line\n; DROP TABLE items;\n",
]


@pytest.fixture
def notes(con):
    con.execute("CREATE TABLE notes (id INT, body TEXT)")
    return con


def intact(con):
    """The conftest table is still there, unchanged."""
    assert con.execute("SELECT id, embedding::text FROM items ORDER BY id").fetchall() == [
        (1, "[1,2,3]"), (2, "[4,5,6]"), (3, "[1,1,1]"), (4, "[0,0,0]")]


@pytest.mark.parametrize("insert, select, params", [
    ("INSERT INTO notes VALUES (1, ?)", "SELECT body FROM notes WHERE body = ?", lambda v: [v]),
    ("INSERT INTO notes VALUES (1, %s)", "SELECT body FROM notes WHERE body = %s", lambda v: [v]),
    ("INSERT INTO notes VALUES (1, $1)", "SELECT body FROM notes WHERE body = $1", lambda v: [v]),
    ("INSERT INTO notes VALUES (1, :v)", "SELECT body FROM notes WHERE body = :v", lambda v: {"v": v}),
    ("INSERT INTO notes VALUES (1, $v)", "SELECT body FROM notes WHERE body = $v", lambda v: {"v": v}),
])
def test_db_api_binds_every_parameter_style(notes, insert, select, params):
    for value in EVIL:
        notes.execute(insert, params(value))
        assert notes.execute(select, params(value)).fetchall() == [(value,)]
        assert notes.execute("SELECT body FROM notes").fetchall() == [(value,)]
        notes.execute("DELETE FROM notes")
    intact(notes)


def test_executemany_and_loads_bind_too(notes):
    notes.cursor().executemany("INSERT INTO notes VALUES (?, ?)", list(enumerate(EVIL)))  # one Arrow batch
    notes.cursor().executemany("UPDATE notes SET body = body || ? WHERE id = ?", [(v, i) for i, v in enumerate(EVIL)])
    notes.load("notes", pa.table({"id": pa.array([100], pa.int32()), "body": [EVIL[0]]}))
    rows = dict(notes.execute("SELECT id, body FROM notes").fetchall())
    assert rows == {**{i: v + v for i, v in enumerate(EVIL)}, 100: EVIL[0]}
    intact(notes)


def test_a_string_bound_as_a_vector_is_parsed_not_pasted(con):
    for value in EVIL:
        with pytest.raises(vsql.DataError, match="invalid input syntax for type vector"):
            con.execute("SELECT id FROM items ORDER BY embedding <-> ? LIMIT 1", [value])
        with pytest.raises(vsql.DataError, match="invalid input syntax for type vector"):
            con.execute("INSERT INTO items (id, embedding) VALUES (9, ?)", [value])
    intact(con)


def test_load_matches_columns_by_quoted_name(con):
    hostile = pa.table({"id": [9], 'embedding"); DROP TABLE items; --': [1]})
    with pytest.raises(vsql.ProgrammingError, match="DROP TABLE items"):  # no such column, named as given
        con.load("items", hostile)
    with pytest.raises(vsql.DatabaseError):
        con.load("items; DROP TABLE items", pa.table({"id": [9]}))
    intact(con)


NAMES = ['it\'ems"; DROP TABLE items; --', "a b", "Mixed.Case", "../../x", "*"]


@pytest.mark.parametrize("name", NAMES)
def test_hostile_table_and_index_names_are_quoted_wherever_vsql_writes_sql(tmp_path, name):
    """vsql's own statements (index builds, row hashes, filters, fetches by key) name tables,
    columns and indexes as quoted identifiers; an index's file stays inside the index folder."""
    quoted = '"' + name.replace('"', '""') + '"'
    path = tmp_path / "names.duckdb"
    con = vsql.connect(path, autocommit=True)
    con.execute("CREATE TABLE items (id INT PRIMARY KEY, embedding VECTOR(3))")
    con.execute(f"CREATE TABLE {quoted} ({quoted} INT PRIMARY KEY, e VECTOR(3), {quoted[:-1]}2\" INT)")
    rows = [(i, np.array([i, i % 7, 1], np.float32), i % 2) for i in range(50)]
    con.cursor().executemany(f"INSERT INTO {quoted} VALUES (?, ?, ?)", rows)
    con.execute(f"CREATE INDEX {quoted} ON {quoted} USING hnsw (e vector_l2_ops)")
    con.execute("SET vsql.exact_below = 0")
    search = f"SELECT {quoted} FROM {quoted} WHERE {quoted[:-1]}2\" = 1 ORDER BY e <-> ? LIMIT 3"
    assert [r[0] for r in con.execute(search, [[11, 4, 1]]).fetchall()] == [11, 9, 13]
    con.execute(f"UPDATE {quoted} SET e = '[100,100,100]' WHERE {quoted} = 3")
    assert con.execute(f"SELECT {quoted} FROM {quoted} ORDER BY e <-> '[99,99,99]' LIMIT 1").fetchall() == [(3,)]
    con.close()
    folder = tmp_path / "names.duckdb.vsql"
    assert [p.parent for p in tmp_path.rglob("*.vsqlidx")] == [folder]  # nothing written outside
    con = vsql.connect(path, autocommit=True)  # reopened: the file is found under its encoded name
    con.execute("SET vsql.exact_below = 0")
    assert con.execute(f"SELECT {quoted} FROM {quoted} ORDER BY e <-> '[99,99,99]' LIMIT 1").fetchall() == [(3,)]
    con.execute(f"DROP INDEX {quoted}")
    assert not list(folder.iterdir())
    assert con.execute("SELECT count(*) FROM items").fetchone() == (0,)
    con.close()


def test_dropping_an_index_deletes_its_own_files_only(tmp_path):
    """A name with glob characters ('a*', 'a?') matched other indexes' files when files were globbed."""
    con = vsql.connect(tmp_path / "g.duckdb", autocommit=True)
    con.execute("CREATE TABLE t (id INT PRIMARY KEY, e VECTOR(2))")
    con.execute("INSERT INTO t VALUES (1, '[1,2]'), (2, '[2,1]')")
    for name in ("abc", '"a*"', '"a?c"', '"a.v1"'):
        con.execute(f"CREATE INDEX {name} ON t USING hnsw (e vector_l2_ops)")
    con.execute('DROP INDEX "a*"')
    con.execute('DROP INDEX "a?c"')
    con.execute('REINDEX INDEX "a.v1"')
    files = {p.name for p in (tmp_path / "g.duckdb.vsql").iterdir()}
    assert {"abc.v1.vsqlidx", "a.v1.v2.vsqlidx"} <= files and not [f for f in files if f.startswith(("a%2A", "a%3F"))]
    con.close()


# -- the notebook magics --------------------------------------------------------------------------


def test_magic_binds_notebook_variables(ip):
    ip.run_line_magic("vsql", "CREATE TABLE items (id INT, body TEXT)")
    for value in EVIL:
        ip.user_ns.update(evil=value, q=value, v=value)
        ip.run_line_magic("vsql", "INSERT INTO items VALUES (1, 'kept')")
        ip.run_cell_magic("vsql", "", "INSERT INTO items VALUES (2, :evil)")
        ip.run_line_magic("vsql", "INSERT INTO items VALUES (3, $evil)")
        frame = ip.run_cell_magic("vsql", "-o stored", "SELECT id, body FROM items WHERE body = :evil OR id = 1 ORDER BY id")
        assert frame.to_dict("list") == {"id": [1, 2, 3], "body": ["kept", value, value]}
        assert ip.user_ns["stored"] is frame
        ip.run_line_magic("vsql", "DELETE FROM items")


def test_magic_never_expands_python_into_sql(ip, run):
    """IPython pastes {name} and $name into a magic's line unless told not to: vsql tells it."""
    ip.user_ns["evil"] = EVIL[0]
    ip.run_line_magic("vsql", "CREATE TABLE items (body TEXT)")
    run("%vsql INSERT INTO items VALUES ('{evil}'), ('$$')")  # as a notebook cell runs it
    run("%%vsql\nINSERT INTO items VALUES ('{evil}!')")
    assert ip.run_line_magic("vsql", "SELECT body FROM items ORDER BY body")["body"].tolist() == ["$$", "{evil}", "{evil}!"]
    _, printed = run("%vsql SELECT * FROM items WHERE body = :missing")
    assert "no value bound for parameter :missing" in printed
    assert ip.run_line_magic("vsql", "SELECT count(*) AS n FROM items")["n"][0] == 3


# -- the shell ------------------------------------------------------------------------------------


def test_shell_commands_take_names_not_sql(con, capsys):
    shell = Shell(con)
    assert not shell.run("\\d items'); DROP TABLE items; --")
    assert "no table or view named" in capsys.readouterr().err
    con.execute('CREATE TABLE "we""ird; DROP TABLE items; --" (x INT)')
    assert shell.run('\\d we"ird; DROP TABLE items; --')
    assert "x" in capsys.readouterr().out
    assert shell.run("\\dt") and shell.run("\\di")
    assert 'we"ird; DROP TABLE items; --' in shell.schema
    shell.close()
    intact(con)
