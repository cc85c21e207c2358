"""Crashes and damaged files, on real database files: a process killed (SIGKILL) in the middle of
each kind of write, index build and checkpoint; index files truncated, corrupt, missing, extra,
stale or from another database; a disk that fills while an index is written. After each, the
reopened database holds every committed row and no uncommitted one, and every index agrees with
exact search over the table (the oracle)."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import numpy as np
import pytest

import vsql
from oracle import OPERATORS, check_search, distances
from test_ann import DIM, N, clustered, make_items

FAR = np.full(DIM, 90, np.float32)
LOADED = 2000  # rows a bulk load adds, ids from 800000
MIN_RECALL = 0.9
SLOW = pytest.mark.slow


def loaded_rows():
    """New rows from the same clusters: an IVF index trained on the first rows keeps its recall
    only on rows like them (new clusters need a REINDEX, in vsql as in pgvector)."""
    return np.arange(800000, 800000 + LOADED), clustered(N + LOADED)[0][N:]  # the template's clusters


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A database with two vsql indexes (HNSW L2, IVFFlat cosine), built once and copied per test."""
    path = tmp_path_factory.mktemp("template") / "base.duckdb"
    con = vsql.connect(path, autocommit=True)
    vectors, _, _ = make_items(con)
    con.execute("CREATE INDEX hnsw_l2 ON items USING hnsw (embedding vector_l2_ops)")
    con.execute("CREATE INDEX ivf_cos ON items USING ivfflat (embedding vector_cosine_ops) WITH (lists = 20)")
    con.close()
    return path, vectors


@pytest.fixture
def db(template, tmp_path):
    source, vectors = template
    path = tmp_path / "db.duckdb"
    shutil.copy(source, path)
    shutil.copytree(source.parent / (source.name + ".vsql"), tmp_path / (path.name + ".vsql"))
    return path, {i: v for i, v in enumerate(vectors)}


def index_folder(path):
    return path.parent / (path.name + ".vsql")


def assert_consistent(path, expected, indexes=("hnsw_l2", "ivf_cos")):
    """The table holds exactly `expected` (id -> vector) and every index agrees with exact search."""
    con = vsql.connect(path, autocommit=True)
    try:
        rows = dict(con.execute("SELECT id, embedding FROM items").fetchall())
        assert sorted(rows) == sorted(expected)
        for key, vector in expected.items():
            assert np.array_equal(rows[key], vector), key
        names = [name for (name,) in con.execute("SELECT name FROM vsql.indexes ORDER BY name").fetchall()]
        assert names == sorted(indexes)
        keys = np.array(sorted(expected))
        queries = [expected[k] + 0.01 for k in keys[:: max(1, len(keys) // 12)]] + [FAR, -FAR]
        for name in names:
            metric = "l2" if name == "hnsw_l2" else "cosine"
            check_search(con, queries, k=10, metric=metric, min_recall=MIN_RECALL)
        # rows written since the template (new, or moved to FAR) and a sample of the rest: each is
        # the nearest row to its own vector, through each index, alone and fetched
        written = [k for k in keys if k >= N or np.array_equal(expected[k], FAR)]
        con.execute("SET vsql.exact_below = 0")
        for key in [*written[:: max(1, len(written) // 20)], *keys[:: max(1, len(keys) // 20)]]:
            for name in names:
                metric = "l2" if name == "hnsw_l2" else "cosine"
                for sql in (f"SELECT id FROM items ORDER BY embedding {OPERATORS[metric]} ? LIMIT 1",
                            f"SELECT id, embedding {OPERATORS[metric]} ? AS d FROM items ORDER BY d LIMIT 1"):
                    (got, *_), = con.execute(sql, [expected[key]]).fetchall()
                    tie = distances(expected[got][None, :], expected[key], metric)[0] < 1e-6
                    assert got == key or tie, (name, sql, key, got)
    finally:
        con.close()


# -- SIGKILL at chosen moments --------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np, pyarrow as pa
    import vsql
    from vsql.index import faiss_index, store as indexes
    from vsql import session
    path, stage, die_at = sys.argv[1], sys.argv[2], sys.argv[3]
    FAR = np.full(16, 90, np.float32)

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    def kill_at(owner, name, after=False):
        real = getattr(owner, name)
        def hooked(*args, **kwargs):
            if after:
                real(*args, **kwargs)
            die()
        setattr(owner, name, hooked)

    owner, name, after = {
        "ran": (session, "_written_keys", True),              # the write ran, its transaction is open
        "apply": (indexes.IndexManager, "apply", False),      # DuckDB committed, the indexes did not learn it
        "add": (faiss_index.FaissIndex, "_add", True),        # an index build half done
        "replace": (os, "replace", False),                     # an index file written, not yet renamed
        "saved": (faiss_index.FaissIndex, "save", True),      # an index file in place, the catalog not told
        "checkpoint": (indexes.IndexManager, "checkpoint", False),  # DuckDB checkpointed, vsql did not
    }[die_at]
    con = vsql.connect(path, autocommit=True)
    if stage in ("checkpoint", "close"):
        con.execute("UPDATE items SET embedding = ? WHERE id = 7", [FAR])  # something for the file to hold
    kill_at(owner, name, after)
    pool = np.load(sys.argv[4])
    loaded = pa.table({"id": np.arange(800000, 800000 + len(pool)),
                       "embedding": pa.FixedSizeListArray.from_arrays(pa.array(pool.ravel()), 16)})
    run = {
        "insert": lambda: con.execute("INSERT INTO items (id, embedding) VALUES (700000, ?)", [FAR]),
        "update": lambda: con.execute("UPDATE items SET embedding = ? WHERE id = 7", [FAR]),
        "delete": lambda: con.execute("DELETE FROM items WHERE id < 100"),
        "load": lambda: con.load("items", loaded),
        "executemany": lambda: con.cursor().executemany(
            "INSERT INTO items (id, embedding) VALUES (?, ?)", [(700000 + i, FAR + i) for i in range(50)]),
        "build": lambda: con.execute(sys.argv[5]),
        "reindex": lambda: con.execute(sys.argv[5]),
        "checkpoint": lambda: con.execute("CHECKPOINT"),
        "close": con.close,
    }[stage]
    run()
    die()  # the hook did not fire: fail the test by the exit code below
    sys.exit(3)
""")

UPDATED = {7: FAR}
CHILD_STATEMENTS = {"build": "CREATE INDEX extra ON items USING hnsw (embedding vector_ip_ops)",
                    "reindex": "REINDEX INDEX hnsw_l2"}


def expect(base, stage, committed):
    """What the table must hold after `stage` was killed, committed or not."""
    rows = dict(base)
    if stage in ("checkpoint", "close"):
        rows.update(UPDATED)  # committed before the kill
    if not committed:
        return rows
    if stage == "insert":
        rows[700000] = FAR
    elif stage == "update":
        rows.update(UPDATED)
    elif stage == "delete":
        rows = {k: v for k, v in rows.items() if k >= 100}
    elif stage == "load":
        rows.update(zip(*[a.tolist() if i == 0 else list(a) for i, a in enumerate(loaded_rows())]))
    elif stage == "executemany":
        rows.update({700000 + i: FAR + i for i in range(50)})
    return rows


KILLS = [
    # (stage, the moment it dies, whether the write committed); the default run takes one of each kind
    pytest.param("insert", "ran", False, marks=SLOW), ("insert", "apply", True),
    ("update", "ran", False), pytest.param("update", "apply", True, marks=SLOW),
    pytest.param("delete", "ran", False, marks=SLOW), ("delete", "apply", True),
    ("load", "ran", False), pytest.param("load", "apply", True, marks=SLOW),
    pytest.param("executemany", "ran", False, marks=SLOW), pytest.param("executemany", "apply", True, marks=SLOW),
    ("build", "add", False),
    ("reindex", "add", False),
    pytest.param("checkpoint", "checkpoint", True, marks=SLOW), ("checkpoint", "replace", True),
    pytest.param("checkpoint", "saved", True, marks=SLOW),
    pytest.param("close", "replace", True, marks=SLOW), ("close", "saved", True),
]


@pytest.mark.parametrize("stage, die_at, committed", KILLS)
def test_sigkill_mid_operation(db, stage, die_at, committed):
    path, base = db
    pool = path.parent / "pool.npy"
    np.save(pool, loaded_rows()[1])
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), stage, die_at, str(pool),
                           CHILD_STATEMENTS.get(stage, "")], timeout=120,
                          capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert_consistent(path, expect(base, stage, committed))
    if stage in ("build", "reindex"):  # a half-built index leaves nothing in the way of building it again
        con = vsql.connect(path, autocommit=True)
        con.execute(CHILD_STATEMENTS[stage])
        con.close()
        names = ("extra", "hnsw_l2", "ivf_cos") if stage == "build" else ("hnsw_l2", "ivf_cos")
        assert_consistent(path, expect(base, stage, committed), indexes=names)


WRITER = textwrap.dedent("""
    import sys, numpy as np, vsql
    con = vsql.connect(sys.argv[1], autocommit=True)
    rng = np.random.default_rng(int(sys.argv[2]))
    pool = np.load(sys.argv[3])
    step = 0
    while True:
        step += 1
        key = int(rng.integers(0, 3000))
        vector = pool[step % len(pool)]
        kind = step % 5
        if kind == 0:
            con.execute("DELETE FROM items WHERE id = ?", [key])
        elif kind in (1, 2):
            con.execute("INSERT INTO items (id, embedding) VALUES (?, ?) ON CONFLICT DO NOTHING", [10000 + step, vector])
        else:
            con.execute("UPDATE items SET embedding = ? WHERE id = ?", [vector, key])
        print(step, flush=True)  # after the commit returned
        if step % 40 == 0:
            con.execute("CHECKPOINT")
""")


def replay(base, seed, steps, pool):
    """The writer's first `steps` writes applied to `base`, as the oracle of what committed."""
    rows = dict(base)
    rng = np.random.default_rng(seed)
    for step in range(1, steps + 1):
        key = int(rng.integers(0, 3000))
        vector = pool[step % len(pool)]
        kind = step % 5
        if kind == 0:
            rows.pop(key, None)
        elif kind in (1, 2):
            rows.setdefault(10000 + step, vector)
        elif key in rows:
            rows[key] = vector
    return rows


@pytest.mark.parametrize("seed, after", [(1, 1.0), *[pytest.param(s, a, marks=SLOW) for s, a in [(2, 0.05), (3, 0.5), (4, 2.0), (5, 4.0)]]])
def test_sigkill_at_a_random_moment_of_a_writing_process(db, seed, after):
    """No hooks: the process is killed from outside, wherever it is (a write, a commit, an index
    update, a checkpoint). Every write it reported is there; the one in flight is all or nothing."""
    path, base = db
    pool = loaded_rows()[1]
    np.save(path.parent / "pool.npy", pool)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(seed), str(path.parent / "pool.npy")],
                              stdout=subprocess.PIPE, text=True)
    first = [writer.stdout.readline() for _ in range(5)]  # started and writing
    time.sleep(after)
    writer.send_signal(signal.SIGKILL)
    reported = first + writer.communicate(timeout=60)[0].split()
    assert writer.returncode == -signal.SIGKILL
    steps = int(reported[-1])
    con = vsql.connect(path, autocommit=True)
    rows = dict(con.execute("SELECT id, embedding FROM items").fetchall())
    con.close()
    candidates = [replay(base, seed, steps, pool), replay(base, seed, steps + 1, pool)]
    matched = [c for c in candidates if sorted(c) == sorted(rows) and all(np.array_equal(rows[k], v) for k, v in c.items())]
    assert matched, "the table is neither the state before nor after the write in flight"
    assert_consistent(path, matched[0])


# -- damaged, extra and stale index files ---------------------------------------------------------


def _file(path, name="hnsw_l2"):
    (found,) = [f for f in index_folder(path).iterdir() if f.name.startswith(name + ".v")]
    return found


def damage(path, how):
    file = _file(path)
    if how == "missing":
        file.unlink()
    elif how == "empty":
        file.write_bytes(b"")
    elif how == "truncated":
        file.write_bytes(file.read_bytes()[: file.stat().st_size * 2 // 3])
    elif how == "bit-flipped":  # one byte changed inside the Faiss graph
        data = bytearray(file.read_bytes())
        data[len(data) // 2] ^= 0xFF
        file.write_bytes(bytes(data))
    elif how == "garbage":
        file.write_bytes(os.urandom(file.stat().st_size))
    elif how == "swapped":  # the other index's file under this one's name
        shutil.copy(_file(path, "ivf_cos"), file)
    elif how == "directory":  # and so cannot be rewritten either
        file.unlink()
        file.mkdir()


@pytest.mark.parametrize("how", ["truncated", "bit-flipped", "swapped", *[pytest.param(h, marks=SLOW) for h in
                                                             ("missing", "empty", "garbage", "directory")]])
def test_damaged_index_files_are_rebuilt_never_trusted(db, how):
    path, base = db
    con = vsql.connect(path, autocommit=True)
    con.execute("UPDATE items SET embedding = ? WHERE id = 7", [FAR])  # a logged change to replay too
    con.close()
    damage(path, how)
    assert_consistent(path, {**base, **UPDATED})


def test_an_index_file_from_another_database_is_rebuilt(db, tmp_path):
    """Same table, same index names, different rows: the token in the file tells them apart."""
    path, base = db
    other = tmp_path / "other" / "db.duckdb"
    other.parent.mkdir()
    con = vsql.connect(other, autocommit=True)
    make_items(con, seed=5)
    con.execute("CREATE INDEX hnsw_l2 ON items USING hnsw (embedding vector_l2_ops)")
    con.execute("CREATE INDEX ivf_cos ON items USING ivfflat (embedding vector_cosine_ops) WITH (lists = 20)")
    con.close()
    for name in ("hnsw_l2", "ivf_cos"):
        shutil.copy(_file(other, name), _file(path, name))
    assert_consistent(path, base)


def test_extra_files_in_the_index_folder_are_ignored(db):
    path, base = db
    folder = index_folder(path)
    real = _file(path)
    shutil.copy(real, folder / "hnsw_l2.v7.vsqlidx")  # a version the catalog does not name
    shutil.copy(real, folder / "dropped.v1.vsqlidx")  # an index that no longer exists
    (folder / "hnsw_l2.v1.tmp").write_bytes(b"half a file")  # a save that never finished
    (folder / "notes.txt").write_text("hello")
    assert_consistent(path, base)
    con = vsql.connect(path, autocommit=True)
    con.execute("DROP INDEX hnsw_l2")  # drops its own files, and only its own
    con.close()
    assert (folder / "dropped.v1.vsqlidx").exists() and (folder / "notes.txt").exists()
    assert not [f for f in folder.iterdir() if f.name.startswith("hnsw_l2.v") and f.suffix == ".vsqlidx"]


@pytest.mark.parametrize("change", ["update", "insert", "delete"])
def test_a_stale_index_file_is_never_trusted(db, change):
    """An older copy of the index's own file (a backup restored, a copy taken mid-way) put back
    after later writes were saved: same name, version and token. It is caught up with the table."""
    path, base = db
    old = _file(path).read_bytes()
    old_ivf = _file(path, "ivf_cos").read_bytes()
    con = vsql.connect(path, autocommit=True)
    for op in ("<->", "<=>"):  # load both indexes, so that the write reaches them and CHECKPOINT saves them
        con.execute(f"SELECT id FROM items ORDER BY embedding {op} ? LIMIT 1", [FAR])
    statement, expected = {
        "update": ("UPDATE items SET embedding = ? WHERE id = 7", {**base, **UPDATED}),
        "insert": ("INSERT INTO items (id, embedding) VALUES (700000, ?)", {**base, 700000: FAR}),
        "delete": ("DELETE FROM items WHERE id = 7 OR id = ?", {k: v for k, v in base.items() if k not in (7, -1)}),
    }[change]
    con.execute(statement, [FAR] if change != "delete" else [-1])
    con.execute("CHECKPOINT")  # the files take the write
    con.close()
    assert _file(path).read_bytes() != old
    _file(path).write_bytes(old)
    _file(path, "ivf_cos").write_bytes(old_ivf)
    assert_consistent(path, expected)


def test_a_table_changed_behind_vsqls_back_is_detected(db):
    import duckdb

    path, base = db
    raw = duckdb.connect(str(path))
    raw.execute("UPDATE items SET embedding = [90 for _ in range(16)]::FLOAT[16] WHERE id = 7")
    raw.execute("DELETE FROM items WHERE id = 8")
    raw.close()
    expected = {k: v for k, v in {**base, **UPDATED}.items() if k != 8}
    assert_consistent(path, expected)


# -- a full disk ----------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MiB tmpfs, or a skip where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk, leave):
    """Fill the disk but for about `leave` bytes."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    (disk / f"filler-{uuid.uuid4().hex}").write_bytes(b"\0" * max(free - leave, 0))


def test_a_full_disk_while_writing_an_index(small_disk, template):
    source, vectors = template
    path = small_disk / "db.duckdb"
    shutil.copy(source, path)
    shutil.copytree(source.parent / (source.name + ".vsql"), small_disk / "db.duckdb.vsql")
    base = {i: v for i, v in enumerate(vectors)}
    con = vsql.connect(path, autocommit=True)
    con.execute("CHECKPOINT")
    fill(small_disk, 64 * 1024)  # room for DuckDB's WAL, not for an index file
    with pytest.raises(vsql.OperationalError, match="No space left on device"):
        con.execute("CREATE INDEX extra ON items USING hnsw (embedding vector_ip_ops)")
    with pytest.raises(vsql.OperationalError, match="No space left on device"):
        con.execute("REINDEX INDEX hnsw_l2")
    assert con.execute("SELECT name, version FROM vsql.indexes ORDER BY name").fetchall() == [
        ("hnsw_l2", 1), ("ivf_cos", 1)]
    assert not [f for f in index_folder(path).iterdir() if f.suffix == ".tmp"]  # no half-written file left
    con.execute("UPDATE items SET embedding = ? WHERE id = 7", [FAR])  # small writes still commit
    check_search(con, [FAR, vectors[3]], k=10, min_recall=MIN_RECALL)
    con.close()  # its index files cannot be rewritten: reopening compares them with the table
    for filler in small_disk.glob("filler-*"):
        filler.unlink()
    assert_consistent(path, {**base, **UPDATED})
