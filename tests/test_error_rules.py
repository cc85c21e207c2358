"""PostgreSQL's rules for errors, whichever part of vsql or DuckDB raises them: one wording for
syntax errors, with their position; no engine prefixes; and an error in a transaction block aborts
it (every later statement fails until ROLLBACK), in SQL's BEGIN as in the DB-API's own transaction."""

import pytest
from conftest import small_database

import vsql
from vsql.errors import InFailedSqlTransaction, SyntaxError

STATE = "SELECT count(*), sum(id), sum(vector_norm(embedding)) FROM items"
ABORTED = "current transaction is aborted, commands ignored until end of transaction block"


@pytest.fixture(scope="module")
def shared():
    """One database for the cases that only read: these fail before anything is written."""
    connection = small_database()
    yield connection
    connection.close()


@pytest.mark.parametrize("sql, message, line, column", [
    # sqlglot finds these
    ("SELEC 1", 'syntax error at or near "1"', 1, 7),
    ("SELECT 1 FROM", "syntax error at end of input", 1, 14),
    ("SELECT * FROM items WHERE", "syntax error at end of input", 1, 26),  # not `Where is missing its this`
    ("SELECT ~", "syntax error at end of input", 1, 9),  # not `BitwiseNot is missing its this`
    ("CREATE TABLE (", 'syntax error at or near "("', 1, 14),  # not `Expected table name but got <Token ...>`
    ("SELECT id FROM items ORDER BY embedding <=<> '[1,2,3]'", 'syntax error at or near "<>"', 1, 43),
    ("SELECT 1; SELECT 1 2", 'syntax error at or near "2"', 1, 20),  # in the text, not in its statement
    ("SELECT 1,\n  'abc", "unterminated quoted string at or near \"'abc\"", 2, 3),
    ("SELECT $$abc", 'unterminated dollar-quoted string at or near "$$abc"', 1, 8),
    # DuckDB's parser finds these (a statement run as written; one sqlglot transpiles)
    ("LOAD x y", 'syntax error at or near "y"\nLINE 1: LOAD x y\n               ^', 1, 8),
    ("SELECT xmlelement(name foo)", 'syntax error at or near "("\nLINE 1: SELECT XMLELEMENT(NAME foo)', 1, 18),
])
def test_syntax_errors_read_as_postgresql_writes_them(shared, sql, message, line, column):
    with pytest.raises(SyntaxError) as raised:
        shared.execute(sql)
    error = raised.value
    assert str(error).startswith(message) and (error.line, error.column) == (line, column)
    assert isinstance(error, vsql.ProgrammingError) and error.sqlstate == "42601"


def test_vsql_statements_keep_their_hint(shared):
    with pytest.raises(SyntaxError, match='^syntax error at or near "DATABASE"\nHINT:  REINDEX takes INDEX name'):
        shared.execute("REINDEX DATABASE items")


@pytest.mark.parametrize("sql, message", [
    ("SELECT * FROM nowhere", "Table with name nowhere does not exist!"),  # DuckDB's `Catalog Error: ` dropped
    ("SELECT nope FROM items", 'Referenced column "nope" not found'),  # `Binder Error: `
    ("INSERT INTO items VALUES (1, '[1,2,3]', 1, NULL)", 'Duplicate key "id: 1"'),  # `Constraint Error: `
])
def test_engine_errors_lose_their_kind_prefix(shared, sql, message):
    with pytest.raises(vsql.DatabaseError) as raised:
        shared.execute(sql)
    assert str(raised.value).startswith(message)
    assert "Error: " in str(raised.value.__cause__)  # DuckDB's own words stay with the cause


# An error of each kind, and who raises it.
ERRORS = {
    "syntax (sqlglot)": ("SELEC 1", SyntaxError),
    "syntax (DuckDB)": ("LOAD x y", SyntaxError),
    "vector (vsql)": ("INSERT INTO items VALUES (9, '[1,2]', 1, NULL)", vsql.VectorError),
    "planner (vsql)": ("SELECT 1 - embedding FROM items", vsql.ProgrammingError),
    "constraint (DuckDB)": ("INSERT INTO items VALUES (1, '[1,2,3]', 1, NULL)", vsql.IntegrityError),
    "unknown table (DuckDB)": ("SELECT * FROM nowhere", vsql.ProgrammingError),
}


@pytest.mark.parametrize("end", ["ROLLBACK", "ABORT", "COMMIT", "END"])
@pytest.mark.parametrize("kind", ERRORS)
def test_an_error_aborts_the_transaction_block(con, kind, end):
    sql, error = ERRORS[kind]
    before, depth = con.execute(STATE).fetchall(), con.execute("SHOW hnsw.ef_search").fetchall()
    con.execute("BEGIN")
    con.execute("INSERT INTO items VALUES (7, '[7,7,7]', 1, NULL)")
    con.execute("UPDATE items SET embedding = '[9,9,9]' WHERE id = 2")
    with pytest.raises(error):
        con.execute(sql)
    for later in ("SELECT 1", "INSERT INTO items VALUES (8, '[8,8,8]', 1, NULL)", "BEGIN", "SET hnsw.ef_search = 50"):
        with pytest.raises(InFailedSqlTransaction, match=f"^{ABORTED}$") as raised:
            con.execute(later)
        assert isinstance(raised.value, vsql.InternalError) and raised.value.sqlstate == "25P02"
    con.execute(end)  # COMMIT and END roll back, as PostgreSQL's do
    assert con.execute(STATE).fetchall() == before
    assert con.execute("SHOW hnsw.ef_search").fetchall() == depth
    con.execute("INSERT INTO items VALUES (7, '[7,7,7]', 1, NULL)")  # and the session works again
    assert con.execute("SELECT count(*) FROM items").fetchone() == (before[0][0] + 1,)


def test_the_rolled_back_writes_leave_the_index_too(con):
    con.execute("CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)")
    near = "SELECT id FROM items ORDER BY embedding <-> '[7,7,7]' LIMIT 1"
    con.execute("BEGIN")
    con.execute("INSERT INTO items VALUES (7, '[7,7,7]', 1, NULL)")
    assert con.execute(near).fetchall() == [(7,)]
    with pytest.raises(vsql.VectorError):
        con.execute("INSERT INTO items VALUES (9, '[1,2]', 1, NULL)")
    con.execute("COMMIT")
    assert con.execute(near).fetchall() == [(2,)]


@pytest.mark.parametrize("kind", ERRORS)
def test_outside_a_transaction_an_error_undoes_only_its_statement(con, kind):
    sql, error = ERRORS[kind]
    con.execute("INSERT INTO items VALUES (7, '[7,7,7]', 1, NULL)")
    with pytest.raises(error):
        con.execute(sql)
    assert con.execute("SELECT id FROM items WHERE id = 7").fetchall() == [(7,)]


@pytest.mark.parametrize("kind", ERRORS)
def test_the_dbapi_transaction_follows_the_same_rule(tmp_path, kind):
    """PEP 249's implicit transaction is psycopg's: open before the statement runs, so any error,
    even in its first statement, aborts it until rollback(); commit() then rolls back."""
    sql, error = ERRORS[kind]
    path = tmp_path / "t.duckdb"
    with vsql.connect(path, autocommit=True) as setup:
        setup.execute("CREATE TABLE items (id INT PRIMARY KEY, embedding VECTOR(3), cat INT, tags REAL[])")
        setup.execute("INSERT INTO items VALUES (1, '[1,2,3]', 1, NULL), (2, '[4,5,6]', 2, NULL)")
    con = vsql.connect(path)
    before = con.execute(STATE).fetchall()
    con.execute("INSERT INTO items VALUES (7, '[7,7,7]', 1, NULL)")
    with pytest.raises(error):
        con.execute(sql)
    with pytest.raises(InFailedSqlTransaction):
        con.execute("SELECT 1")
    with pytest.raises(InFailedSqlTransaction):
        con.cursor().executemany("INSERT INTO items VALUES (?, ?, 1, NULL)", [(8, [8, 8, 8])])
    con.commit()  # rolls back
    assert con.execute(STATE).fetchall() == before
    con.rollback()
    with pytest.raises(error):
        con.execute(sql)  # the first statement of a transaction
    with pytest.raises(InFailedSqlTransaction):
        con.execute("SELECT 1")
    con.rollback()
    assert con.execute(STATE).fetchall() == before
    con.close()


def test_a_failed_bulk_load_aborts_the_transaction(con):
    con.execute("BEGIN")
    with pytest.raises(vsql.IntegrityError):
        con.cursor().executemany("INSERT INTO items VALUES (?, ?, 1, NULL)", [(7, [7, 7, 7]), (1, [1, 1, 1])])
    with pytest.raises(InFailedSqlTransaction):
        con.execute("SELECT 1")
    con.execute("ROLLBACK")
    assert con.execute("SELECT count(*) FROM items WHERE id = 7").fetchone() == (0,)


@pytest.mark.parametrize("sql", ["ROLLBACK TO SAVEPOINT s", "ROLLBACK TO s", "SAVEPOINT s", "RELEASE SAVEPOINT s"])
def test_savepoints_are_refused_never_taken_for_a_whole_rollback(sql):
    """DuckDB has no savepoints: `ROLLBACK TO` read as ROLLBACK would drop the whole transaction
    and carry on. It is refused, and the transaction is aborted as for any error."""
    con = vsql.connect(autocommit=True)
    con.execute("CREATE TABLE t (a INT)")
    con.execute("BEGIN")
    con.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(vsql.NotSupportedError, match="savepoints are not supported"):
        con.execute(sql)
    with pytest.raises(vsql.InternalError, match="current transaction is aborted"):
        con.execute("SELECT * FROM t")
    con.execute("ROLLBACK")
    assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)
