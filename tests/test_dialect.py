"""One line per case: vsql SQL -> the DuckDB SQL it becomes, and each case runs on DuckDB."""

import pytest
import sqlglot
from sqlglot import exp

import vsql
from vsql.sql import statements as st
from vsql.sql.dialect import VSQL


def duckdb_sql(con, sql, params=None):
    (compiled,) = con.session.compile(sql, params)
    return compiled.sql[-1]


# vsql round trips: what is read is written back the same.
IDENTITY = [
    "SELECT a <-> b, a <#> b, a <=> b, a <+> b FROM t",
    "SELECT * FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 5",
    "SELECT 1 - a <=> b",
    "SELECT a <-> b < 3",
    "SELECT a || b <-> c",
    "SELECT a <-> b * 2",
    "CREATE TABLE t (id BIGINT, e VECTOR(3))",
    "SELECT CAST('[1,2]' AS VECTOR(2))",
    "CREATE INDEX ON items USING hnsw(embedding vector_l2_ops) WITH (m=16, ef_construction=64)",
    "SELECT INNER_PRODUCT(a, b), VECTOR_DIMS(a), VECTOR_NORM(a), L2_NORMALIZE(a), SUBVECTOR(a, 1, 2)",
]

# PostgreSQL's precedence: user operators bind below + and -, above comparisons.
PRECEDENCE = [
    ("SELECT 1 - a <=> b", "(1 - a) <=> b"),
    ("SELECT a <=> b - 1", "a <=> (b - 1)"),
    ("SELECT a <-> b * 2", "a <-> (b * 2)"),
    ("SELECT a <-> b < 3", "(a <-> b) < 3"),
    ("SELECT a <#> b = c", "(a <#> b) = c"),
    ("SELECT a <+> b <-> c", "(a <+> b) <-> c"),
]

# vsql SQL -> DuckDB SQL over the `items` table of conftest.py.
TO_DUCKDB = [
    ("SELECT embedding <-> '[1,2,3]' FROM items", 'SELECT ARRAY_DISTANCE(embedding, CAST([1.0, 2.0, 3.0] AS REAL[3])) AS "?column?" FROM items'),
    ("SELECT embedding <#> '[1,2,3]' FROM items", 'SELECT ARRAY_NEGATIVE_INNER_PRODUCT(embedding, CAST([1.0, 2.0, 3.0] AS REAL[3])) AS "?column?" FROM items'),
    ("SELECT embedding <=> '[1,2,3]' FROM items", 'SELECT ARRAY_COSINE_DISTANCE(embedding, CAST([1.0, 2.0, 3.0] AS REAL[3])) AS "?column?" FROM items'),
    ("SELECT embedding <+> '[1,2,3]' FROM items", 'SELECT VSQL_L1_DISTANCE(embedding, CAST([1.0, 2.0, 3.0] AS REAL[3])) AS "?column?" FROM items'),
    ("SELECT l2_distance(embedding, '[1,2,3]') FROM items", 'SELECT ARRAY_DISTANCE(embedding, CAST([1.0, 2.0, 3.0] AS REAL[3])) AS "l2_distance" FROM items'),
    ("SELECT inner_product(embedding, '[1,2,3]') FROM items", 'SELECT ARRAY_INNER_PRODUCT(embedding, CAST([1.0, 2.0, 3.0] AS REAL[3])) AS "inner_product" FROM items'),
    ("SELECT cosine_distance(embedding, '[1,2,3]') FROM items", 'SELECT ARRAY_COSINE_DISTANCE(embedding, CAST([1.0, 2.0, 3.0] AS REAL[3])) AS "cosine_distance" FROM items'),
    ("SELECT vector_dims(embedding) FROM items", 'SELECT LEN(embedding) AS "vector_dims" FROM items'),
    ("SELECT vector_norm(embedding) FROM items", 'SELECT SQRT(ARRAY_INNER_PRODUCT(CAST(embedding AS DOUBLE[3]), CAST(embedding AS DOUBLE[3]))) AS "vector_norm" FROM items'),
    ("SELECT l2_normalize(embedding) FROM items", 'SELECT CAST(VSQL_L2_NORMALIZE(embedding) AS REAL[3]) AS "l2_normalize" FROM items'),
    ("SELECT subvector(embedding, 2, 2) FROM items", """SELECT CAST(CASE WHEN CASE WHEN 2 + 2 > LEN(embedding) + 1 THEN LEN(embedding) + 1 ELSE 2 + 2 END - CASE WHEN 2 < 1 THEN 1 ELSE 2 END < 1 THEN ERROR('vector must have at least 1 dimension') ELSE LIST_SLICE(embedding, CASE WHEN 2 < 1 THEN 1 ELSE 2 END, CASE WHEN 2 + 2 > LEN(embedding) + 1 THEN LEN(embedding) + 1 ELSE 2 + 2 END - 1) END AS REAL[2]) AS "subvector" FROM items"""),
    ("SELECT embedding + embedding FROM items", 'SELECT CAST(VSQL_VECTOR_ADD(embedding, embedding) AS REAL[3]) AS "?column?" FROM items'),
    ("SELECT embedding - '[1,1,1]' FROM items", 'SELECT CAST(VSQL_VECTOR_SUB(embedding, CAST([1.0, 1.0, 1.0] AS REAL[3])) AS REAL[3]) AS "?column?" FROM items'),
    ("SELECT embedding * embedding FROM items", 'SELECT CAST(VSQL_VECTOR_MUL(embedding, embedding) AS REAL[3]) AS "?column?" FROM items'),
    ("SELECT embedding || '[9]' FROM items", 'SELECT CAST(LIST_CONCAT(embedding, CAST([9.0] AS REAL[1])) AS REAL[4]) AS "?column?" FROM items'),
    ("SELECT avg(embedding) FROM items", 'SELECT CAST(VSQL_VECTOR_AVG(LIST(embedding)) AS REAL[3]) AS "avg" FROM items'),
    ("SELECT sum(embedding) FROM items", 'SELECT CAST(VSQL_VECTOR_SUM(LIST(embedding)) AS REAL[3]) AS "sum" FROM items'),
    ("SELECT embedding::text FROM items", 'SELECT VSQL_VECTOR_TEXT(embedding) AS "embedding" FROM items'),
    ("SELECT embedding::real[] FROM items", 'SELECT CAST(embedding AS REAL[]) AS "embedding" FROM items'),
    ("SELECT '[1,2.5,3]'::vector", 'SELECT CAST([1.0, 2.5, 3.0] AS REAL[3]) AS "vector"'),
    ("SELECT '[1,2,3]'::vector(3)", 'SELECT CAST([1.0, 2.0, 3.0] AS REAL[3]) AS "vector"'),
    ("SELECT ARRAY[1,-2,3]::vector", 'SELECT CAST([1.0, -2.0, 3.0] AS REAL[3]) AS "array"'),
    ("SELECT tags::vector FROM items", """SELECT CASE WHEN LEN(CAST(tags AS REAL[])) > 16000 THEN ERROR('vector cannot have more than 16000 dimensions') WHEN LEN(CAST(tags AS REAL[])) < 1 THEN ERROR('vector must have at least 1 dimension') WHEN NOT LIST_POSITION(CAST(tags AS REAL[]), NULL) IS NULL THEN ERROR('array must not contain nulls') ELSE CAST(tags AS REAL[]) END AS "tags" FROM items"""),
    ("SELECT tags::vector(3) <-> embedding FROM items", """SELECT ARRAY_DISTANCE(CASE WHEN NOT LIST_POSITION(CAST(tags AS REAL[3]), NULL) IS NULL THEN ERROR('array must not contain nulls') ELSE CAST(tags AS REAL[3]) END, embedding) AS "?column?" FROM items"""),
    ("SELECT tags::vector <-> embedding FROM items", """SELECT CASE WHEN LEN(CASE WHEN LEN(CAST(tags AS REAL[])) > 16000 THEN ERROR('vector cannot have more than 16000 dimensions') WHEN LEN(CAST(tags AS REAL[])) < 1 THEN ERROR('vector must have at least 1 dimension') WHEN NOT LIST_POSITION(CAST(tags AS REAL[]), NULL) IS NULL THEN ERROR('array must not contain nulls') ELSE CAST(tags AS REAL[]) END) <> LEN(CAST(embedding AS REAL[])) THEN ERROR('different vector dimensions ' || LEN(CASE WHEN LEN(CAST(tags AS REAL[])) > 16000 THEN ERROR('vector cannot have more than 16000 dimensions') WHEN LEN(CAST(tags AS REAL[])) < 1 THEN ERROR('vector must have at least 1 dimension') WHEN NOT LIST_POSITION(CAST(tags AS REAL[]), NULL) IS NULL THEN ERROR('array must not contain nulls') ELSE CAST(tags AS REAL[]) END) || ' and ' || LEN(CAST(embedding AS REAL[]))) ELSE LIST_DISTANCE(CASE WHEN LEN(CAST(tags AS REAL[])) > 16000 THEN ERROR('vector cannot have more than 16000 dimensions') WHEN LEN(CAST(tags AS REAL[])) < 1 THEN ERROR('vector must have at least 1 dimension') WHEN NOT LIST_POSITION(CAST(tags AS REAL[]), NULL) IS NULL THEN ERROR('array must not contain nulls') ELSE CAST(tags AS REAL[]) END, CAST(embedding AS REAL[])) END AS "?column?" FROM items"""),
    ("SELECT embedding FROM items WHERE embedding = '[1,1,1]'", 'SELECT embedding FROM items WHERE embedding = CAST([1.0, 1.0, 1.0] AS REAL[3])'),
    (
        "SELECT id FROM items ORDER BY embedding <-> '[1,1,1]' LIMIT 2",
        'SELECT id FROM items ORDER BY ARRAY_DISTANCE(embedding, CAST([1.0, 1.0, 1.0] AS REAL[3])), items."id" LIMIT 2',
    ),
    (
        "SELECT id, embedding <-> '[1,1,1]' AS d FROM items i ORDER BY d LIMIT 2",
        'SELECT id, ARRAY_DISTANCE(embedding, CAST([1.0, 1.0, 1.0] AS REAL[3])) AS d FROM items AS i ORDER BY d, i."id" LIMIT 2',
    ),
    (
        "SELECT cat, count(*) FROM items GROUP BY cat ORDER BY cat",
        'SELECT cat, COUNT(*) AS "count" FROM items GROUP BY cat ORDER BY cat',
    ),
    (
        "WITH w AS (SELECT embedding AS v FROM items) SELECT v + v FROM w",
        'WITH w AS (SELECT embedding AS v FROM items) SELECT CAST(VSQL_VECTOR_ADD(v, v) AS REAL[3]) AS "?column?" FROM w',
    ),
    (
        "SELECT q.qid, s.id FROM queries q CROSS JOIN LATERAL (SELECT id FROM items ORDER BY items.embedding <-> q.q LIMIT 1) s",
        'SELECT q.qid, s.id FROM queries AS q CROSS JOIN LATERAL (SELECT id FROM items ORDER BY ARRAY_DISTANCE(items.embedding, q.q) LIMIT 1) AS s',
    ),
    (
        "SELECT id FROM items ORDER BY embedding <-> ? LIMIT 1",
        'SELECT id FROM items ORDER BY ARRAY_DISTANCE(embedding, CAST($1 AS REAL[3])), items."id" LIMIT 1',
    ),
    ("INSERT INTO items (id, embedding) VALUES (9, '[1,2,3]')", 'INSERT INTO items (id, embedding) VALUES (9, CAST([1.0, 2.0, 3.0] AS REAL[3]))'),
    ("UPDATE items SET embedding = '[3,2,1]' WHERE id = 1", 'UPDATE items SET embedding = CAST([3.0, 2.0, 1.0] AS REAL[3]) WHERE id = 1'),
    (
        "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, e VECTOR(2))",
        'CREATE TABLE t (id BIGINT PRIMARY KEY DEFAULT NEXTVAL(\'t_id_seq\'), e REAL[2] CHECK (ISFINITE(LIST_SUM("e"))))',
    ),
    ("SELECT 1 FROM items LIMIT 1", 'SELECT 1 AS "?column?" FROM items LIMIT 1'),
    ("SELECT now()::date - 1 > '2020-01-01'", "SELECT CAST(CURRENT_TIMESTAMP AS DATE) - 1 > '2020-01-01' AS \"?column?\""),
]


@pytest.mark.parametrize("sql", IDENTITY)
def test_round_trip(sql):
    assert sqlglot.parse_one(sql, read=VSQL).sql(VSQL) == sql


def _tree(sql):
    return sqlglot.parse_one(sql, read=VSQL).transform(lambda n: n.this if isinstance(n, exp.Paren) else n)


@pytest.mark.parametrize("sql, grouped", PRECEDENCE)
def test_precedence(sql, grouped):
    assert _tree(sql) == _tree(f"SELECT {grouped}")


@pytest.mark.parametrize("sql, expected", TO_DUCKDB)
def test_to_duckdb(con, sql, expected):
    params = [[1.0, 1.0, 1.0]] if "?" in sql else None
    assert duckdb_sql(con, sql, params) == expected


@pytest.mark.parametrize("sql, expected", TO_DUCKDB)
def test_runs_on_duckdb(con, sql, expected):
    """Every one-line case also runs on the real engine, through vsql."""
    params = [[1.0, 1.0, 1.0]] if "?" in sql else None
    con.execute(sql, params)


# vsql's own statements: typed nodes (then how vsql writes them back), never raw Command text.
STATEMENTS = [
    ("CREATE VECTOR ALIAS serving FOR champ", st.CreateVectorAlias, None),
    ('ALTER VECTOR ALIAS serving SET "Chall"', st.AlterVectorAlias, None),
    ("DROP VECTOR ALIAS IF EXISTS serving", st.DropVectorAlias, None),
    ("ALTER TABLE docs ALTER COLUMN e SET MODEL 'tri'", st.SetModel, None),
    ("alter table docs alter e drop model", st.SetModel, "ALTER TABLE docs ALTER COLUMN e DROP MODEL"),
    ('REINDEX INDEX "a.v1"', st.Reindex, None),
    ("REINDEX TABLE s.items", st.Reindex, None),
    ("EXPLAIN ANALYZE SELECT 1", st.Explain, None),
    ("ABORT", exp.Rollback, "ROLLBACK"),
    ("START TRANSACTION", exp.Transaction, "BEGIN"),
    ("ALTER TABLE docs ALTER COLUMN e SET DATA TYPE INT", exp.Alter, None),  # PostgreSQL's own
    ("SELECT 1 AS abort, start, explain FROM t", exp.Select, None),  # words PostgreSQL does not reserve
]


@pytest.mark.parametrize("sql, node, written", STATEMENTS)
def test_own_statements(sql, node, written):
    tree = sqlglot.parse_one(sql, read=VSQL)
    assert type(tree) is node and tree.sql(VSQL) == (written or sql)


def test_reindex_reuses_a_token_postgres_never_emits():
    assert [word for word, token in VSQL.Tokenizer.KEYWORDS.items() if token is st.REINDEX] == ["REINDEX"]


def test_dollar_parameters_without_spaces_are_parameters():
    """sqlglot reads `$1,$2` as a dollar-quoted string tagged `1,`; PostgreSQL's tags cannot begin
    with a digit. Dollar quotes themselves still work."""
    con = vsql.connect(":memory:", autocommit=True)
    con.execute("CREATE TABLE t (a INT, b INT, c VARCHAR)")
    con.cursor().executemany("INSERT INTO t VALUES (%s,%s,%s)", [(1, 2, "x$1,$2")])
    assert con.execute("SELECT $1,$2, $$q$$, $tag$ $1,$ $tag$, c FROM t", [1, 2]).fetchall() == \
        [(1, 2, "q", " $1,$ ", "x$1,$2")]
