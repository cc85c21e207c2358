"""Bad input gets a clear DB-API error that names the problem, and stored data stays as it was."""

import duckdb
import numpy as np
import pytest

import vsql

COUNT = "SELECT count(*), sum(vector_norm(embedding)) FROM items"


@pytest.fixture
def before(con):
    return con.execute(COUNT).fetchone()


@pytest.mark.parametrize("sql, error, message", [
    ("SELECT embedding <-> '[1,2]' FROM items", vsql.VectorError, "expected 3 dimensions, not 2"),
    ("SELECT '[1,2,3]'::vector <-> '[1,2]'::vector", vsql.VectorError, "different vector dimensions 3 and 2"),
    ("SELECT '[1,2,3]'::vector(2)", vsql.VectorError, "expected 2 dimensions, not 3"),
    ("SELECT '[1,NaN]'::vector", vsql.VectorError, "NaN not allowed in vector"),
    ("SELECT '[1,-Infinity]'::vector", vsql.VectorError, "infinite value not allowed in vector"),
    ("SELECT '[1,inf]'::vector", vsql.VectorError, "infinite value not allowed in vector"),
    ("SELECT '[]'::vector", vsql.VectorError, "vector must have at least 1 dimension"),
    ("SELECT '[1,,2]'::vector", vsql.VectorError, 'invalid input syntax for type vector: "\\[1,,2\\]"'),
    ("SELECT '1,2'::vector", vsql.VectorError, "invalid input syntax for type vector"),
    ("SELECT '[1e39]'::vector", vsql.VectorError, "out of range for type vector"),
    ("SELECT '[3e38]'::vector + '[3e38]'::vector", vsql.VectorError, "value out of range: overflow"),
    ("SELECT '[1,2]'::vector(16001)", vsql.VectorError, "between 1 and 16000"),
    ("CREATE TABLE bad (e VECTOR(0))", vsql.VectorError, "between 1 and 16000"),
    ("SELECT 1 - embedding FROM items", vsql.ProgrammingError, "1 is a number, not a vector"),
    ("SELECT tags::vector <-> '[1,2]' FROM items WHERE id = 1", vsql.DataError, "dimensions"),
    ("SELECT * FROM items FOR UPDATE", vsql.NotSupportedError, "FOR UPDATE"),
    ("SELECT * FROM nowhere", vsql.ProgrammingError, "nowhere"),
    ("SELECT nocolumn FROM items", vsql.ProgrammingError, "nocolumn"),
    ("", vsql.ProgrammingError, "empty"),
])
def test_clear_errors(con, before, sql, error, message):
    with pytest.raises(error, match=message):
        con.execute(sql)
    assert con.execute(COUNT).fetchone() == before


@pytest.mark.parametrize("sql, message, line, column", [
    ("SELEC 1", 'syntax error at or near "1"', 1, 7),
    ("SELECT *\nFROM items\nWHERE", "syntax error at end of input", 3, 6),
    ("SELECT 1;\nSELECT embedding <-> FROM items", 'syntax error at or near "FROM"', 2, 22),
])
def test_syntax_errors_name_their_position(con, sql, message, line, column):
    with pytest.raises(vsql.errors.SyntaxError) as raised:
        con.execute(sql)
    assert (str(raised.value), raised.value.line, raised.value.column) == (message, line, column)


@pytest.mark.parametrize("statement", [
    "INSERT INTO items VALUES (9, '[1,2]', 1, NULL)",
    "INSERT INTO items VALUES (9, '[1,nan,2]', 1, NULL)",
    "INSERT INTO items VALUES (1, '[1,2,3]', 1, NULL)",  # duplicate key
    "UPDATE items SET embedding = '[1,2]' WHERE id = 1",
    "UPDATE items SET embedding = embedding * '[1e38,1e38,1e38]'",
    "INSERT INTO items SELECT 9, [1, 'nan'::float, 2]::FLOAT[3], 1, NULL",
    "UPDATE items SET embedding = [1, 'inf'::float, 2]::FLOAT[3] WHERE id = 2",
])
def test_failing_writes_leave_data_unchanged(con, before, statement):
    with pytest.raises(vsql.DatabaseError):
        con.execute(statement)
    assert con.execute(COUNT).fetchone() == before


def test_engine_errors_keep_their_cause(con):
    with pytest.raises(vsql.IntegrityError) as raised:
        con.execute("INSERT INTO items VALUES (1, '[1,2,3]', 1, NULL)")
    assert isinstance(raised.value.__cause__, duckdb.ConstraintException)


@pytest.mark.parametrize("value, message", [
    (np.array([1.0, np.nan, 2.0]), "NaN not allowed"),
    (np.array([[1.0, 2.0, 3.0]]), "1-dimensional"),
    (["a", "b", "c"], "sequence of numbers"),
    ("[1,2", "invalid input syntax for type vector"),
    (np.array([1.0, 2.0]), "different vector dimensions 3 and 2"),
    (object(), "expected a vector"),
])
def test_bad_vector_parameters(con, value, message):
    with pytest.raises(vsql.DataError, match=message):
        con.execute("SELECT id FROM items ORDER BY embedding <-> ? LIMIT 1", [value])


def test_missing_parameter_is_named(con):
    with pytest.raises(vsql.ProgrammingError, match=":q"):
        con.execute("SELECT id FROM items ORDER BY embedding <-> :q LIMIT 1", {"other": [1, 2, 3]})
