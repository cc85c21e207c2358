"""Bulk loads through Arrow: `executemany` of parameter rows and `Connection.load` of tables."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from vsql.errors import ProgrammingError, VectorError, translate
from vsql.session import Session
from vsql.sql import vectors
from vsql.sql.dialect import VSQL
from vsql.sql.parse import parse


def insert_many(session: Session, sql: str, rows: list[Any]) -> int | None:
    """Insert parameter rows as one Arrow batch when `sql` is `INSERT ... VALUES (<params>)`.

    Returns the rows inserted, or None when the statement has another shape (then the caller
    runs it once per row).
    """
    try:
        statements = parse(sql)
    except Exception as error:  # noqa: BLE001
        raise translate(error) from error
    if not rows or len(statements) != 1:
        return None if rows else 0
    target = _values_target(statements[0])
    if target is None:
        return None
    table, columns, keys = target
    info = session.catalog.of(table)
    if info is None:
        return None
    names = columns or list(info.columns)
    if len(keys) != len(names):
        raise ProgrammingError(f"INSERT has {len(keys)} values for {len(names)} columns")
    arrays = {}
    for key, name in zip(keys, names):
        values = [_param(row, key) for row in rows]
        if (info.vector_kind(name) or ("",))[0] == "sparsevec":
            arrays[name] = _sparse_array(values, info.vector_kind(name)[1])
            continue
        dim = info.vector_dim(name)
        arrays[name] = _vector_array(values, dim, name) if dim else _unsized_array(values) if info.is_vector(name) \
            else pa.array(values, from_pandas=True)
    return _insert(session, table, pa.table(arrays))


def _sparse_array(values: list[Any], dim: int) -> pa.Array:
    """Sparse vectors (vsql's or pgvector-python's, their text, dense vectors) as the engine's
    sparsevec structs, checked against the column's dimension (0: any)."""
    checked = [None if v is None else vectors.coerce_sparse(v, dim or None) for v in values]
    return pa.array([None if v is None else vectors.sparse_struct(v) for v in checked],
                    pa.struct([("sparsevec_dim", pa.int32()), ("sparsevec_idx", pa.list_(pa.int32())),
                               ("sparsevec_val", pa.list_(pa.float32()))]))


def load(session: Session, table_name: str, data: Any) -> int:
    """Append an Arrow table, a RecordBatchReader, a pandas/polars DataFrame or a Parquet file."""
    table = exp.to_table(table_name, dialect=VSQL)
    if isinstance(data, (str, os.PathLike)):
        import pyarrow.parquet as pq

        data = pq.ParquetFile(os.fspath(data)).iter_batches()
        data = _reader_from_batches(data)
    elif hasattr(data, "to_arrow") and not isinstance(data, (pa.Table, pa.RecordBatchReader)):
        data = data.to_arrow()  # polars
    elif type(data).__module__.startswith("pandas"):
        data = _from_pandas(data)
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if not isinstance(data, (pa.Table, pa.RecordBatchReader)):
        raise ProgrammingError(f"cannot load a {type(data).__name__}: pass an Arrow table, a DataFrame or a Parquet path")
    return _insert(session, table, data)


def _insert(session: Session, table: exp.Table, data: pa.Table | pa.RecordBatchReader) -> int:
    return session.insert_arrow(table, data)


def _values_target(statement: exp.Expr) -> tuple[exp.Table, list[str], list[Any]] | None:
    # sqlglot leaves an absent clause None, or (since 30.31, for INSERT's flags) False
    extras = {k for k, v in statement.args.items() if v not in (None, False) and k not in ("this", "expression")}
    if not isinstance(statement, exp.Insert) or extras:
        return None
    values = statement.expression
    if not isinstance(values, exp.Values) or len(values.expressions) != 1:
        return None
    keys = []
    for item in values.expressions[0].expressions:
        if isinstance(item, exp.Parameter) and isinstance(item.this, exp.Literal):
            keys.append(int(item.this.this) - 1)
        elif isinstance(item, exp.Placeholder) and item.name != "?":
            keys.append(item.name)
        else:
            return None
    target = statement.this
    if isinstance(target, exp.Schema):
        return target.this, [c.name for c in target.expressions], keys
    return target, [], keys


def _param(row: Any, key: int | str) -> Any:
    try:
        return row[key]
    except (IndexError, KeyError, TypeError):
        raise ProgrammingError(f"a parameter row has no value for {key!r}") from None


def _vector_array(values: list[Any], dim: int, column: str) -> pa.Array:
    valid = [v is not None for v in values]
    if all(isinstance(v, np.ndarray) and v.shape == (dim,) for v in values):
        matrix = np.stack(values)
    else:
        matrix = np.zeros((len(values), dim), dtype=np.float32)
        for i, value in enumerate(values):
            if value is None:
                continue
            vector = vectors.coerce(value)
            if len(vector) != dim:
                raise VectorError(f"expected {dim} dimensions, not {len(vector)} (column {column}, row {i + 1})")
            matrix[i] = vector
    matrix = vectors.check_matrix(matrix)
    flat = pa.array(matrix.ravel(), pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, dim, mask=pa.array([not ok for ok in valid]))


def _unsized_array(values: list[Any]) -> pa.Array:
    """Values for an unsized vector column: each checked as a vector, of its own dimension."""
    return pa.array([None if v is None else vectors.coerce(v) for v in values], pa.list_(pa.float32()))


def _from_pandas(frame: Any) -> pa.Table:
    arrays = {}
    for name in frame.columns:
        column = frame[name]
        first = column.dropna().iloc[0] if column.notna().any() else None
        if isinstance(first, (np.ndarray, list)) and column.notna().all():
            matrix = vectors.check_matrix(np.stack([np.asarray(v) for v in column.to_numpy()]))
            arrays[str(name)] = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), matrix.shape[1])
        else:
            arrays[str(name)] = pa.Array.from_pandas(column)
    return pa.table(arrays)


def _reader_from_batches(batches) -> pa.RecordBatchReader:
    batches = iter(batches)
    first = next(batches)
    return pa.RecordBatchReader.from_batches(first.schema, _chain(first, batches))


def _chain(first, rest):
    yield first
    yield from rest
