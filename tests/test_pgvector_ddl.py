"""pgvector's DDL and settings as pgvector means them, and result columns named as PostgreSQL
names them. Expected texts and names were read from PostgreSQL 17 with pgvector 0.8.2."""

import numpy as np
import pytest

import vsql
from vsql.client.shell.result import Result
from vsql.sql import statements as st
from vsql.sql.dialect import VSQL
from vsql.sql.names import pg_column_names
from vsql.sql.parse import parse


@pytest.fixture
def con():
    connection = vsql.connect(":memory:", autocommit=True)
    connection.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, cat INT, embedding VECTOR(3))")
    connection.execute("INSERT INTO t VALUES (1, 0, '[1,2,3]'), (2, 1, '[3,2,1]')")
    yield connection
    connection.close()


# -- CREATE EXTENSION ---------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "CREATE EXTENSION vector",
    "CREATE EXTENSION IF NOT EXISTS vector",
    "create extension if not exists VECTOR with schema public",
    "CREATE EXTENSION IF NOT EXISTS \"vector\" SCHEMA public VERSION '0.8.0' CASCADE",
])
def test_create_extension_vector_is_accepted_and_changes_nothing(con, sql):
    cursor = con.cursor()
    cursor.execute(sql)
    assert cursor.description is None and cursor.rowcount == -1
    assert Result.of(cursor, sql).status == "CREATE EXTENSION"  # the shell's status line
    assert isinstance(parse(sql)[0], st.CreateExtension)  # a node of vsql's, not text for DuckDB
    assert con.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,)]


def test_create_extension_round_trips():
    assert parse("create extension if not exists vector")[0].sql(dialect=VSQL) == "CREATE EXTENSION IF NOT EXISTS vector"


@pytest.mark.parametrize("sql", ["CREATE EXTENSION pg_trgm", "CREATE EXTENSION IF NOT EXISTS foo"])
def test_other_extensions_are_not_available(con, sql):
    name = sql.split()[-1]
    with pytest.raises(vsql.OperationalError) as raised:
        con.execute(sql)
    assert str(raised.value).splitlines() == [
        f'extension "{name}" is not available',
        "HINT:  The extension must first be installed on the system where PostgreSQL is running.",
    ]


@pytest.mark.parametrize("sql", ["CREATE EXTENSION", "CREATE EXTENSION vector junk"])
def test_malformed_create_extension_is_a_syntax_error(con, sql):
    with pytest.raises(vsql.ProgrammingError, match="syntax error"):
        con.execute(sql)


# -- pgvector's search settings -----------------------------------------------------------------

DEFAULTS = [
    ("hnsw.iterative_scan", "off"),
    ("hnsw.max_scan_tuples", "20000"),
    ("hnsw.scan_mem_multiplier", "1"),
    ("ivfflat.iterative_scan", "off"),
    ("ivfflat.max_probes", "32768"),
]


@pytest.mark.parametrize("name, default", DEFAULTS)
def test_settings_show_pgvectors_defaults(con, name, default):
    assert con.execute(f"SHOW {name}").fetchall() == [(default,)]


# (SET value, what SHOW then says), as PostgreSQL reads and prints them
ACCEPTED = [
    ("hnsw.iterative_scan", "relaxed_order", "relaxed_order"),
    ("hnsw.iterative_scan", "Strict_Order", "strict_order"),
    ("hnsw.iterative_scan", "'strict_order'", "strict_order"),
    ("ivfflat.iterative_scan", "relaxed_order", "relaxed_order"),
    ("hnsw.max_scan_tuples", "50000", "50000"),
    ("hnsw.max_scan_tuples", "1.5", "2"),  # rounded, as PostgreSQL does integer settings
    ("hnsw.ef_search", "2.5", "2"),  # to even
    ("hnsw.scan_mem_multiplier", "2.5", "2.5"),
    ("hnsw.scan_mem_multiplier", "2", "2"),
    ("hnsw.scan_mem_multiplier", "3.14159265358979", "3.14159"),
    ("ivfflat.max_probes", "10", "10"),
]


@pytest.mark.parametrize("name, value, shown", ACCEPTED)
def test_set_then_show(con, name, value, shown):
    con.execute(f"SET {name} = {value}")
    assert con.execute(f"SHOW {name}").fetchall() == [(shown,)]
    con.execute(f"RESET {name}")
    assert con.execute(f"SHOW {name}").fetchall() == [(dict(DEFAULTS).get(name, "auto"),)]


REFUSED = [
    ("SET hnsw.iterative_scan = foo",
     'invalid value for parameter "hnsw.iterative_scan": "foo"\nHINT:  Available values: off, relaxed_order, strict_order.'),
    ("SET hnsw.iterative_scan = on",
     'invalid value for parameter "hnsw.iterative_scan": "on"\nHINT:  Available values: off, relaxed_order, strict_order.'),
    ("SET ivfflat.iterative_scan = strict_order",
     'invalid value for parameter "ivfflat.iterative_scan": "strict_order"\nHINT:  Available values: off, relaxed_order.'),
    ("SET hnsw.max_scan_tuples = 0", '0 is outside the valid range for parameter "hnsw.max_scan_tuples" (1 .. 2147483647)'),
    ("SET hnsw.max_scan_tuples = abc", 'invalid value for parameter "hnsw.max_scan_tuples": "abc"'),
    ("SET hnsw.max_scan_tuples = 2147483648",
     'invalid value for parameter "hnsw.max_scan_tuples": "2147483648"\nHINT:  Value exceeds integer range.'),
    ("SET hnsw.scan_mem_multiplier = 0.5", '0.5 is outside the valid range for parameter "hnsw.scan_mem_multiplier" (1 .. 1000)'),
    ("SET hnsw.scan_mem_multiplier = 0.00001",
     '1e-05 is outside the valid range for parameter "hnsw.scan_mem_multiplier" (1 .. 1000)'),
    ("SET hnsw.scan_mem_multiplier = 1000.5",
     '1000.5 is outside the valid range for parameter "hnsw.scan_mem_multiplier" (1 .. 1000)'),
    ("SET hnsw.scan_mem_multiplier = 'inf'",
     'Infinity is outside the valid range for parameter "hnsw.scan_mem_multiplier" (1 .. 1000)'),
    ("SET hnsw.scan_mem_multiplier = 'nan'", 'invalid value for parameter "hnsw.scan_mem_multiplier": "nan"'),
    ("SET hnsw.scan_mem_multiplier = abc", 'invalid value for parameter "hnsw.scan_mem_multiplier": "abc"'),
    ("SET ivfflat.max_probes = 0", '0 is outside the valid range for parameter "ivfflat.max_probes" (1 .. 32768)'),
    ("SET hnsw.ef_search = 1e9", '1000000000 is outside the valid range for parameter "hnsw.ef_search" (1 .. 1000)'),
    ("SET hnsw.ef_search = 0.4", '0 is outside the valid range for parameter "hnsw.ef_search" (1 .. 1000)'),
]


@pytest.mark.parametrize("sql, message", REFUSED)
def test_invalid_values_get_postgresqls_error(con, sql, message):
    with pytest.raises(vsql.ProgrammingError) as raised:
        con.execute(sql)
    assert str(raised.value) == message
    assert raised.value.sqlstate == "22023"  # invalid_parameter_value


def test_settings_follow_transactions_and_default(con):
    con.execute("SET hnsw.iterative_scan = relaxed_order")
    con.execute("BEGIN")
    con.execute("SET LOCAL hnsw.scan_mem_multiplier = 4")
    con.execute("SET hnsw.iterative_scan = strict_order")
    assert con.execute("SHOW hnsw.scan_mem_multiplier").fetchall() == [("4",)]
    con.execute("ROLLBACK")
    assert con.execute("SHOW hnsw.scan_mem_multiplier").fetchall() == [("1",)]
    assert con.execute("SHOW hnsw.iterative_scan").fetchall() == [("relaxed_order",)]
    con.execute("SET hnsw.iterative_scan = DEFAULT")
    assert con.execute("SHOW hnsw.iterative_scan").fetchall() == [("off",)]


def test_iterative_scan_settings_do_not_change_answers():
    """vsql's filtered search always goes on until k rows are found whenever k match: pgvector's
    iterative-scan settings, off or on, give the same rows (here, the exact ones)."""
    rng = np.random.default_rng(3)
    data = rng.standard_normal((400, 8)).astype(np.float32)
    con = vsql.connect(":memory:", autocommit=True)
    con.execute("CREATE TABLE r (id BIGINT PRIMARY KEY, cat INT, embedding VECTOR(8))")
    con.cursor().executemany("INSERT INTO r VALUES (?, ?, ?)", [(i, i % 50, v) for i, v in enumerate(data)])
    con.execute("CREATE INDEX ON r USING hnsw (embedding vector_l2_ops)")
    con.execute("SET vsql.exact_below = 0")  # the index answers, filter and all
    q = rng.standard_normal(8).astype(np.float32)
    sql = "SELECT id FROM r WHERE cat = 7 ORDER BY embedding <-> ? LIMIT 5"
    keep = np.flatnonzero(np.arange(400) % 50 == 7)
    exact = [(int(i),) for i in keep[np.argsort(np.linalg.norm(data[keep] - q, axis=1), kind="stable")][:5]]
    for setting in ["hnsw.iterative_scan = off", "hnsw.iterative_scan = strict_order",
                    "hnsw.iterative_scan = relaxed_order", "hnsw.max_scan_tuples = 1", "hnsw.ef_search = 1"]:
        con.execute(f"SET {setting}")
        assert con.execute(sql, [q]).fetchall() == exact, setting
    con.close()


# -- result column names ------------------------------------------------------------------------

# (projection list, PostgreSQL 17's names for it), over t (id, cat, embedding)
NAMES = [
    ("vector_dims(embedding), avg(embedding), embedding::text, '[1,2]'::vector, 1+1, embedding <-> '[1,1,1]'",
     ["vector_dims", "avg", "embedding", "vector", "?column?", "?column?"]),
    ("id, t.id, coalesce(id, 2), CASE WHEN id = 1 THEN 1 END, count(*), 'a', embedding::real[], id::text",
     ["id", "id", "coalesce", "case", "count", "?column?", "embedding", "id"]),
    ("l2_distance(embedding, embedding), l2_normalize(embedding), subvector(embedding, 1, 2), embedding + embedding, "
     "embedding || embedding, sum(embedding), max(id), id::int::text, '[1,2]'::vector(2), (embedding)::text",
     ["l2_distance", "l2_normalize", "subvector", "?column?", "?column?", "sum", "max", "id", "vector", "embedding"]),
    ("upper('a'), 'a' || 'b', id AS named, ARRAY[1]::vector, CAST('[1]' AS vector), CAST(1 AS double precision), "
     "1::real, 1::numeric, '1'::varchar(3), '1'::bigint",
     ["upper", "?column?", "named", "array", "vector", "float8", "float4", "numeric", "varchar", "int8"]),
    ("embedding <#> '[1,1,1]', inner_product(embedding, embedding), cosine_distance(embedding, embedding), "
     "l1_distance(embedding, embedding), vector_norm(embedding), '[1,2]'::vector::real[]",
     ["?column?", "inner_product", "cosine_distance", "l1_distance", "vector_norm", "float4"]),
    ("'1'::int::text, CASE WHEN true THEN 1 END::text, power(2, 3), 2 ^ 3, mod(3, 2), 3 % 2, (SELECT 1 AS z), "
     "exists(SELECT 1), ARRAY[1, 2], nullif(id, 1), greatest(1, 2), trim(' a '), substring('abc', 1, 2)",
     ["text", "text", "power", "?column?", "mod", "?column?", "z", "exists", "array", "nullif", "greatest", "btrim",
      "substring"]),
    ("id IS NULL, id IN (1), id BETWEEN 1 AND 2, NOT true, NULL, 1.5, -1",
     ["?column?"] * 7),
]


@pytest.mark.parametrize("projections, names", NAMES)
def test_result_columns_are_named_as_postgresql_names_them(con, projections, names):
    cursor = con.execute(f"SELECT {projections} FROM t GROUP BY id, cat, embedding")
    assert [d[0] for d in cursor.description] == names
    assert len(cursor.fetchall()[0]) == len(names)


def test_duplicate_names_keep_every_column(con):
    cursor = con.execute("SELECT 1, 2, count(*), count(DISTINCT cat) FROM t")
    assert [d[0] for d in cursor.description] == ["?column?", "?column?", "count", "count"]
    assert cursor.fetchall() == [(1, 2, 2, 2)]


def test_duplicate_names_keep_every_column_in_arrow(con):
    assert con.execute("SELECT 1, 2").fetch_arrow_table().column(1).to_pylist() == [2]
    frame = con.execute("SELECT embedding, embedding::text, 1 AS a, 2 AS a FROM t ORDER BY id LIMIT 1").fetch_df()
    assert list(frame.columns) == ["embedding", "embedding", "a", "a"] and frame.iloc[0, 3] == 2


def test_names_reach_arrow_and_dataframes(con):
    sql = "SELECT id, vector_dims(embedding), embedding <-> '[1,1,1]', avg(embedding) FROM t GROUP BY id, embedding ORDER BY id"
    names = ["id", "vector_dims", "?column?", "avg"]
    assert con.execute(sql).fetch_arrow_table().schema.names == names
    assert list(con.execute(sql).fetch_df().columns) == names


def test_names_of_table_created_from_a_query(con):
    con.execute("CREATE TABLE c AS SELECT id, vector_dims(embedding), embedding::text FROM t")
    assert [d[0] for d in con.execute("SELECT * FROM c").description] == ["id", "vector_dims", "embedding"]


def test_a_set_operation_is_named_by_its_first_query(con):
    cursor = con.execute("SELECT vector_dims(embedding) FROM t UNION ALL SELECT 5 ORDER BY 1")
    assert [d[0] for d in cursor.description] == ["vector_dims"]
    assert cursor.fetchall() == [(3,), (3,), (5,)]


def test_index_answers_carry_the_same_names(con):
    """An unnamed distance is named `?column?` whether the index or DuckDB answers."""
    con.execute("CREATE INDEX ON t USING hnsw (embedding vector_l2_ops)")
    con.execute("SET vsql.exact_below = 0")
    sql = "SELECT id, embedding <-> ? FROM t ORDER BY embedding <-> ? LIMIT 2"
    q = np.array([1, 1, 1], np.float32)
    cursor = con.execute(sql, [q, q])
    assert [d[0] for d in cursor.description] == ["id", "?column?"]
    assert [i for i, _ in cursor.fetchall()] == [1, 2]


def test_the_rewrite_is_pure_and_names_only_the_outermost_query():
    tree = parse("SELECT vector_dims(e), x.* , (SELECT count(*) FROM u) FROM (SELECT avg(e) FROM u) x")[0]
    before = tree.sql(dialect=VSQL)
    named = pg_column_names(tree)
    assert tree.sql(dialect=VSQL) == before  # the input is left as it was
    assert [p.alias_or_name for p in named.selects] == ["vector_dims", "*", "count"]
    inner = named.args["from_"].this.this  # the derived table keeps the engine's names
    assert inner.selects[0].alias == ""
    plain = parse("SELECT id, t.cat FROM t")[0]
    assert pg_column_names(plain) is plain  # nothing to name: the same tree
