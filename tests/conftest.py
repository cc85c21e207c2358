import pytest

import vsql

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
