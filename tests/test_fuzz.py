"""Generated SQL and vector literals thrown at the dialect: each statement gives a result or a
DB-API error (a `vsql.Error`), never another exception and never a hang; afterwards the index
still agrees with exact search over whatever rows the statements left."""

import duckdb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vsql
from conftest import small_database
from oracle import check_search

NUMBERS = st.one_of(
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["NaN", "-inf", "Infinity", "1e39", "-1e-45", "0x1F", "1_000", "١", "３", "½", ".", "-", "e5", ""]),
)
VECTOR_TEXT = st.one_of(
    st.lists(st.floats(-1e6, 1e6, width=32), min_size=3, max_size=3).map(lambda v: "[" + ",".join(map(repr, v)) + "]"),
    st.lists(NUMBERS, max_size=6).map(lambda parts: "[" + ",".join(parts) + "]"),
    st.lists(st.sampled_from(["[", "]", ",", "1", "2.5", "-", "e", "nan", " ", "'", "\\", "\x00", "é"]), max_size=12)
    .map("".join),
    st.text(max_size=20),
)


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


VECTORS = st.one_of(
    VECTOR_TEXT.map(quoted),
    VECTOR_TEXT.map(lambda t: quoted(t) + "::vector"),
    st.tuples(VECTOR_TEXT, st.integers(-2, 20000)).map(lambda p: f"{quoted(p[0])}::vector({p[1]})"),
    st.lists(NUMBERS.filter(lambda n: n and n[0] in "-0123456789"), max_size=5)
    .map(lambda parts: "ARRAY[" + ",".join(parts) + "]"),
    st.sampled_from(["embedding", "NULL", "q", "tags", "cat", "(SELECT embedding FROM items LIMIT 1)", "?"]),
)
OPERATORS = st.sampled_from(["<->", "<#>", "<=>", "<+>", "+", "-", "*", "||", "=", "<", "<~>", "<=", "<>"])
LIMITS = st.one_of(st.integers(-3, 2**70).map(str), st.sampled_from(["ALL", "NULL", "'2'", "1.5", "?", "-0"]))
FUNCTIONS = st.sampled_from(["l2_distance", "inner_product", "cosine_distance", "l1_distance", "vector_dims",
                             "vector_norm", "l2_normalize", "subvector", "avg", "sum", "nope"])
TOKENS = st.sampled_from(["SELECT", "FROM", "items", "WHERE", "ORDER", "BY", "LIMIT", "embedding", "<->", "<=>",
                          "'[1,2,3]'", "::vector", "(", ")", ",", ";", "id", "=", "1", "INSERT", "INTO", "VALUES",
                          "CREATE", "INDEX", "ON", "USING", "hnsw", "vector_l2_ops", "WITH", "m", "LATERAL",
                          "JOIN", "queries", "q", "EXPLAIN", "ANALYZE", "?", "$1", ":q", "%s", "BEGIN", "ROLLBACK"])

STATEMENTS = st.one_of(
    st.builds("SELECT {} {} {}".format, VECTORS, OPERATORS, VECTORS),
    st.builds("SELECT id FROM items ORDER BY embedding {} {} LIMIT {}".format, OPERATORS, VECTORS, LIMITS),
    st.builds("SELECT id, embedding {} {} AS d FROM items WHERE cat = 1 ORDER BY d LIMIT {}".format,
              OPERATORS, VECTORS, LIMITS),
    st.builds("EXPLAIN ANALYZE SELECT id FROM items WHERE id < 3 ORDER BY embedding {} {} LIMIT {}".format,
              OPERATORS, VECTORS, LIMITS),
    st.builds("SELECT q.qid, s.id FROM queries q CROSS JOIN LATERAL (SELECT id FROM items "
              "ORDER BY items.embedding {} {} LIMIT {}) s".format, OPERATORS, VECTORS, LIMITS),
    st.builds("SELECT {}({}, {}) FROM items".format, FUNCTIONS, VECTORS, VECTORS),
    st.builds("INSERT INTO items (id, embedding) VALUES ({}, {})".format, st.integers(5, 9), VECTORS),
    st.builds("UPDATE items SET embedding = {} WHERE id = {}".format, VECTORS, st.integers(1, 9)),
    st.builds("DELETE FROM items WHERE embedding {} {} < 1".format, OPERATORS, VECTORS),
    st.builds("CREATE TABLE IF NOT EXISTS t (e VECTOR({}))".format, st.one_of(st.integers(-5, 20000).map(str), NUMBERS)),
    st.builds("CREATE INDEX IF NOT EXISTS i{} ON items USING {} (embedding {}) WITH ({} = {})".format,
              st.integers(0, 3), st.sampled_from(["hnsw", "ivfflat", "gist"]),
              st.sampled_from(["vector_l2_ops", "vector_ip_ops", "vector_cosine_ops", "vector_l1_ops", ""]),
              st.sampled_from(["m", "ef_construction", "lists", "x"]), LIMITS),
    st.builds("SET {} = {}".format, st.sampled_from(["hnsw.ef_search", "ivfflat.probes", "vsql.exact_below"]),
              st.one_of(LIMITS, VECTORS)),
    st.lists(TOKENS, max_size=15).map(" ".join),
    st.text(max_size=40),
)
PARAMETER = st.one_of(
    st.none(), st.integers(), st.floats(), st.text(max_size=10), VECTOR_TEXT,
    st.lists(st.floats(width=32), min_size=1, max_size=5),
    st.lists(st.one_of(st.integers(), st.text(max_size=2), st.none()), max_size=4),
    st.builds(lambda n, v: np.full(n, v, dtype=np.float32), st.integers(0, 5), st.floats(width=32)),
)


@pytest.fixture(scope="module")
def fuzzed():
    con = small_database()
    con.execute("CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)")
    yield con
    con.close()


def run(con, sql, params):
    try:
        cursor = con.execute(sql, params)
        if cursor.description is not None:
            cursor.fetchall()
    except vsql.InternalError as error:  # vsql's wrapping of a Python exception is a bug
        assert isinstance(error.__cause__, duckdb.Error), f"{sql!r}: {error}"
    except vsql.Error:
        pass


@pytest.mark.timeout(120)
@settings(max_examples=400, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
@given(sql=STATEMENTS, params=st.one_of(st.none(), st.lists(PARAMETER, min_size=1, max_size=3),
                                        st.dictionaries(st.sampled_from(["q", "x"]), PARAMETER, max_size=2)))
def test_generated_statements_give_a_result_or_a_db_api_error(fuzzed, sql, params):
    if params is not None and "?" not in sql and "$" not in sql and ":" not in sql:
        params = None
    run(fuzzed, sql, params)
    if fuzzed.session.in_transaction:  # a generated BEGIN: end it, so later statements run alone
        fuzzed.rollback()


@pytest.mark.timeout(60)
@settings(max_examples=300, deadline=2000)
@given(text=VECTOR_TEXT)
def test_generated_literals_parse_or_are_refused_the_same_everywhere(fuzzed, text):
    """A literal the cast accepts is stored and read back unchanged; one it refuses, everything refuses."""
    outcomes = []
    for sql, params in [(f"SELECT {quoted(text)}::vector::text", None), ("SELECT ?::vector::text", [text])]:
        try:
            outcomes.append(("ok", fuzzed.execute(sql, params).fetchone()[0]))
        except vsql.Error as error:
            outcomes.append(("error", type(error).__name__))
    assert outcomes[0] == outcomes[1], outcomes


def test_the_index_still_agrees_with_exact_search(fuzzed):
    """Whatever indexes and settings the statements left (an HNSW with m = 2, ef_search = 1, an
    IVF with more lists than rows), no row is wrong and k come back; with those reset, the first
    index finds every nearest row again."""
    queries = np.random.default_rng(0).normal(0, 3, (5, 3)).astype(np.float32)
    check_search(fuzzed, queries, k=3, min_recall=0.0)
    for setting in ("hnsw.ef_search", "ivfflat.probes", "vsql.exact_below"):
        fuzzed.execute(f"RESET {setting}")
    for name in range(4):
        fuzzed.execute(f"DROP INDEX IF EXISTS i{name}")
    check_search(fuzzed, queries, k=3)
