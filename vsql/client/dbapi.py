"""PEP 249 (DB-API 2.0) connections and cursors over a `Session`.

Results are materialised as Arrow tables, so cursors of one connection do not disturb each
other; rows are converted to Python only as they are fetched, vectors to float32 NumPy arrays,
halfvecs to float16 ones (as pgvector-python's HalfVector.to_numpy()), sparsevecs to `vsql.SparseVector`
(pgvector-python's SparseVector's interface), bit strings to `str` of 0s and 1s (as psycopg gives them
with pgvector-python's adapters).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from vsql import engine as engines
from vsql import errors
from vsql.client import bulk
from vsql.engine.base import Engine, Result
from vsql.errors import InterfaceError, ProgrammingError, translate
from vsql.session import Session
from vsql.sql.vectors import SparseVector

apilevel = "2.0"
threadsafety = 1  # threads may share the module; give each thread its own connection
paramstyle = "qmark"  # also accepted: %s, $1 (numeric) and :name / $name with a dict


class _TypeObject:
    """A PEP 249 type object: equal to every type code it covers, an Arrow type or a DuckDB
    type name (the two kinds of result a cursor holds)."""

    def __init__(self, name: str, test, duckdb_names: str):
        self.name, self._test, self._names = name, test, re.compile(duckdb_names)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return bool(self._names.fullmatch(other))
        return isinstance(other, pa.DataType) and self._test(other)

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return self.name


STRING = _TypeObject("STRING", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), r"VARCHAR|UUID|JSON")
BINARY = _TypeObject("BINARY", lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), r"BLOB|BIT")
NUMBER = _TypeObject("NUMBER", lambda t: pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t),
                     r"U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|DECIMAL.*")
DATETIME = _TypeObject("DATETIME", lambda t: pa.types.is_temporal(t), r"DATE|TIME.*|TIMESTAMP.*|INTERVAL")
ROWID = _TypeObject("ROWID", lambda t: pa.types.is_int64(t), r"BIGINT")
VECTOR = _TypeObject("VECTOR", lambda t: pa.types.is_fixed_size_list(t) and pa.types.is_floating(t.value_type),
                     r"FLOAT\[\d+\]")
HALFVEC = _TypeObject("HALFVEC", lambda t: pa.types.is_struct(t) and t.num_fields == 1 and t.field(0).name == "halfvec",
                      r"STRUCT\(halfvec FLOAT\[\d+\]\)")  # how the engine stores a halfvec
SPARSEVEC = _TypeObject("SPARSEVEC",
                        lambda t: pa.types.is_struct(t) and t.num_fields == 3 and t.field(0).name == "sparsevec_dim",
                        r"STRUCT\(sparsevec_dim INTEGER, sparsevec_idx INTEGER\[\], sparsevec_val FLOAT\[\]\)")

Date = datetime.date
Time = datetime.time
Timestamp = datetime.datetime
Binary = bytes


def DateFromTicks(ticks: float) -> datetime.date:  # noqa: N802 - PEP 249 names
    return datetime.date.fromtimestamp(ticks)


def TimeFromTicks(ticks: float) -> datetime.time:  # noqa: N802
    return datetime.datetime.fromtimestamp(ticks).time()


def TimestampFromTicks(ticks: float) -> datetime.datetime:  # noqa: N802
    return datetime.datetime.fromtimestamp(ticks)


def connect(database: str | os.PathLike = ":memory:", *, read_only: bool = False,
            autocommit: bool = False, config: dict | None = None, spark=None) -> Connection:
    """Open a vsql database: a DuckDB file (created if missing) or ':memory:' (the engine is chosen
    by the target, see `vsql.engine.connect`): `spark://local[2]` starts a local Spark session,
    and `spark=session` wraps an existing SparkSession.

    As PEP 249 asks, changes are made in a transaction that `commit()` ends; pass
    `autocommit=True` to commit every statement as it runs, as DuckDB's own API does. An engine
    without transactions (Spark) always commits every statement as it runs.
    """
    options = {} if spark is None else {"session": spark}
    try:
        engine = engines.connect("spark://" if spark is not None else str(database), read_only=read_only,
                                 config=config, **options)
    except Exception as error:
        raise translate(error) from error
    return Connection(engine, autocommit=autocommit or not getattr(engine, "transactions", True))


class Connection:
    def __init__(self, engine: Engine, *, autocommit: bool = False):
        self.session = Session(engine)
        self.autocommit = autocommit
        self._closed = False

    # PEP 249 exposes the exception classes on connections too.
    from vsql.errors import (  # noqa: E402
        DatabaseError,
        DataError,
        Error,
        IntegrityError,
        InterfaceError,
        InternalError,
        NotSupportedError,
        OperationalError,
        ProgrammingError,
        Warning,
    )

    def cursor(self) -> Cursor:
        self._check_open()
        return Cursor(self)

    def execute(self, sql: str, params: Any = None) -> Cursor:
        """Run `sql` on a new cursor and return it, as DuckDB's and sqlite3's connections do."""
        return self.cursor().execute(sql, params)

    def commit(self) -> None:
        self._check_open()
        if self.session.in_transaction:
            self.session.execute("COMMIT")

    def rollback(self) -> None:
        self._check_open()
        if self.session.in_transaction:
            self.session.execute("ROLLBACK")

    def close(self) -> None:
        """Close the connection, rolling back an open transaction; PEP 249 makes closing it
        again an error, as it does every other use of a closed connection."""
        self._check_open()
        self._closed = True
        with _translated_errors():
            self.session.close()

    @property
    def closed(self) -> bool:
        """Whether `close()` was called (psycopg's name), since closing twice is an error."""
        return self._closed

    def load(self, table: str, data: Any) -> int:
        """Append rows to `table` through Arrow: a pyarrow Table or RecordBatchReader, a pandas or
        polars DataFrame, or a Parquet file's path. Columns are matched by name. Returns rows added.
        """
        self._check_open()
        with self._atomic():
            return bulk.load(self.session, table, data)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if not self._closed:
            if kind is None:
                self.commit()
            self.close()

    @contextlib.contextmanager
    def _atomic(self):
        """All or nothing: inside the open transaction, or in one of its own under autocommit."""
        self._begin()
        if self.session.in_transaction:
            try:
                yield
            except Exception:
                self.session.aborted = True  # as any error does to a transaction block (Session.run)
                raise
            return
        with _translated_errors():
            self.session.begin()
        try:
            yield
        except BaseException:
            with _translated_errors():
                self.session.rollback()
            raise
        with _translated_errors():
            self.session.commit()

    def _begin(self) -> None:
        """PEP 249's implicit transaction: opened by the first statement after a commit."""
        if not self.autocommit and not self.session.in_transaction:
            with _translated_errors():
                self.session.begin()

    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError("connection is closed")


class Cursor:
    arraysize = 1

    def __init__(self, connection: Connection):
        self.connection = connection
        self._result: Result | None = None
        self._position = 0
        self._closed = False
        self.messages: list[tuple[type, str]] = []  # PEP 249's extension: the last statement's notices

    @property
    def description(self) -> list[tuple] | None:
        if self._result is None or not self._result.returns_rows:
            return None
        if self._result.columns is not None:
            return [(name, kind, None, None, None, None, None) for name, kind in self._result.columns]
        schema = self._result.table.schema
        kinds = self.connection.session.engine.type_names(schema)
        return [(f.name, kind, None, None, None, None, None) for f, kind in zip(schema, kinds)]

    @property
    def rowcount(self) -> int:
        return -1 if self._result is None else self._result.rowcount

    def execute(self, sql: str, params: Any = None) -> Cursor:
        """Run one statement (or several, without parameters); parameters are bound, never pasted."""
        self._check_open()
        _check_params(params)
        session = self.connection.session
        self.connection._begin()  # before the statement, as psycopg's BEGIN: even a syntax error aborts it
        self._result = session.run(session.compile(sql, params), params)
        self.messages = [(errors.Warning, notice) for notice in session.indexes.notices]
        self._position = 0
        return self

    def executemany(self, sql: str, seq_of_params: Iterable[Any]) -> Cursor:
        """Run `sql` once per parameter set; `INSERT ... VALUES` of parameters loads as one Arrow batch."""
        self._check_open()
        rows = list(seq_of_params)
        with self.connection._atomic():
            count = bulk.insert_many(self.connection.session, sql, rows)
            if count is None:
                count = sum(max(self.connection.session.execute(sql, params).rowcount, 0) for params in rows)
        self._result = Result(None, count)
        return self

    def fetchone(self) -> tuple | None:
        rows = self._take(1)
        return rows[0] if rows else None

    def fetchmany(self, size: int | None = None) -> list[tuple]:
        return self._take(self.arraysize if size is None else size)

    def fetchall(self) -> list[tuple]:
        return self._take(None)

    def fetch_arrow_table(self) -> pa.Table:
        """The rest of the result as an Arrow table (vectors as fixed-size float lists)."""
        result = self._checked_result()
        if result.rows is not None:
            rest = result.rows[self._position :]
            self._position = len(result.rows)
            types = self.connection.session.engine.arrow_types(tuple(kind for _, kind in result.columns))
            return pa.table([_array([row[i] for row in rest], kind) for i, kind in enumerate(types)],
                            names=[name for name, _ in result.columns])  # names may repeat, as in PostgreSQL
        table = result.table.slice(self._position)
        self._position += table.num_rows
        return table

    def fetch_df(self):
        """The rest of the result as a pandas DataFrame, vectors as float32 NumPy arrays."""
        table = self.fetch_arrow_table()
        arrays = [(i, f, _ARRAYS.get(f.type)) for i, f in enumerate(table.schema)]
        frame = table.select([i for i, _, convert in arrays if convert is None]).to_pandas()
        for i, field, convert in arrays:
            if convert is not None:
                frame.insert(i, field.name, list(convert(table.column(i))), allow_duplicates=True)
        return frame

    fetchdf = fetch_df

    def close(self) -> None:
        """Free the rows; `rowcount` stays (SQLAlchemy reads an INSERT's count after closing)."""
        self._closed = True
        if self._result is not None:
            self._result = Result(None, self._result.rowcount)

    def setinputsizes(self, sizes: Any) -> None:
        pass

    def setoutputsize(self, size: int, column: int | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[tuple]:
        while (row := self.fetchone()) is not None:
            yield row

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _checked_result(self) -> Result:
        self._check_open()
        if self._result is None or not self._result.returns_rows:
            raise ProgrammingError("no result set: the last statement returned no rows")
        return self._result

    def _take(self, size: int | None) -> list[tuple]:
        result = self._checked_result()
        end = None if size is None else self._position + size
        if result.rows is not None:
            chunk = result.rows[self._position : end]
            self._position += len(chunk)
            return chunk
        table = result.table.slice(self._position, size)
        self._position += table.num_rows
        return _rows(table, result.columns)

    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError("cursor is closed")
        self.connection._check_open()


def _check_params(params: Any) -> None:
    """PEP 249's parameters: a sequence or a mapping (a string is one value, not a sequence of them)."""
    if params is not None and (isinstance(params, (str, bytes)) or not isinstance(params, (Sequence, Mapping))):
        raise ProgrammingError(f"parameters must be a sequence or a mapping, not {type(params).__name__}")


@contextlib.contextmanager
def _translated_errors():
    try:
        yield
    except errors.Error:
        raise
    except Exception as error:  # noqa: BLE001
        raise translate(error) from error


def _vectors(column: pa.ChunkedArray) -> Iterator[np.ndarray | None]:
    column = column.combine_chunks()
    width = column.type.list_size
    values = column.values.slice(column.offset * width, len(column) * width)
    matrix = values.to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(column), width)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    for row, ok in zip(matrix, valid):
        yield row if ok else None


def _halfvecs(column: pa.ChunkedArray) -> Iterator[np.ndarray | None]:
    column = column.combine_chunks()
    values = column.field(0)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    for row, ok in zip(_vectors(pa.chunked_array([values])), valid):
        yield row.astype(np.float16) if ok and row is not None else None


def _sparsevecs(column: pa.ChunkedArray) -> Iterator[SparseVector | None]:
    column = column.combine_chunks()
    dims, indices, values = column.flatten()
    for ok, dim, index, value in zip(column.is_valid().to_pylist(), dims.to_pylist(), indices.to_pylist(),
                                     values.to_pylist()):
        yield SparseVector._from_parts(dim, [i - 1 for i in index], value) if ok else None


class _Arrays:
    """Column converters by type object: the first whose type object equals an Arrow type."""

    def __init__(self, *pairs):
        self.pairs = pairs

    def get(self, kind: pa.DataType):
        return next((convert for type_object, convert in self.pairs if type_object == kind), None)


_ARRAYS = _Arrays((VECTOR, _vectors), (HALFVEC, _halfvecs), (SPARSEVEC, _sparsevecs))


# Values Arrow carries as another type (DuckDB exports a UUID as text), by the engine's type name:
# made what the engine's own Python rows hold, so a row is the same whichever way it came.
_FROM_TEXT = {"UUID": uuid.UUID}


def _rows(table: pa.Table, columns: list[tuple[str, str]] | None = None) -> list[tuple]:
    kinds = [kind for _, kind in columns] if columns is not None else [None] * table.num_columns
    values = [
        list(convert(column)) if (convert := _ARRAYS.get(field.type)) else
        [None if v is None else make(v) for v in column.to_pylist()] if (make := _FROM_TEXT.get(kind)) else
        column.to_pylist()
        for field, column, kind in zip(table.schema, table.columns, kinds)
    ]
    return list(zip(*values)) if values else []


__all__ = [
    "apilevel", "threadsafety", "paramstyle", "connect", "Connection", "Cursor",
    "STRING", "BINARY", "NUMBER", "DATETIME", "ROWID", "VECTOR", "HALFVEC", "SPARSEVEC", "SparseVector",
    "Date", "Time", "Timestamp", "Binary", "DateFromTicks", "TimeFromTicks", "TimestampFromTicks",
]


def _array(values: list, kind: pa.DataType) -> pa.Array:
    """Python values as an Arrow array of the type the engine's own Arrow would have (an INTEGER
    column is int32, not int64); values Arrow cannot read as that type (UUID objects) as it infers."""
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowException, TypeError, ValueError):
        if pa.types.is_string(kind):  # UUIDs: as text, as the engine's Arrow gives them
            return pa.array([None if v is None else str(v) for v in values], kind)
        return pa.array(values)
