"""The Spark engine (issue 17, first slice): the same vsql SQL on Spark local[2] as on DuckDB.

Slow (one Spark session for the whole run, started once, ~10 s; each statement is a Spark job):
`pytest -m slow tests/test_spark.py`. Skipped without pyspark (`pip install -e '.[spark]'`) or Java.
"""

from __future__ import annotations

import importlib.util
import random
import shutil

import numpy as np
import pyarrow as pa
import pytest

import vsql

# Looked up, not imported: the default run (which deselects slow tests) collects this module too.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None,
                       reason="the Spark engine needs pyspark: pip install -c constraints.txt -e '.[spark]'"),
    pytest.mark.skipif(shutil.which("java") is None, reason="the Spark engine needs Java 17 (openjdk-17-jre-headless)"),
]

DIM = 8
ROWS = 60
OPERATORS = ["<->", "<#>", "<=>", "<+>"]


@pytest.fixture(scope="session")
def spark_con():
    """One local[2] Spark session for the run, through vsql's own connect."""
    connection = vsql.connect("spark://local[2]", config={"spark.sql.shuffle.partitions": "2"})
    yield connection
    connection.close()


def _vector(rng: np.random.Generator) -> str:
    return "[" + ",".join(f"{v:.4f}" for v in rng.uniform(-1, 1, DIM)) + "]"


def _setup(rng: np.random.Generator) -> list[tuple[str, list | None]]:
    """DDL and writes: literals, bound NumPy parameters, INSERT ... SELECT (which makes exact ties)."""
    rows = ", ".join(f"({i}, '{'abc'[i % 3]}', {i * 0.5}, '{_vector(rng)}')" for i in range(1, ROWS + 1))
    statements = [
        (f"CREATE TABLE items (id BIGINT PRIMARY KEY, category TEXT, price DOUBLE, embedding VECTOR({DIM}))", None),
        (f"CREATE TABLE queries (qid INT PRIMARY KEY, q VECTOR({DIM}))", None),
        (f"INSERT INTO items VALUES {rows}", None),
        ("INSERT INTO items (id, category, price, embedding) VALUES (%s, %s, %s, %s)",
         [ROWS + 1, "a", 7.25, rng.uniform(-1, 1, DIM).astype(np.float32)]),
        ("INSERT INTO items (id, category, price, embedding) SELECT id + 1000, 'd', price, embedding FROM items "
         "WHERE id % 7 = 0", None),
        ("INSERT INTO queries VALUES " + ", ".join(f"({q}, '{_vector(rng)}')" for q in range(1, 4)), None),
        ("INSERT INTO items (id, category, price) VALUES (0, 'a', 1.5)", None),  # no vector: its distance is NULL
    ]
    return statements


WRITTEN = [
    ("SELECT count(*), count(DISTINCT category), sum(price) FROM items", None),
    ("SELECT id, category, price, embedding FROM items ORDER BY id", None),
    ("SELECT id, embedding <-> '[1,0,0,0,0,0,0,1]' AS d FROM items ORDER BY d LIMIT 5", None),
    ("SELECT id, embedding <#> '[1,0,0,0,0,0,0,1]' FROM items "
     "ORDER BY embedding <#> '[1,0,0,0,0,0,0,1]' LIMIT 5", None),
    ("SELECT id, embedding <=> '[1,0,0,0,0,0,0,1]' AS d FROM items WHERE category = 'b' ORDER BY d LIMIT 4", None),
    ("SELECT id, embedding <+> '[1,0,0,0,0,0,0,1]' AS d FROM items WHERE price > 10 ORDER BY d LIMIT 6", None),
    ("SELECT id, l2_distance(embedding, '[0,1,0,1,0,1,0,1]'), inner_product(embedding, '[0,1,0,1,0,1,0,1]'), "
     "cosine_distance(embedding, '[0,1,0,1,0,1,0,1]'), l1_distance(embedding, '[0,1,0,1,0,1,0,1]') "
     "FROM items ORDER BY id", None),
    ("SELECT id, vector_dims(embedding), vector_norm(embedding), l2_normalize(embedding) FROM items ORDER BY id", None),
    ("SELECT category, avg(embedding), sum(embedding) FROM items GROUP BY category ORDER BY category", None),
    ("SELECT vector_dims('[1,2,3]'::vector), '[1,2]'::vector <-> '[4,6]'::vector", None),
    ("SELECT id, embedding + embedding, embedding - embedding, embedding * embedding, embedding || embedding "
     "FROM items WHERE id BETWEEN 1 AND 3 ORDER BY id", None),  # vsql on DuckDB fails NULL || NULL (README)
    # exact ties (the copies of INSERT ... SELECT): broken by the table's key on both engines
    ("SELECT id FROM items WHERE id % 7 = 0 ORDER BY embedding <-> '[1,0,0,0,0,0,0,1]' LIMIT 6", None),
    # joins: the query vectors from a table
    ("SELECT q.qid, i.id, i.embedding <-> q.q AS d FROM queries q JOIN items i ON i.category = 'a' "
     "WHERE q.qid = 2 ORDER BY d, i.id LIMIT 5", None),
    ("SELECT q.qid, count(*) FROM queries q JOIN items i ON i.embedding <=> q.q < 1 "
     "GROUP BY q.qid ORDER BY q.qid", None),
    ("SELECT id, embedding <-> %s AS d FROM items ORDER BY d LIMIT 3", [np.full(DIM, 0.25, np.float32)]),
    # a NULL vector's distance is NULL: last
    ("SELECT id, embedding <-> '[1,0,0,0,0,0,0,1]' AS d FROM items WHERE price < 2 ORDER BY d LIMIT 5", None),
    # LATERAL: Spark's NEAREST join (the 'd' copies, exact ties DuckDB leaves to chance there, filtered out)
    ("SELECT q.qid, n.id, n.d FROM queries q CROSS JOIN LATERAL (SELECT id, embedding <-> q.q AS d FROM items "
     "WHERE category <> 'd' ORDER BY d LIMIT 4) n ORDER BY q.qid, n.d", None),
    ("SELECT q.qid, n.item FROM queries q LEFT JOIN LATERAL (SELECT i.id AS item FROM items i WHERE i.price > 25 "
     "AND i.category <> 'd' ORDER BY i.embedding <=> q.q LIMIT 2) n ON true ORDER BY 1, 2", None),
    ("SELECT q.qid, n.item FROM queries q LEFT JOIN LATERAL (SELECT id AS item FROM items WHERE price > 1000 "
     "ORDER BY embedding <=> q.q LIMIT 2) n ON true ORDER BY 1", None),  # nothing matches: NULLs
    ("SELECT q.qid, count(*), min(n.d) FROM queries q, LATERAL (SELECT embedding <#> q.q AS d FROM items "
     "WHERE category <> 'd' ORDER BY d LIMIT 5) n GROUP BY q.qid ORDER BY 1", None),
]


def _generated(seed: int, count: int) -> list[tuple[str, list | None]]:
    """k-NN with random query vectors, k, filter thresholds and metrics, bound or literal."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    cases = []
    for _ in range(count):
        operator, k, threshold = pick.choice(OPERATORS), pick.randint(1, 12), round(pick.uniform(2, 28), 2)
        query = rng.uniform(-1, 1, DIM).astype(np.float32)
        where = pick.choice(["", f"WHERE price < {threshold}", f"WHERE price >= {threshold} AND category <> 'c'"])
        if pick.random() < 0.5:
            cases.append((f"SELECT id, embedding {operator} %s AS d FROM items {where} ORDER BY d LIMIT {k}", [query]))
        else:
            literal = "[" + ",".join(repr(float(v)) for v in query) + "]"
            cases.append((f"SELECT id, category FROM items {where} ORDER BY embedding {operator} '{literal}' LIMIT {k}",
                          None))
    for _ in range(count // 4):
        operator, k, threshold = pick.choice(OPERATORS), pick.randint(1, 8), round(pick.uniform(2, 28), 2)
        cases.append((f"SELECT q.qid, n.id, n.d FROM queries q CROSS JOIN LATERAL (SELECT id, embedding {operator} q.q "
                      f"AS d FROM items WHERE price < {threshold} AND category <> 'd' ORDER BY d LIMIT {k}) n "
                      "ORDER BY q.qid, n.d, n.id", None))
    return cases


def _plain(value):
    if isinstance(value, np.ndarray):
        return tuple(float(v) for v in value)
    return value


def _same(left: list[tuple], right: list[tuple], sql: str) -> None:
    assert len(left) == len(right), sql
    for a, b in zip(left, right):
        a, b = tuple(map(_plain, a)), tuple(map(_plain, b))
        assert len(a) == len(b), sql
        for x, y in zip(a, b):
            if isinstance(x, tuple) and isinstance(y, tuple):
                assert x == pytest.approx(y, rel=1e-5, abs=1e-6), sql
            elif isinstance(x, float) or isinstance(y, float):
                assert x == pytest.approx(y, rel=1e-5, abs=1e-6), sql
            else:
                assert x == y, sql


def _run(con, statements) -> list:
    results = []
    for sql, params in statements:
        cursor = con.execute(sql, params)
        results.append(cursor.fetchall() if cursor.description else cursor.rowcount)
    return results


@pytest.fixture
def pair(spark_con):
    duck = vsql.connect(":memory:", autocommit=True)
    yield duck, spark_con
    duck.close()
    for table in ("items", "queries"):
        spark_con.execute(f"DROP TABLE IF EXISTS {table}")


def test_engines_are_the_ones_named(pair):
    from vsql.engine.duckdb import DuckDBEngine
    from vsql.engine.spark import SparkEngine

    duck, spark = pair
    assert type(duck.session.engine) is DuckDBEngine
    assert type(spark.session.engine) is SparkEngine
    assert spark.autocommit  # Spark has no transactions: every statement commits as it runs


def test_same_rows_as_duckdb(pair):
    duck, spark = pair
    statements = _setup(np.random.default_rng(17)) + WRITTEN + _generated(seed=170, count=24)
    duck_results, spark_results = _run(duck, statements), _run(spark, statements)
    for (sql, _), a, b in zip(statements, duck_results, spark_results):
        if isinstance(a, list):
            assert a, sql  # every query finds rows: an empty answer would prove nothing
            _same(a, b, sql)
        else:
            assert a == b, sql  # INSERT's count of rows, DDL's -1


def test_catalog_reads_back_dimensions_and_key(pair):
    _, spark = pair
    spark.execute("CREATE TABLE items (id BIGINT PRIMARY KEY, embedding VECTOR(3), loose VECTOR)")
    info = spark.session.catalog.table("items")
    assert info.dims == {"embedding": 3} and info.unsized == frozenset({"loose"})
    assert info.key == ("id",)
    spark.execute("CREATE TABLE queries AS SELECT id AS qid, embedding AS q, embedding + embedding AS twice FROM items")
    assert spark.session.catalog.table("queries").dims == {"q": 3, "twice": 3}


def test_writes_are_checked(pair):
    _, spark = pair
    spark.execute("CREATE TABLE items (id BIGINT PRIMARY KEY, embedding VECTOR(3))")
    spark.execute("INSERT INTO items VALUES (1, '[1,2,3]')")
    with pytest.raises(vsql.VectorError, match=r"^expected 3 dimensions, not 2$"):
        spark.execute("INSERT INTO items VALUES (2, '[1,2]')")
    with pytest.raises(vsql.VectorError, match=r"^expected 3 dimensions, not 2$"):
        spark.execute("INSERT INTO items VALUES (%s, %s)", [2, np.array([1, 2], np.float32)])
    with pytest.raises(vsql.VectorError, match=r"^expected 3 dimensions, not 2$"):  # found by Spark, at run time
        spark.execute("INSERT INTO items SELECT id + 1, ARRAY[1, 2]::real[]::vector FROM items")
    with pytest.raises(vsql.VectorError, match="^array must not contain nulls$"):
        spark.execute("INSERT INTO items SELECT id + 1, ARRAY[1, NULL, 3]::real[]::vector FROM items")
    with pytest.raises(vsql.VectorError, match="^NaN or infinite value not allowed in vector$"):
        spark.execute("INSERT INTO items SELECT id + 1, ARRAY[1, 'NaN'::real, 3]::vector FROM items")
    with pytest.raises(vsql.IntegrityError, match='null value in column "id"'):
        spark.execute("INSERT INTO items (embedding) VALUES ('[1,2,3]')")
    with pytest.raises(vsql.VectorError, match="different vector dimensions 3 and 2"):
        spark.execute("SELECT embedding <-> '[1,2]'::vector FROM items")
    assert spark.execute("SELECT count(*) FROM items").fetchall() == [(1,)]  # nothing of the failures was written
    cursor = spark.cursor()
    cursor.executemany("INSERT INTO items VALUES (?, ?)", [(2, np.ones(3, np.float32)), (3, [0.5, 0.5, 0.5])])
    assert cursor.rowcount == 2
    loaded = pa.table({"id": [4], "embedding": pa.array([[0, 0, 0.25]], pa.list_(pa.float32(), 3))})
    assert spark.load("items", loaded) == 1
    nearest = spark.execute("SELECT id FROM items ORDER BY embedding <-> '[0,0,0]' LIMIT 3").fetchall()
    assert nearest == [(4,), (3,), (2,)]


@pytest.mark.parametrize("sql, reason", [
    ("BEGIN", "Spark has no transactions"),
    ("COMMIT", "Spark has no transactions"),
    ("ROLLBACK", "a statement's writes cannot be undone"),
    ("UPDATE items SET embedding = '[1,1,1]'", "cannot update rows in place"),
    ("DELETE FROM items WHERE id = 1", "cannot delete rows"),
    ("CREATE INDEX ON items USING hnsw (embedding vector_l2_ops) WHERE id > 1", "partial and expression indexes"),
    ("CREATE INDEX ON items (id)", "CREATE INDEX"),
    ("CREATE TABLE counters (id BIGSERIAL PRIMARY KEY)", "Spark has no sequences"),
    ("INSERT INTO items VALUES (1, '[1,2,3]') ON CONFLICT DO NOTHING", "ON CONFLICT"),
    ("SELECT n.id FROM items q CROSS JOIN LATERAL (SELECT id FROM items WHERE id <> q.id ORDER BY embedding <-> "
     "q.embedding LIMIT 2) n", "Spark's NEAREST cannot filter by the outer row"),
])
def test_unsupported_statements_say_why(pair, sql, reason):
    _, spark = pair
    spark.execute("CREATE TABLE items (id BIGINT PRIMARY KEY, embedding VECTOR(3))")
    with pytest.raises(vsql.NotSupportedError, match=reason) as raised:
        spark.execute(sql)
    assert "org.apache" not in str(raised.value) and "\tat " not in str(raised.value)  # no Java trace


def test_wraps_an_existing_session(pair):
    _, spark = pair
    spark.execute("CREATE TABLE items (id BIGINT PRIMARY KEY, embedding VECTOR(2))")
    spark.execute("INSERT INTO items VALUES (1, '[0,1]'), (2, '[1,0]')")
    wrapped = vsql.connect(spark=spark.session.engine.spark)
    assert type(wrapped.session.engine) is type(spark.session.engine)
    assert type(wrapped.session.engine).__name__ == "SparkEngine"
    rows = wrapped.execute("SELECT id, embedding FROM items ORDER BY embedding <-> '[1,0.1]' LIMIT 1").fetchall()
    assert rows[0][0] == 2 and rows[0][1].dtype == np.float32 and rows[0][1].tolist() == [1.0, 0.0]
    wrapped.close()  # a wrapped session is the caller's: closing vsql's connection leaves it running
    assert spark.execute("SELECT count(*) FROM items").fetchall() == [(2,)]


def test_spark_errors_are_dbapi_errors(pair):
    _, spark = pair
    with pytest.raises(vsql.ProgrammingError, match='relation "nowhere" does not exist'):
        spark.execute("SELECT * FROM nowhere")
    # a data file damaged behind Spark's back: a DB-API error naming the problem, not a Java trace
    spark.execute("CREATE TABLE items (id BIGINT PRIMARY KEY, embedding VECTOR(2))")
    spark.execute("INSERT INTO items VALUES (1, '[0,1]'), (2, '[1,0]')")
    engine = spark.session.engine
    (damaged, *_) = [f.removeprefix("file:") for f in engine.spark.table("items").inputFiles()]
    with open(damaged, "wb") as handle:
        handle.write(b"not a parquet file")
    engine.spark.catalog.refreshTable("items")
    with pytest.raises(vsql.Error) as raised:
        spark.execute("SELECT id FROM items ORDER BY embedding <-> '[1,1]' LIMIT 1").fetchall()
    assert type(raised.value) is not vsql.InternalError and isinstance(raised.value, vsql.DatabaseError)
    message = str(raised.value)
    assert "\tat " not in message and "\n" not in message and "org.apache" not in message, message
    assert "part-" in message or "parquet" in message.lower(), message  # names the file (or its format)
