"""Hostile and malformed input: every case is a DB-API error with a clear message, and neither the
table nor its index changes (the index still answers as the NumPy oracle does)."""

import numpy as np
import pytest

import vsql
from conftest import small_database
from oracle import knn

SNAPSHOT = "SELECT id, embedding::text, cat, tags FROM items ORDER BY id"
NESTED = "[" * 5000 + "1" + "]" * 5000


@pytest.fixture(scope="module")
def indexed():
    """The conftest table with an HNSW index, and its rows as they were: shared by every case,
    so a case that changed anything would fail all the later ones too."""
    con = small_database()
    con.execute("CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)")
    yield con, con.execute(SNAPSHOT).fetchall()
    con.close()


def assert_unchanged(con, before):
    assert con.execute(SNAPSHOT).fetchall() == before
    rows = [(i, e) for i, e in con.execute("SELECT id, embedding FROM items WHERE embedding IS NOT NULL").fetchall()]
    ids, vectors = np.array([i for i, _ in rows]), np.stack([e for _, e in rows])
    con.execute("SET vsql.exact_below = 0")  # through the index, not brute force
    for query in (np.array([1, 2, 3], np.float32), np.array([5, 5, 5], np.float32)):
        got = [r[0] for r in con.execute("SELECT id FROM items ORDER BY embedding <-> ? LIMIT 3", [query]).fetchall()]
        assert got == ids[knn(vectors, query, "l2", 3)[0]].tolist()
    con.execute("RESET vsql.exact_below")


LITERALS = [
    ("[" + "1," * 20000 + "1]", "more than 16000 dimensions"),
    ("[" + "9" * 100_000 + "]", "is out of range for type vector"),
    (NESTED, "invalid input syntax for type vector"),
    ("[[1,2,3]]", "invalid input syntax for type vector"),
    ("[1,2,3]]", "invalid input syntax for type vector"),
    ("[1,2,3", "invalid input syntax for type vector"),
    ("[1 2 3]", "invalid input syntax for type vector"),
    ("[1,,3]", "invalid input syntax for type vector"),
    ("[a,b,c]", "invalid input syntax for type vector"),
    ("[true,1,2]", "invalid input syntax for type vector"),
    ("[0x10,1,2]", "invalid input syntax for type vector"),
    ("[1_0,1,2]", "invalid input syntax for type vector"),
    ("[1,2,3]\x00", "invalid input syntax for type vector"),
    ("[١,٢,٣]", "invalid input syntax for type vector"),  # Arabic-Indic digits
    ("[1,2,３]", "invalid input syntax for type vector"),  # a fullwidth digit
    ("[1,2,½]", "invalid input syntax for type vector"),
    ("[1,2,²]", "invalid input syntax for type vector"),
    ("[1e39,1,2]", "out of range for type vector"),
    ("[1e400,1,2]", '"1e400" is out of range for type vector'),
    ("[]", "at least 1 dimension"),
    ("", "invalid input syntax for type vector"),
    *[(f"[1,{spelling},2]", "NaN not allowed") for spelling in ("NaN", "nan", "NAN", "+nan", "-NaN", " nan ")],
    *[(f"[1,{spelling},2]", "infinite value not allowed")
      for spelling in ("inf", "Inf", "INF", "+inf", "-inf", "infinity", "-Infinity", "INFINITY", " inf ")],
]


@pytest.mark.parametrize("text, message", LITERALS, ids=lambda v: repr(v)[:30])
def test_malformed_and_hostile_vector_literals(indexed, text, message):
    con, before = indexed
    quoted = text.replace("'", "''")
    for sql, params in [
        (f"SELECT '{quoted}'::vector", None),
        (f"SELECT id FROM items ORDER BY embedding <-> '{quoted}' LIMIT 2", None),
        (f"INSERT INTO items (id, embedding) VALUES (9, '{quoted}')", None),
        (f"UPDATE items SET embedding = '{quoted}' WHERE id = 1", None),
        ("SELECT id FROM items ORDER BY embedding <-> ? LIMIT 2", [text]),
        ("INSERT INTO items (id, embedding) VALUES (9, ?)", [text]),
    ]:
        with pytest.raises(vsql.DataError, match=message):
            con.execute(sql, params)
    assert_unchanged(con, before)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("form", [list, np.array, lambda v: np.array(v, np.float32), lambda v: np.array(v, np.float16)])
def test_nan_and_infinity_in_bound_vectors(indexed, value, form):
    con, before = indexed
    vector = form([1.0, value, 2.0])
    message = "NaN not allowed" if np.isnan(value) else "infinite value not allowed"
    for sql in ("SELECT id FROM items ORDER BY embedding <-> ? LIMIT 2",
                "INSERT INTO items (id, embedding) VALUES (9, ?)",
                "UPDATE items SET embedding = ? WHERE id = 2"):
        with pytest.raises(vsql.DataError, match=message):
            con.execute(sql, [vector])
    with pytest.raises(vsql.DataError, match=message):
        con.cursor().executemany("INSERT INTO items (id, embedding) VALUES (?, ?)", [(8, [1, 2, 3]), (9, vector)])
    assert_unchanged(con, before)


WRONG_DIMENSIONS = [
    ("SELECT embedding <-> '[1,2]' FROM items", None),
    ("SELECT id FROM items ORDER BY embedding <-> '[1,2,3,4]' LIMIT 1", None),
    ("SELECT id FROM items ORDER BY embedding <#> ? LIMIT 1", [[1, 2]]),
    ("SELECT id FROM items ORDER BY embedding <=> ? LIMIT 1", [np.ones(4)]),
    ("SELECT id FROM items ORDER BY embedding <+> ? LIMIT 1", ["[1]"]),
    ("SELECT l2_distance(embedding, '[1,2]') FROM items", None),
    ("SELECT cosine_distance(embedding, ARRAY[1,2]) FROM items", None),
    ("SELECT inner_product('[1,2,3]', '[1,2]')", None),
    ("SELECT embedding + '[1,2]' FROM items", None),
    ("SELECT embedding * ? FROM items", [[1, 2, 3, 4]]),
    ("SELECT * FROM items WHERE embedding = '[1,2]'", None),
    ("SELECT '[1,2,3]'::vector(2)", None),
    ("SELECT ARRAY[1,2,3]::vector(4)", None),
    ("SELECT subvector(embedding, 4, 1) FROM items", None),  # past the end (pgvector clamps 1..10 to 1..3)
    ("INSERT INTO items (id, embedding) VALUES (9, '[1,2]')", None),
    ("INSERT INTO items (id, embedding) VALUES (9, ARRAY[1,2,3,4])", None),
    ("INSERT INTO items (id, embedding) VALUES (?, ?)", [9, np.ones(2)]),
    ("INSERT INTO items (id, embedding) SELECT 9, '[1,2]'::vector", None),
    ("UPDATE items SET embedding = '[1,2,3,4]' WHERE id = 1", None),
    ("UPDATE items SET embedding = ? WHERE id = 1", [[1.0, 2.0]]),
    ("SELECT q.qid, s.id FROM queries q CROSS JOIN LATERAL "
     "(SELECT id FROM items ORDER BY items.embedding <-> '[1,2]' LIMIT 1) s", None),
]


@pytest.mark.parametrize("sql, params", WRONG_DIMENSIONS, ids=lambda v: str(v)[:50])
def test_wrong_dimensions_everywhere_a_vector_goes(indexed, sql, params):
    con, before = indexed
    with pytest.raises(vsql.DataError, match="dimension"):
        con.execute(sql, params)
    assert_unchanged(con, before)


def test_wrong_dimensions_in_bulk_loads(indexed):
    import pyarrow as pa

    con, before = indexed
    with pytest.raises(vsql.DataError, match="expected 3 dimensions, not 2"):
        con.cursor().executemany("INSERT INTO items (id, embedding) VALUES (?, ?)", [(8, [1, 2, 3]), (9, [1, 2])])
    wide = pa.table({"id": [9], "embedding": pa.FixedSizeListArray.from_arrays(pa.array([1.0, 2, 3, 4], pa.float32()), 4)})
    with pytest.raises(vsql.DataError, match="dimensions"):
        con.load("items", wide)
    assert_unchanged(con, before)


BAD_STATEMENTS = [
    # bad index options
    ("CREATE INDEX i ON items USING hnsw (embedding vector_l2_ops) WITH (m = 99999999999999999999)", "out of bounds"),
    ("CREATE INDEX i ON items USING hnsw (embedding vector_l2_ops) WITH (m = -3)", 'value -3 out of bounds for option "m"'),
    ("CREATE INDEX i ON items USING hnsw (embedding vector_l2_ops) WITH (m = 'many')", 'invalid value for integer option "m"'),
    ("CREATE INDEX i ON items USING hnsw (embedding vector_l2_ops) WITH (m = ?)", 'invalid value for integer option "m"'),
    ("CREATE INDEX i ON items USING hnsw (embedding vector_l2_ops) WITH (m = 4, m = 5)", 'parameter "m" specified more'),
    ("CREATE INDEX i ON items USING hnsw (embedding vector_l2_ops) WITH (ef_search = 10)", 'unrecognized parameter'),
    ("CREATE INDEX i ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = 40000)", "out of bounds"),
    ("CREATE INDEX i ON items USING ivfflat (embedding vector_l1_ops)",
     'operator class "vector_l1_ops" does not exist for access method "ivfflat"'),
    ("CREATE INDEX i ON items USING hnsw (embedding vector_l2_ops, embedding vector_ip_ops)", "exactly one"),
    ("CREATE INDEX i ON items USING hnsw ((embedding + embedding) vector_l2_ops)", "column does not have dimensions"),
    ("CREATE INDEX i ON items USING hnsw (tags vector_l2_ops)", "not a vector column"),
    # bad search settings: the sign is kept, parameters are refused, not read as numbers
    ("SET hnsw.ef_search = -5", "outside the valid range"),
    ("SET hnsw.ef_search = 0", "outside the valid range"),
    ("SET hnsw.ef_search = 1e9", "1000000000 is outside the valid range"),  # PostgreSQL reads 1e9 as a number
    ("SET hnsw.ef_search = ?", 'invalid value for parameter "hnsw.ef_search": "\\$1"'),
    ("SET ivfflat.probes = 'many'", "invalid value"),
    ("SET hnsw.iterative_scan = sideways", "HINT:  Available values: off"),
    ("REINDEX TABLE nowhere", 'relation "nowhere" does not exist'),
    ("REINDEX INDEX nowhere", 'index "nowhere" does not exist'),
    ("REINDEX DATABASE items", "REINDEX takes INDEX name or TABLE name"),
    # unknown operators and types
    ("SELECT id FROM items ORDER BY embedding <~> '[1,2,3]' LIMIT 1", "operator does not exist: vector <~>"),
    ("SELECT id FROM items ORDER BY embedding <!> '[1,2,3]' LIMIT 1", "syntax error"),
    ("SELECT id FROM items ORDER BY embedding <%> '[1,2,3]' LIMIT 1", "operator does not exist: vector <%>"),
    ("SELECT embedding <-> 3 FROM items", "is a number, not a vector"),
    ("SELECT '[1,2,3]'::vector(3.5)", "between 1 and 16000, not 3.5"),
    ("SELECT subvector(embedding, 1, 0) FROM items", "at least 1 dimension"),
    ("SELECT subvector(embedding, 0, -1) FROM items", "at least 1 dimension"),
    ("SELECT '[1,2,3]'::vector(16001)", "between 1 and 16000"),
    ("CREATE TABLE t2 (e VECTOR(99999999999999999999))", "between 1 and 16000"),
    # k of 0 is fine (no rows); negative or huge is the engine's clear error
    ("SELECT id FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT -1", "cannot be negative"),
    ("SELECT id FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 99999999999999999999", "out of range"),
    ("SELECT id, embedding <-> '[1,2,3]' AS d FROM items ORDER BY d LIMIT 99999999999999999999", "out of range"),
    ("SELECT id FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 'abc'", "abc"),
    ("SELECT id FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 2 OFFSET -1", "cannot be negative"),
    # statements that cannot be transpiled or run
    ("SELECT * FROM items FOR UPDATE", "FOR UPDATE"),
    ("SELECT * FROM items FOR SHARE", "FOR UPDATE/SHARE"),
    ("LISTEN channel", "LISTEN"),
    ("COPY items TO PROGRAM 'rm -rf /'", "ls|option|PROGRAM|rm"),
    ("SELECT xmlelement(name foo)", "syntax error"),
    ("SELECT 1 WHERE 1 =", "^syntax error at end of input$"),
    ("DELETE FROM items WHERE", "syntax error"),
    ("", "empty"),
    (";;;", "empty"),
]


@pytest.mark.parametrize("sql, message", BAD_STATEMENTS, ids=lambda v: str(v)[:50])
def test_bad_statements_get_clear_errors(indexed, sql, message):
    con, before = indexed
    with pytest.raises(vsql.DatabaseError, match=message):
        con.execute(sql, [16] if "?" in sql else None)
    assert_unchanged(con, before)
    assert con.execute("SELECT name, version, options FROM vsql.indexes").fetchall() == [
        ("items_embedding_idx", 1, '{"m": 16, "ef_construction": 64}')]


@pytest.mark.parametrize("k", [0, 1, 4, 10, 2**62])
def test_k_of_zero_or_huge_returns_what_matches(indexed, k):
    con, _ = indexed
    con.execute("SET vsql.exact_below = 0")
    for sql in ("SELECT id FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT {}",
                "SELECT id, embedding <-> '[1,2,3]' AS d FROM items ORDER BY d LIMIT {}",
                "SELECT id FROM items WHERE cat = 1 ORDER BY embedding <-> '[1,2,3]' LIMIT {}"):
        got = con.execute(sql.format(k)).fetchall()
        assert len(got) == min(k, 2 if "cat = 1" in sql else 4)
    con.execute("RESET vsql.exact_below")


PARAMETERS = [
    (5, vsql.ProgrammingError, "sequence or a mapping, not int"),
    ("[1,2,3]", vsql.ProgrammingError, "sequence or a mapping, not str"),
    (b"[1,2,3]", vsql.ProgrammingError, "sequence or a mapping, not bytes"),
    ({1, 2}, vsql.ProgrammingError, "sequence or a mapping, not set"),
    ([], vsql.ProgrammingError, "no value bound for parameter \\$1"),
    ({"q": [1, 2, 3]}, vsql.ProgrammingError, "no value bound for parameter \\$1"),
    ([{"a": 1}], vsql.DataError, "expected a vector"),
    ([b"\x00\x01"], vsql.DataError, "expected a vector"),
    ([object()], vsql.DataError, "expected a vector"),
    ([np.float32(3)], vsql.DataError, "expected a vector"),
    ([[1, "2", 3]], vsql.DataError, "sequence of numbers"),
    ([[1, True, 3]], vsql.DataError, "sequence of numbers"),
    ([[[1, 2, 3]]], vsql.DataError, "sequence of numbers"),
    ([np.array(["a", "b", "c"])], vsql.DataError, "expected numbers"),
    ([np.array([1, 2, 3], np.complex64)], vsql.DataError, "expected numbers"),
    ([np.array([1, 2, 3], object)], vsql.DataError, "expected numbers"),
    ([np.zeros((1, 3))], vsql.DataError, "1-dimensional"),
    ([np.zeros(0)], vsql.DataError, "at least 1 dimension"),
    ([np.zeros(20000)], vsql.DataError, "more than 16000"),
    ([np.array([1e39, 0, 0])], vsql.DataError, "out of range"),
]


@pytest.mark.parametrize("params, error, message", PARAMETERS, ids=lambda v: repr(v)[:30])
def test_parameters_of_the_wrong_type(indexed, params, error, message):
    con, before = indexed
    with pytest.raises(error, match=message):
        con.execute("SELECT id FROM items ORDER BY embedding <-> ? LIMIT 2", params)
    assert_unchanged(con, before)


@pytest.mark.parametrize("sql, params", [
    ("INSERT INTO items (id, embedding) VALUES (?, ?)", ["nine", [1, 2, 3]]),
    ("INSERT INTO items (id, cat) VALUES (?, ?)", [9, object()]),
    ("UPDATE items SET cat = ? WHERE id = 1", [[1, 2]]),
    ("DELETE FROM items WHERE id = ?", ["1; DROP TABLE items"]),
    ("SELECT id FROM items WHERE cat = ? ORDER BY embedding <-> '[1,2,3]' LIMIT 2", [np.array([1, 2, 3])]),
])
def test_wrongly_typed_plain_parameters(indexed, sql, params):
    con, before = indexed
    with pytest.raises(vsql.DatabaseError):
        con.execute(sql, params)
    assert_unchanged(con, before)
