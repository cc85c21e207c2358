import sys
from pathlib import Path

import pytest

import vsql

ROOT = Path(__file__).resolve().parents[1]

ITEMS = [
    (1, "[1,2,3]", 1, [1.0, 2.0, 3.0]),
    (2, "[4,5,6]", 2, [4.0, 5.0, 6.0]),
    (3, "[1,1,1]", 1, [1.0, 1.0, 1.0]),
    (4, "[0,0,0]", 2, None),
]


def small_database() -> vsql.Connection:
    """An in-memory vsql connection holding the small `items` table the one-line cases use."""
    connection = vsql.connect(":memory:", autocommit=True)
    connection.execute("CREATE TABLE items (id INT PRIMARY KEY, embedding VECTOR(3), cat INT, tags REAL[])")
    connection.cursor().executemany("INSERT INTO items VALUES (?, ?, ?, ?)", ITEMS)
    connection.execute("CREATE TABLE queries (qid INT, q VECTOR(3))")
    connection.execute("INSERT INTO queries VALUES (10, '[1,2,3]'), (20, '[5,5,5]')")
    return connection


@pytest.fixture
def con():
    connection = small_database()
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def postgres():
    """An autocommit psycopg connection to PostgreSQL with pgvector (the benchmark's peer, from its
    cached wheels), without pgvector-python's adapters: vectors come back as pgvector's text.
    Skips with the peer's reason where it cannot start."""
    sys.path.insert(0, str(ROOT))  # `benchmarks` is not an installed package
    from benchmarks.peers import PgvectorPeer

    peer = PgvectorPeer()
    reason = peer.available()
    if reason is not None:
        peer.close()
        pytest.skip(f"pgvector: {reason}")
    import psycopg

    connection = psycopg.connect(host=peer._server.dir, user="postgres", dbname="postgres", autocommit=True)
    yield connection
    connection.close()
    peer.close()
