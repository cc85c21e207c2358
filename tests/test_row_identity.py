"""Any table can be indexed: keyed by uuid, text, two columns, a large integer or nothing, as
pgvector indexes them. Each kind goes through inserts, updates of the vector and of the key,
deletes, CHECKPOINT, reopening and a SIGKILL, and every answer is held against exact search in
NumPy over what the table holds; EXPLAIN must show that the index answered (not the engine's
scan), or the test would pass without the index."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import vsql
from oracle import distances

DIM, ROWS, K = 8, 1500, 10

# kind -> (CREATE TABLE columns, an INSERT of (n, vector) rows, an UPDATE of the key of a few rows)
KINDS = {
    "uuid": ("id UUID PRIMARY KEY DEFAULT gen_random_uuid(), n INT, embedding VECTOR(8)",
             "INSERT INTO t (n, embedding) VALUES (?, ?)",
             "UPDATE t SET id = gen_random_uuid() WHERE n % 97 = 0"),
    "text": ("id TEXT PRIMARY KEY, n INT, embedding VECTOR(8)",
             "INSERT INTO t VALUES ('doc-' || ?::TEXT, ?, ?)",
             "UPDATE t SET id = id || '-moved' WHERE n % 97 = 0"),
    "two columns": ("a INT, b TEXT, n INT, embedding VECTOR(8), PRIMARY KEY (a, b)",
                    "INSERT INTO t VALUES (? % 7, 'x' || ?::TEXT, ?, ?)",
                    "UPDATE t SET a = a + 100 WHERE n % 97 = 0"),
    "no key": ("n INT, embedding VECTOR(8)",
               "INSERT INTO t VALUES (?, ?)",
               "UPDATE t SET n = n + 1000000 WHERE n % 97 = 0"),
    "integer": ("id BIGINT PRIMARY KEY, n INT, embedding VECTOR(8)",
                "INSERT INTO t VALUES (?, ?, ?)",
                "UPDATE t SET id = id + 1000000 WHERE n % 97 = 0"),
}


def _rows(start: int, count: int, kind: str, rng) -> list[tuple]:
    vectors = rng.standard_normal((count, DIM)).astype(np.float32)
    numbers = range(start, start + count)
    if kind == "uuid" or kind == "no key":
        return [(n, v) for n, v in zip(numbers, vectors)]
    if kind == "two columns":
        return [(n, n, n, v) for n, v in zip(numbers, vectors)]
    return [(n, n, v) for n, v in zip(numbers, vectors)]


def _fill(con, kind, start, count, rng):
    con.cursor().executemany(KINDS[kind][1], _rows(start, count, kind, rng))


def check(con, queries, where=""):
    """Every answer's rows exist with their exact distance, k of them, at recall >= 0.9; and the
    index answered (the plan names an index strategy)."""
    table = con.execute(f"SELECT * EXCLUDE (embedding), embedding FROM t {where}").fetchall()
    vectors = np.stack([row[-1] for row in table])
    others = [row[:-1] for row in table]
    found = 0
    for query in queries:
        exact = distances(vectors, query, "l2")
        truth = {}
        for row, d in zip(others, exact):
            truth.setdefault(row, []).append(d)
        sql = f"SELECT * EXCLUDE (embedding), embedding <-> ? AS d FROM t {where} ORDER BY d LIMIT {K}"
        got = con.execute(sql, [query]).fetchall()
        assert len(got) == min(K, len(table))
        for row in got:
            assert row[:-1] in truth, f"{row[:-1]} is not a row of the table"
            assert min(abs(d - row[-1]) for d in truth[row[:-1]]) < 1e-4
        kth = np.sort(exact)[K - 1]
        found += sum(row[-1] <= kth + 1e-5 for row in got)
        plan = con.execute("EXPLAIN " + sql, [query]).fetchall()[0][1]
        assert "strategy: exact_sql" not in plan and "exact search on the engine" not in plan, plan
    assert found >= 0.9 * K * len(queries), found / (K * len(queries))


@pytest.mark.parametrize("kind", [kind if kind in ("uuid", "no key") else pytest.param(kind, marks=pytest.mark.slow)
                                  for kind in KINDS])  # the default run keeps one hashed key and no key
def test_an_index_on_any_table_follows_every_write(tmp_path, kind):
    rng = np.random.default_rng(7)
    path = str(tmp_path / "db.duckdb")
    con = vsql.connect(path, autocommit=True)
    con.execute(f"CREATE TABLE t ({KINDS[kind][0]})")
    _fill(con, kind, 0, ROWS, rng)
    con.execute("CREATE INDEX ON t USING hnsw (embedding vector_l2_ops)")
    stored = con.execute("SELECT key_column FROM vsql.indexes").fetchone()[0]
    assert (stored == "id") == (kind == "integer"), stored  # only an integer key is used as it is
    con.execute("SET vsql.exact_below = 0")
    queries = rng.standard_normal((5, DIM)).astype(np.float32)
    check(con, queries)
    check(con, queries, "WHERE n % 3 = 0")

    _fill(con, kind, ROWS, 200, rng)  # inserts
    con.execute("UPDATE t SET embedding = ? WHERE n % 50 = 1", [queries[0] + 0.01])  # vectors move near a query
    con.execute(KINDS[kind][2])  # keys change
    con.execute("DELETE FROM t WHERE n % 11 = 0")
    check(con, queries)
    con.execute("CHECKPOINT")
    check(con, queries)
    con.close()

    con = vsql.connect(path, autocommit=True)
    con.execute("SET vsql.exact_below = 0")
    check(con, queries)
    con.execute("BEGIN")  # a transaction's own writes, seen by its searches only
    _fill(con, kind, 10_000, 50, rng)
    con.execute("DELETE FROM t WHERE n % 13 = 0")
    check(con, queries)
    con.execute("ROLLBACK")
    check(con, queries)
    con.close()

    script = (f"import numpy as np, os, signal, vsql\ncon = vsql.connect({path!r}, autocommit=True)\n"
              "con.execute('SET vsql.exact_below = 0')\n"
              f"con.execute('SELECT 1 FROM t ORDER BY embedding <-> ? LIMIT 1', [np.zeros({DIM}, np.float32)])\n"
              f"con.execute('DELETE FROM t WHERE n % 7 = 0')\n"
              f"con.execute('UPDATE t SET embedding = ? WHERE n % 5 = 0', [np.ones({DIM}, np.float32)])\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    con = vsql.connect(path, autocommit=True)
    con.execute("SET vsql.exact_below = 0")
    check(con, np.vstack([queries, np.ones((1, DIM), np.float32)]))
    con.close()


def test_identical_rows_of_a_table_without_a_key_each_come_back(tmp_path):
    """Identical rows share the index's key: each of them is still a row of the answer, through
    the plain search, a filtered one and a LATERAL batch."""
    con = vsql.connect(str(tmp_path / "db.duckdb"), autocommit=True)
    con.execute("CREATE TABLE t (n INT, embedding VECTOR(2))")
    con.cursor().executemany("INSERT INTO t VALUES (?, ?)",
                             [(i, np.array([i, 0], np.float32)) for i in range(2000)])
    con.execute("INSERT INTO t SELECT * FROM t WHERE n < 3")  # rows 0, 1 and 2 twice
    con.execute("CREATE INDEX ON t USING hnsw (embedding vector_l2_ops)")
    con.execute("SET vsql.exact_below = 0")
    near = "SELECT n FROM t {} ORDER BY embedding <-> '[0,0]' LIMIT 5"
    assert [r[0] for r in con.execute(near.format("")).fetchall()] == [0, 0, 1, 1, 2]
    assert [r[0] for r in con.execute(near.format("WHERE n > 0")).fetchall()] == [1, 1, 2, 2, 3]
    batch = con.execute("SELECT q.i, n FROM (VALUES (1, '[0,0]'::vector(2)), (2, '[2.1,0]'::vector(2))) q(i, v), "
                        "LATERAL (SELECT n FROM t ORDER BY embedding <-> q.v LIMIT 3) ORDER BY q.i, n").fetchall()
    assert batch == [(1, 0), (1, 0), (1, 1), (2, 2), (2, 2), (2, 3)]
    con.execute("DELETE FROM t WHERE n = 1")  # both copies
    con.execute("INSERT INTO t VALUES (0, '[0,0]')")  # a third copy
    assert [r[0] for r in con.execute(near.format("")).fetchall()] == [0, 0, 0, 2, 2]


def test_an_index_changes_nothing_a_user_sees_of_the_table(tmp_path):
    """No hidden column: SELECT *, DESCRIBE, information_schema and positional INSERT are as
    without the index."""
    con = vsql.connect(str(tmp_path / "db.duckdb"), autocommit=True)
    con.execute("CREATE TABLE t (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), body TEXT, embedding VECTOR(2))")
    con.execute("INSERT INTO t (body, embedding) VALUES ('a', '[1,2]')")
    looks = lambda: (con.execute("SELECT * EXCLUDE (id, embedding), embedding::text FROM t").fetchall(),  # noqa: E731
                     [d[0] for d in con.execute("SELECT * FROM t").description],
                     con.execute("DESCRIBE t").fetchall(),
                     con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_name = 't' ORDER BY ordinal_position").fetchall())
    near = ["SELECT id, body, embedding <=> '[1,2]' AS d FROM t ORDER BY d LIMIT 1",
            "SELECT id, embedding FROM t ORDER BY embedding <=> '[1,2]' LIMIT 1"]
    answers = lambda: [(str(con.execute(sql).fetchall()), con.execute(sql).description,  # noqa: E731
                        con.execute(sql).fetch_arrow_table().schema) for sql in near]
    before, searched = looks(), answers()
    con.execute("CREATE INDEX ON t USING hnsw (embedding vector_cosine_ops)")
    con.execute("SET vsql.exact_below = 0")
    assert looks() == before
    assert answers() == searched  # a UUID stays a UUID, its type UUID, from the index's path too
    assert all("index: t_embedding_idx" in con.execute("EXPLAIN " + sql).fetchall()[0][1] for sql in near)
    con.execute("INSERT INTO t VALUES (gen_random_uuid(), 'b', '[3,4]')")
    assert con.execute("SELECT body FROM t ORDER BY embedding <=> '[3,4.1]' LIMIT 1").fetchall() == [("b",)]


def test_a_partial_index_serves_the_queries_its_where_implies(tmp_path):
    """`CREATE INDEX ... WHERE cat = 1` holds the rows with cat 1, as they come and go through
    updates, deletes and reopening; a query whose filter implies it uses it, any other query
    searches the table."""
    rng = np.random.default_rng(3)
    path = str(tmp_path / "db.duckdb")
    con = vsql.connect(path, autocommit=True)
    con.execute("CREATE TABLE t (n INT, cat INT, embedding VECTOR(8))")
    con.cursor().executemany("INSERT INTO t VALUES (?, ?, ?)",
                             [(i, i % 4, v) for i, v in enumerate(rng.standard_normal((ROWS, DIM)).astype(np.float32))])
    con.execute("CREATE INDEX ON t USING hnsw (embedding vector_l2_ops) WHERE cat = 1")
    assert con.execute("SELECT rows FROM vsql.indexes").fetchone() == (ROWS // 4,)
    con.execute("SET vsql.exact_below = 0")
    queries = rng.standard_normal((4, DIM)).astype(np.float32)
    check(con, queries, "WHERE cat = 1")
    check(con, queries, "WHERE n > 100 AND t.cat = 1")
    con.execute("UPDATE t SET cat = 1 WHERE n % 4 = 2 AND n < 400")  # rows come in
    con.execute("UPDATE t SET cat = 0 WHERE cat = 1 AND n % 3 = 0")  # and leave
    con.execute("DELETE FROM t WHERE n % 5 = 0")
    check(con, queries, "WHERE cat = 1")
    con.close()
    con = vsql.connect(path, autocommit=True)
    con.execute("SET vsql.exact_below = 0")
    check(con, queries, "WHERE cat = 1")
    for other in ("", "WHERE cat = 2", "WHERE cat IN (1)", "WHERE cat = 1 OR n = 3"):
        plan = con.execute(f"EXPLAIN SELECT n FROM t {other} ORDER BY embedding <-> ? LIMIT 3", [queries[0]]).fetchall()
        assert "exact search on the engine: no vsql index on t.embedding for <-> whose WHERE" in plan[0][1], plan
    with pytest.raises(vsql.ProgrammingError, match="only the table's own columns"):
        con.execute("CREATE INDEX ON t USING hnsw (embedding vector_l2_ops) WHERE cat IN (SELECT 1)")


@pytest.mark.parametrize("key", ["id BIGINT PRIMARY KEY", "id UUID PRIMARY KEY DEFAULT gen_random_uuid()", "id INT"])
def test_an_index_survives_alter_table_of_its_key_columns(tmp_path, key):
    """Renaming or dropping the columns an index names its rows by names them anew, rebuilt in
    place: the index stays and answers, before and after reopening."""
    path = str(tmp_path / "db.duckdb")
    con = vsql.connect(path, autocommit=True)
    con.execute(f"CREATE TABLE t ({key}, n INT, extra TEXT, embedding VECTOR(2))")
    if "UUID" in key:
        con.execute("INSERT INTO t (n, embedding) SELECT i, [i, 0]::vector(2) FROM range(100) r(i)")
    else:
        con.execute("INSERT INTO t (id, n, embedding) SELECT i, i, [i, 0]::vector(2) FROM range(100) r(i)")
    con.execute("CREATE INDEX ON t USING hnsw (embedding vector_l2_ops)")
    con.execute("ALTER TABLE t RENAME COLUMN id TO ident")
    con.execute("ALTER TABLE t ADD COLUMN later INT DEFAULT 7")
    if "PRIMARY" not in key:
        con.execute("ALTER TABLE t DROP COLUMN extra")
    con.execute("SET vsql.exact_below = 0")
    nearest = "SELECT n FROM t ORDER BY embedding <-> '[41.2, 0]' LIMIT 3"
    for _ in range(2):
        assert con.execute(nearest).fetchall() == [(41,), (42,), (40,)]
        plan = con.execute("EXPLAIN " + nearest).fetchall()[0][1]
        assert "index: t_embedding_idx" in plan and "exact search on the engine" not in plan, plan
        con.close()
        con = vsql.connect(path, autocommit=True)
        con.execute("SET vsql.exact_below = 0")


def test_a_script_creates_a_table_and_indexes_it_in_one_go():
    """The README's notebook cell: statements after CREATE TABLE are planned once it has run."""
    con = vsql.connect()
    con.execute("CREATE TABLE items (id INT, embedding VECTOR(3)); "
                "CREATE INDEX ON items USING hnsw (embedding vector_l2_ops); "
                "INSERT INTO items VALUES (1, '[1,2,3]'), (2, '[4,5,6]'), (3, '[1,1,1]')")
    con.execute("SET vsql.exact_below = 0")
    sql = "SELECT id FROM items ORDER BY embedding <-> '[3,1,2]' LIMIT 2"
    assert con.execute(sql).fetchall() == [(3,), (1,)]
    assert "index: items_embedding_idx" in con.execute("EXPLAIN " + sql).fetchall()[0][1]
