"""vsql: pgvector's SQL, embedded, on DuckDB.

    >>> import vsql
    >>> con = vsql.connect(":memory:", autocommit=True)
    >>> _ = con.execute("CREATE TABLE items (id INT, embedding VECTOR(3))")
    >>> _ = con.execute("INSERT INTO items VALUES (1, '[1,2,3]'), (2, '[4,5,6]')")
    >>> con.execute("SELECT id FROM items ORDER BY embedding <-> ? LIMIT 1", ["[3,1,2]"]).fetchall()
    [(1,)]
"""

from vsql.errors import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    VectorError,
    Warning,
)

__version__ = "0.1.0"

__all__ = [
    "apilevel", "threadsafety", "paramstyle", "connect", "Connection", "Cursor",
    "Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
    "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError", "VectorError",
    "STRING", "BINARY", "NUMBER", "DATETIME", "ROWID", "VECTOR", "SparseVector",
    "Date", "Time", "Timestamp", "Binary", "DateFromTicks", "TimeFromTicks", "TimestampFromTicks",
]


def load_ipython_extension(ipython) -> None:
    """`%load_ext vsql`: the %vsql and %%vsql magics."""
    from vsql.client.magic import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str):
    """The DB-API module's names (`connect`, `Connection`, type objects ...), imported on first use:
    `import vsql` loads no engine, and `vsql --help` answers before DuckDB and Faiss load."""
    if name in __all__:
        from vsql.client import dbapi

        return getattr(dbapi, name)
    raise AttributeError(f"module 'vsql' has no attribute {name!r}")
