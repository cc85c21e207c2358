"""vsql's first engine: one DuckDB connection, with vsql's functions registered on it."""

from __future__ import annotations

import copy
import functools
import re
import threading
import warnings
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from duckdb import sqltypes
from sqlglot import exp

from udfs import vector_udfs
from vsql.engine.base import Result, Statement
from vsql.engine.catalog import TableInfo
from vsql.engine.duckdb.lowering import (
    SPARSE_TYPE,
    UNSIZED_MARK,
    engine_distances,
    reproduces,
    to_sql,
)
from vsql.errors import DataError

_ARRAY = re.compile(r"FLOAT\[(\d+)\]\Z")
# pgvector's other types by the DuckDB type that holds them (lowering's STORAGE): type -> (name, dim)
_KINDS = [(re.compile(r"STRUCT\(halfvec FLOAT\[(\d+)\]\)\Z"), "halfvec"), (re.compile(r"BIT\Z()"), "bit"),
          (re.compile(re.escape(SPARSE_TYPE) + r"\Z()"), "sparsevec")]
# sparsevec(n) columns: their dimension, from lowering's CHECK (struct_extract(column, 'sparsevec_dim') = n)
_SPARSE_DIMS = (
    "SELECT database_name = 'temp', schema_name, table_name, constraint_column_names[1], constraint_text "
    "FROM duckdb_constraints() WHERE constraint_type = 'CHECK' AND constraint_text LIKE '%''sparsevec_dim'') = %' "
    "AND database_name IN (current_database(), 'temp')"
)
_SPARSE_DIM = re.compile(r"'sparsevec_dim'\) = (\d+)\)")
# The FLOAT[] columns that lowering's CHECK on vector lengths marks as unsized `vector` columns.
_UNSIZED = (
    "SELECT database_name = 'temp', schema_name, table_name, constraint_column_names[1] FROM duckdb_constraints() "
    "WHERE constraint_type = 'CHECK' AND constraint_text LIKE ? AND database_name IN (current_database(), 'temp')"
)
_NESTED = re.compile(r"\[|STRUCT|MAP|UNION")
# bit(n) columns: their length, from lowering's CHECK (bit_length(column) = n)
_BIT_SIZES = (
    "SELECT database_name = 'temp', schema_name, table_name, constraint_column_names[1], constraint_text "
    "FROM duckdb_constraints() WHERE constraint_type = 'CHECK' AND constraint_text LIKE '%bit_length(%' "
    "AND database_name IN (current_database(), 'temp')"
)
_BIT_SIZE = re.compile(r"bit_length\(\"?([^\")]+)\"?\) = (\d+)\)")


class DuckDBEngine:
    """One connection to a DuckDB database (see `vsql.engine.base.Engine`)."""

    conflict = duckdb.TransactionException

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        vector_udfs.register(con)
        self.path, self.read_only, self.database = con.execute(
            "SELECT path, readonly, database_name FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchall()[0]
        self.path = self.path or None

    @classmethod
    def connect(cls, database: str = ":memory:", read_only: bool = False, config: dict | None = None) -> DuckDBEngine:
        return cls(duckdb.connect(database.removeprefix("duckdb://"), read_only=read_only, config=config or {}))

    # -- statements -------------------------------------------------------------------------

    lower = staticmethod(to_sql)

    def run(self, statement: Statement, params: Any = None) -> duckdb.DuckDBPyConnection:
        sql = statement if isinstance(statement, str) else to_sql(statement)[-1]
        return self.con.execute(sql, params) if params else self.con.execute(sql)

    def rows(self, statement: Statement, params: Any = None) -> list[tuple]:
        return self.run(statement, params).fetchall()

    def arrow(self, statement: Statement, params: Any = None) -> pa.Table:
        return _arrow(self.run(statement, params))

    def keys(self, statement: Statement, params: Any = None) -> np.ndarray:
        # fetchnumpy is cheaper than Arrow, which DuckDB builds with a second statement
        return np.asarray(next(iter(self.run(statement, params).fetchnumpy().values())), dtype=np.int64)

    def columns(self, statement: Statement, params: Any = None) -> dict[str, np.ndarray]:
        """A statement's result as NumPy arrays by column name."""
        return self.run(statement, params).fetchnumpy()

    def result(self, cursor: duckdb.DuckDBPyConnection, rows: bool, counts: bool) -> Result:
        description = cursor.description
        if description is None:
            return Result(None, -1)
        flat = not any(_NESTED.search(str(column[1])) for column in description)
        if flat and rows and not counts:
            fetched = cursor.fetchall()
            return Result(None, len(fetched), fetched, [(column[0], str(column[1])) for column in description])
        table = _arrow(cursor)
        if table is None:  # DuckDB's CHECKPOINT describes a result it does not return
            return Result(None, -1)
        table = _bits_as_text(table, description)
        if counts:
            return Result(None, table.column(0)[0].as_py() if table.num_rows else 0)
        if not rows:
            return Result(None, -1)
        return Result(table, table.num_rows, columns=[(column[0], str(column[1])) for column in description])

    # -- data and functions -----------------------------------------------------------------

    def register(self, name: str, data: pa.Table | pa.RecordBatchReader) -> None:
        self.con.register(name, data)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    def register_function(self, name: str, function, params, returns: str) -> None:
        vector_udfs.create_once(self.con, name, function, [duckdb.sqltype(p) for p in params], duckdb.sqltype(returns))

    def register_batch(self, name: str, function) -> None:
        """DuckDB keeps functions per database, shared by its connections: registered once."""
        hits = duckdb.list_type(duckdb.struct_type({"key": sqltypes.BIGINT, "distance": sqltypes.DOUBLE}))
        vector_udfs.create_once(self.con, name, function,
                                [sqltypes.VARCHAR, duckdb.list_type(sqltypes.FLOAT), sqltypes.INTEGER], hits)

    # -- transactions and connections -------------------------------------------------------

    def begin(self) -> None:
        self.con.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.con.execute("COMMIT")

    def rollback(self) -> None:
        self.con.execute("ROLLBACK")

    def fork(self) -> DuckDBEngine:
        forked = copy.copy(self)
        forked.con = self.con.cursor()
        return forked

    def interrupt(self) -> None:
        self.con.interrupt()

    def close(self) -> None:
        self.con.close()

    # -- catalog ----------------------------------------------------------------------------

    def tables(self) -> list[TableInfo]:
        rows = self.con.execute(
            "SELECT c.database_name = 'temp', c.schema_name, c.table_name, c.column_name, c.data_type, "
            "t.table_name IS NULL FROM duckdb_columns() c LEFT JOIN duckdb_tables() t "
            "ON c.database_oid = t.database_oid AND c.table_oid = t.table_oid "
            "WHERE NOT c.internal AND c.database_name IN (current_database(), 'temp') "
            "ORDER BY c.schema_name, c.table_name, c.column_index"
        ).fetchall()
        grouped: dict[tuple[bool, str, str], tuple[dict[str, str], bool]] = {}
        for temporary, schema, table, column, dtype, is_view in rows:
            grouped.setdefault((temporary, schema, table), ({}, is_view))[0][column.lower()] = dtype
        keys = {(temporary, schema, table): tuple(c.lower() for c in columns) for temporary, schema, table, columns in
                self.con.execute(
                    "SELECT database_name = 'temp', schema_name, table_name, constraint_column_names "
                    "FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
                    "AND database_name IN (current_database(), 'temp')").fetchall()}
        unsized: dict[tuple[bool, str, str], set[str]] = {}
        for temporary, schema, table, column in self.con.execute(_UNSIZED, [f"%'{UNSIZED_MARK}'%"]).fetchall():
            unsized.setdefault((temporary, schema, table), set()).add(column.lower())
        bits = {(temporary, schema, table, column.lower()): int(m[2])
                 for temporary, schema, table, column, text in self.con.execute(_BIT_SIZES).fetchall()
                 if (m := _BIT_SIZE.search(text)) and m[1].lower() == column.lower()}
        bits.update({(temporary, schema, table, column.lower()): int(m[1])  # and sparsevec(n) dimensions
                     for temporary, schema, table, column, text in self.con.execute(_SPARSE_DIMS).fetchall()
                     if (m := _SPARSE_DIM.search(text))})
        return [TableInfo(table, columns, is_view, schema, temporary, keys.get((temporary, schema, table), ()),
                          {c: int(m[1]) for c, t in columns.items() if (m := _ARRAY.match(t))},
                          None if is_view else "rowid",
                          frozenset(c for c in unsized.get((temporary, schema, table), ()) if columns.get(c) == "FLOAT[]"),
                          {c: (kind[0], bits.get((temporary, schema, table, c), kind[1]))
                           for c, t in columns.items() if (kind := _kind(t))})
                for (temporary, schema, table), (columns, is_view) in grouped.items()]

    def has_table(self, schema: str, name: str, column: str | None = None) -> bool:
        return bool(self.con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
            "AND column_name = coalesce(?, column_name) AND database_name = current_database()",
            [schema, name, column]).fetchall()[0][0])

    def has_index(self, name: str) -> bool:
        return bool(self.con.execute(
            "SELECT count(*) FROM duckdb_indexes() WHERE index_name = ? AND database_name = current_database()",
            [name]).fetchall()[0][0])

    @staticmethod
    def type_names(schema: pa.Schema) -> list[str]:
        return _type_names(schema)

    @staticmethod
    def arrow_types(names: tuple[str, ...]) -> list[pa.DataType]:
        return _arrow_types(tuple(names))

    @staticmethod
    def bits(column: pa.Array) -> np.ndarray:
        """A BIT column's strings, all of one length, as a bool matrix. DuckDB's Arrow holds its own
        bytes: a count of padding bits, then the bits, padded at the front."""
        data = column.to_pylist()
        if any(b is None for b in data) or len({len(b) for b in data}) > 1 or len({b[0] for b in data}) > 1:
            raise DataError("bit strings of different lengths, or NULL, where one length is indexed")
        matrix = np.frombuffer(b"".join(data), np.uint8).reshape(len(data), -1)
        return np.unpackbits(matrix[:, 1:], axis=1)[:, data[0][0]:].astype(bool)

    # -- distances --------------------------------------------------------------------------

    reproduces = staticmethod(reproduces)
    distances = staticmethod(engine_distances)


def _bits_as_text(table: pa.Table, description: list) -> pa.Table:
    """BIT columns as the '0101' text DuckDB's rows (and psycopg) give: DuckDB's Arrow holds its own
    bytes (a count of padding bits, then the bits, padded at the front)."""
    for i, column in enumerate(description):
        if str(column[1]) == "BIT" and pa.types.is_binary(table.schema.field(i).type):
            text = [None if b is None else "".join(f"{x:08b}" for x in b[1:])[b[0]:]
                    for b in table.column(i).to_pylist()]
            table = table.set_column(i, table.schema.field(i).with_type(pa.string()), pa.array(text, pa.string()))
    return table


def _kind(dtype: str) -> tuple[str, int] | None:
    for pattern, name in _KINDS:
        if m := pattern.match(dtype):
            return name, int(m[1] or 0)
    return None


def _arrow(cursor: duckdb.DuckDBPyConnection) -> pa.Table:
    with warnings.catch_warnings():
        # DuckDB warns that Arrow output from execute() copies: vsql's results are small or wanted whole.
        warnings.simplefilter("ignore")
        return cursor.to_arrow_table()


@functools.lru_cache(maxsize=256)
def _type_names(schema: pa.Schema) -> list:
    """DuckDB's names for an Arrow schema's types ('BIGINT', 'FLOAT[3]'); Arrow's own for a type
    DuckDB does not read from Arrow."""
    numbered = pa.schema([field.with_name(f"c{i}") for i, field in enumerate(schema)])  # names may repeat
    try:
        with _TYPES_LOCK:
            return [str(kind) for kind in _type_reader().from_arrow(numbered.empty_table()).types]
    except duckdb.Error:
        return [field.type for field in schema]


@functools.lru_cache(maxsize=256)
def _arrow_types(names: tuple[str, ...]) -> list[pa.DataType]:
    """Read from DuckDB itself: a NULL of each type, exported to Arrow."""
    select = exp.select(*[exp.alias_(exp.cast(exp.null(), exp.DataType.build(name, dialect="duckdb")), f"c{i}")
                          for i, name in enumerate(names)])
    with _TYPES_LOCK:
        return _arrow(_type_reader().execute(select.sql("duckdb"))).schema.types


@functools.cache
def _type_reader() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()  # reads types only: no data, no database


_TYPES_LOCK = threading.Lock()
