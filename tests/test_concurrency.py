"""Concurrency: cursors and threads on one connection, several connections to one file in one
process (which share their in-memory indexes), readers while writers commit and indexes build,
and a second process, which gets DuckDB's lock error rather than a corrupt index."""

import shutil
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import vsql
from oracle import check_search, knn
from test_ann import DIM, N, clustered, make_items
from vsql.index import store as indexes

FAR = np.full(DIM, 90, np.float32)
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    file = tmp_path_factory.mktemp("template") / "c.duckdb"
    con = vsql.connect(file, autocommit=True)
    vectors, _, _ = make_items(con)
    con.execute("CREATE INDEX hnsw_l2 ON items USING hnsw (embedding vector_l2_ops)")
    con.close()
    return file, vectors


@pytest.fixture
def path(template, tmp_path):
    """A database file with an HNSW index (a copy of the template), and its vectors."""
    source, vectors = template
    file = tmp_path / "c.duckdb"
    shutil.copy(source, file)
    shutil.copytree(source.parent / "c.duckdb.vsql", tmp_path / "c.duckdb.vsql")
    return file, vectors


def nearest(con, query, k=1, index_only=False):
    sql = ("SELECT id, embedding <-> ? AS d FROM items ORDER BY d LIMIT {}" if index_only
           else "SELECT id FROM items ORDER BY embedding <-> ? LIMIT {}")
    return [row[0] for row in con.execute(sql.format(k), [query]).fetchall()]


def run_threads(*targets):
    """Run the targets in threads; re-raise the first failure."""
    errors = []

    def guarded(target):
        try:
            target()
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    assert not [t for t in threads if t.is_alive()], "a thread hung"
    if errors:
        raise errors[0]


def test_cursors_of_one_connection_keep_their_own_results(con):
    first, second = con.cursor(), con.cursor()
    first.execute("SELECT id FROM items ORDER BY id")
    second.execute("SELECT id, embedding <-> '[1,2,3]' AS d FROM items ORDER BY d LIMIT 2")
    assert first.fetchone() == (1,)
    con.execute("INSERT INTO items (id, embedding) VALUES (9, '[9,9,9]')")  # a third cursor writes
    assert second.fetchall() == [(1, 0.0), (3, pytest.approx(2.236068))]
    assert first.fetchall() == [(2,), (3,), (4,)]  # the rows as they were when it ran


def test_threads_sharing_one_autocommit_connection(path):
    """Statements from several threads on one connection are serialized by the session: each
    thread's reads are right and all its writes land. (Transactions are the connection's, so a
    connection with open transactions is not for sharing: threadsafety 1.)"""
    file, vectors = path
    con = vsql.connect(file, autocommit=True)
    con.execute("SET vsql.exact_below = 0")

    def reader(seed):
        def read():
            for i in np.random.default_rng(seed).integers(0, N, 40):
                assert nearest(con, vectors[i]) == [i]
                assert nearest(con, vectors[i], index_only=True) == [i]
        return read

    def writer(start):
        def write():
            for i in range(start, start + 30):
                con.execute("INSERT INTO items (id, embedding) VALUES (?, ?)", [i, FAR + i])
        return write

    run_threads(reader(1), reader(2), writer(100000), writer(200000))
    for i in (100000, 100029, 200000, 200029):
        assert nearest(con, FAR + i) == [i] and nearest(con, FAR + i, index_only=True) == [i]
    con.close()


def test_several_connections_in_one_process_share_the_index(path):
    file, vectors = path
    a, b = vsql.connect(file, autocommit=True), vsql.connect(file)
    for con in (a, b):
        con.execute("SET vsql.exact_below = 0")
    assert nearest(b, vectors[5]) == [5]
    b.commit()
    a.execute("INSERT INTO items (id, embedding) VALUES (100000, ?)", [FAR])
    a.execute("DELETE FROM items WHERE id = 5")
    assert nearest(b, FAR, index_only=True) == [100000]  # b's new transaction sees a's commits
    assert 5 not in nearest(b, vectors[5], k=3, index_only=True)
    b.execute("INSERT INTO items (id, embedding) VALUES (100001, ?)", [-FAR])
    assert nearest(a, -FAR) != [100001]  # not committed: a does not see it, nor does the index
    b.commit()
    assert nearest(a, -FAR) == [100001] and nearest(a, -FAR, index_only=True) == [100001]
    a.close()
    b.close()


@pytest.mark.parametrize("write", ["insert", "delete", "update"])
def test_the_window_between_a_commit_and_the_index_learning_it(path, monkeypatch, write):
    """Connection A has committed in DuckDB but has not yet applied the write to the index the
    connections share; connection B searches in that window. B sees A's commit in the table, so
    the index must not answer from its older state: a deleted row must not come back, an
    inserted or moved one must not be missed."""
    file, vectors = path
    a, b = vsql.connect(file, autocommit=True), vsql.connect(file, autocommit=True)
    b.execute("SET vsql.exact_below = 0")
    assert nearest(b, vectors[5]) == [5]  # the index is loaded and shared
    in_window, release = threading.Event(), threading.Event()
    real_apply = indexes.IndexManager.apply

    def paused_apply(self, spec, keys):
        in_window.set()
        release.wait(30)
        real_apply(self, spec, keys)

    monkeypatch.setattr(indexes.IndexManager, "apply", paused_apply)
    statement, params, query, expected = {
        "insert": ("INSERT INTO items (id, embedding) VALUES (100000, ?)", [FAR], FAR, 100000),
        "delete": ("DELETE FROM items WHERE id = 5", None, vectors[5], knn(vectors, vectors[5], "l2", 2)[0][1]),
        "update": ("UPDATE items SET embedding = ? WHERE id = 5", [FAR], FAR, 5),
    }[write]
    writer = threading.Thread(target=a.execute, args=(statement, params))
    writer.start()
    try:
        assert in_window.wait(30)
        assert b.execute("SELECT count(*) FROM items WHERE id = 100000 OR (id = 5 AND embedding = ?)",
                         [FAR]).fetchone()[0] == (0 if write == "delete" else 1)  # B sees the commit
        assert nearest(b, query) == [expected]
        assert nearest(b, query, index_only=True) == [expected]
    finally:
        release.set()
        writer.join(30)
    assert nearest(b, query) == [expected] and nearest(b, query, index_only=True) == [expected]
    a.close()
    b.close()


@pytest.mark.parametrize("writes", [120, pytest.param(600, marks=pytest.mark.slow)])
def test_readers_while_writers_commit_and_the_index_rebuilds(path, writes):
    """Readers on their own connections search while one connection inserts, deletes and updates
    and another rebuilds the index. Every answer is right for the rows at hand, no one errs, and
    in the end the index holds every committed write."""
    file, vectors = path
    extra = clustered(N + writes)[0][N:]
    stop = threading.Event()

    def reader(seed):
        def read():
            con = vsql.connect(file, autocommit=True)
            con.execute("SET vsql.exact_below = 0")
            rng = np.random.default_rng(seed)
            while not stop.is_set():
                i = int(rng.integers(1000, N))  # rows the writer leaves alone
                assert nearest(con, vectors[i]) == [i]
                assert nearest(con, vectors[i], index_only=True) == [i]
            con.close()
        return read

    def writer():
        con = vsql.connect(file, autocommit=True)
        try:
            for step, vector in enumerate(extra):
                con.execute("INSERT INTO items (id, embedding) VALUES (?, ?)", [100000 + step, vector])
                if step % 3 == 0:
                    con.execute("DELETE FROM items WHERE id = ?", [step])
                if step % 5 == 0:
                    con.execute("UPDATE items SET embedding = ? WHERE id = ?", [vector + 1, 250 + step // 5])
        finally:
            stop.set()
            con.close()

    def rebuilder():
        con = vsql.connect(file, autocommit=True)
        while not stop.is_set():
            try:
                con.execute("REINDEX INDEX hnsw_l2")
            except vsql.OperationalError as error:
                # both writing the catalog's row of the index (the writer closing): DuckDB refuses
                # one of the two transactions, which rolls back whole; the other's index stands
                assert "Conflict" in str(error)
        con.close()

    run_threads(reader(1), reader(2), writer, rebuilder)
    con = vsql.connect(file, autocommit=True)
    check_search(con, [*extra[::20], *vectors[::300]], k=10, min_recall=0.9)
    for step in range(0, len(extra), 7):  # every insert is found through the index
        assert nearest(con, extra[step], index_only=True) == [100000 + step]
        assert nearest(con, extra[step]) == [100000 + step]
    con.close()


SECOND_PROCESS = textwrap.dedent("""
    import sys, numpy as np, vsql
    try:
        con = vsql.connect(sys.argv[1], read_only=sys.argv[2] == "ro", autocommit=True)
    except vsql.Error as error:
        print(type(error).__name__, error)
        sys.exit(0)
    con.execute("SET vsql.exact_below = 0")
    print("opened", con.execute("SELECT id FROM items ORDER BY embedding <-> ? LIMIT 1",
                                [np.full(16, 90, np.float32)]).fetchall())
""")


def second_process(file, mode):
    done = subprocess.run([sys.executable, "-c", SECOND_PROCESS, str(file), mode],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_a_second_process_gets_a_clear_lock_error(path, mode):
    file, _ = path
    con = vsql.connect(file, autocommit=True)
    con.execute("INSERT INTO items (id, embedding) VALUES (100000, ?)", [FAR])
    before = sorted(p.stat().st_mtime_ns for p in (file.parent / "c.duckdb.vsql").iterdir())
    out = second_process(file, mode)
    assert out.startswith("OperationalError") and "lock" in out, out
    assert sorted(p.stat().st_mtime_ns for p in (file.parent / "c.duckdb.vsql").iterdir()) == before
    assert nearest(con, FAR) == [100000]
    con.close()


def test_read_only_processes_share_the_file_and_leave_the_index_files_alone(path):
    file, _ = path
    con = vsql.connect(file, autocommit=True)
    con.execute("INSERT INTO items (id, embedding) VALUES (100000, ?)", [FAR])  # logged, not yet saved
    con.execute("SELECT id FROM items ORDER BY embedding <-> ? LIMIT 1", [FAR])
    con.close()
    folder = file.parent / "c.duckdb.vsql"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    reader = vsql.connect(file, read_only=True, autocommit=True)
    assert nearest(reader, FAR) == [100000]
    assert second_process(file, "ro") == "opened [(100000,)]\n"  # two readers at once
    assert "lock" in second_process(file, "rw")  # but no writer beside them
    with pytest.raises(vsql.DatabaseError, match="read-only"):
        reader.execute("DELETE FROM items")
    reader.close()
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
