"""One tie rule on every search path, the inputs of vsql's measuring functions read as SQL nodes
(never pasted into statements), and re-embedding's shadow tables, one per column."""

import pytest

import vsql
from vsql.mlops.reembed import shadow_table


@pytest.fixture
def tied():
    """Five rows at the same distance from the origin, inserted with keys in descending order."""
    con = vsql.connect(autocommit=True)
    con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, e VECTOR(2))")
    con.execute("CREATE TABLE bare (id BIGINT, e VECTOR(2))")  # no primary key: ties go by row order
    for key in (50, 40, 30, 20, 10):
        con.execute("INSERT INTO t VALUES (?, '[1,1]')", [key])
        con.execute("INSERT INTO bare VALUES (?, '[1,1]')", [key])
    yield con
    con.close()


KEY_ONLY = "SELECT id FROM t ORDER BY e <-> '[0,0]' LIMIT 2"
FETCH = "SELECT id, e FROM t ORDER BY e <-> '[0,0]' LIMIT 2"


def _ids(con, sql):
    return [row[0] for row in con.execute(sql).fetchall()]


def test_ties_go_to_the_smaller_key_on_every_path(tied):
    exact = _ids(tied, KEY_ONLY)
    assert exact == _ids(tied, FETCH) == [10, 20]
    tied.execute("CREATE INDEX ON t USING hnsw (e vector_l2_ops)")
    tied.execute("SET vsql.exact_below = 0")
    assert "answered from the index alone" in tied.execute(f"EXPLAIN {KEY_ONLY}").fetchall()[0][1]
    assert "strategy: ann" in tied.execute(f"EXPLAIN {FETCH}").fetchall()[0][1]
    assert _ids(tied, KEY_ONLY) == _ids(tied, FETCH) == exact


def test_a_table_without_a_key_breaks_ties_by_row_order(tied):
    assert _ids(tied, "SELECT id FROM bare ORDER BY e <-> '[0,0]' LIMIT 2") == [50, 40]


@pytest.fixture
def measured(con):
    con.execute("CREATE TABLE secrets (x INT)")
    con.execute("CREATE INDEX idx ON items USING hnsw (embedding vector_l2_ops)")
    return con


EVALUATE = "SELECT recall FROM vsql_evaluate('idx', 'SELECT q FROM queries', k => 2, filter => {})"


@pytest.mark.parametrize("bad, message", [
    ("cat = 1 OR EXISTS (SELECT 1 FROM secrets)", "reads another table"),
    ("cat IN (SELECT x FROM secrets)", "reads another table"),
    ("secrets.x = 1", "reads another table"),
    ("cat = 1; DROP TABLE secrets", "is not one condition"),
    ("1) OR (1", "is not one condition"),
    ("cat = $1", "holds a parameter"),
])
def test_a_filter_is_one_condition_on_the_index_table(measured, bad, message):
    with pytest.raises(vsql.ProgrammingError, match=message):
        measured.execute(EVALUATE.format("?"), [bad])
    literal = "'" + bad.replace("'", "''") + "'"
    with pytest.raises(vsql.ProgrammingError, match=message):
        measured.execute(EVALUATE.format(literal))
    assert measured.execute("SELECT count(*) FROM secrets").fetchone() == (0,)


def test_a_good_filter_runs_bound_or_written(measured):
    assert measured.execute(EVALUATE.format("?"), ["cat = 1 OR id > 3"]).fetchone()[0] == 1.0
    assert measured.execute(EVALUATE.format("'cat = 1'")).fetchone()[0] == 1.0


@pytest.mark.parametrize("queries", ["SELECT q FROM queries; DROP TABLE secrets", "DROP TABLE secrets", ""])
def test_the_query_set_is_one_select(measured, queries):
    with pytest.raises(vsql.ProgrammingError, match="is not one SELECT"):
        measured.execute("SELECT * FROM vsql_evaluate('idx', ?)", [queries])
    assert measured.execute("SELECT count(*) FROM secrets").fetchone() == (0,)


def test_shadow_tables_of_different_columns_differ():
    assert shadow_table("a_b", "c") != shadow_table("a", "b_c")
    assert shadow_table("A", "E") == shadow_table("a", "e")
