"""pgvector's vector functions that DuckDB lacks, as vectorised Arrow UDFs over NumPy.

Each takes whole Arrow batches of FLOAT[] lists, computes in float32 as pgvector does, and
raises pgvector's errors (dimension mismatch, overflow). DuckDB's native array functions cover
L2, inner product and cosine distance; L1 (`<+>`) has none, so an exact k-NN search by L1 calls
`vsql_l1_distance` on every batch of rows it reads. `create_once` also registers the k-NN
executor's batch function, which LATERAL searches call per chunk of outer rows.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from duckdb import sqltypes

from vsql.errors import VectorError
from vsql.sql import vectors

FLOAT_LIST = duckdb.list_type(sqltypes.FLOAT)


class _Lists:
    """An Arrow list array as flat float32 values, per-row lengths and a validity mask."""

    def __init__(self, array: pa.Array):
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        self.valid = array.is_valid().to_numpy(zero_copy_only=False)
        self.lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
        self.lengths = np.where(self.valid, self.lengths, 0).astype(np.int64)
        self.values = array.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)

    def rows_values(self, keep: np.ndarray) -> np.ndarray:
        return self.values[np.repeat(keep, self.lengths)]

    def row_ids(self, keep: np.ndarray) -> np.ndarray:
        return np.repeat(np.arange(len(keep)), np.where(keep, self.lengths, 0))


def _list_array(values: np.ndarray, lengths: np.ndarray, valid: np.ndarray) -> pa.Array:
    offsets = np.concatenate([[0], np.cumsum(np.where(valid, lengths, 0))]).astype(np.int32)
    return pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(values, pa.float32()), mask=pa.array(~valid)
    )


def _checked(values: np.ndarray, dtype=np.float32) -> np.ndarray:
    """values rounded to the type's elements (float32, or float16 for halfvec), held as float32."""
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = values.astype(np.float32).astype(dtype)
    if not np.isfinite(narrow).all():
        raise VectorError("value out of range: overflow")
    return narrow.astype(np.float32)


def _pair(a: pa.Array, b: pa.Array) -> tuple[_Lists, _Lists, np.ndarray]:
    left, right = _Lists(a), _Lists(b)
    both = left.valid & right.valid
    differ = both & (left.lengths != right.lengths)
    if differ.any():
        i = int(np.argmax(differ))
        raise VectorError(f"different vector dimensions {left.lengths[i]} and {right.lengths[i]}")
    return left, right, both


def _elementwise(op, dtype=np.float32):
    """pgvector's element-wise op in float32, rounded to the type's elements (`dtype`)."""

    def udf(a: pa.Array, b: pa.Array) -> pa.Array:
        left, right, both = _pair(a, b)
        x, y = left.rows_values(both), right.rows_values(both)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            result = _checked(op(x, y), dtype)
        if op is np.multiply and ((result == 0) & (x != 0) & (y != 0)).any():
            raise VectorError("value out of range: underflow")  # pgvector's vector_mul refuses it
        return _list_array(result, left.lengths, both)

    return udf


def l1_distance(a: pa.Array, b: pa.Array) -> pa.Array:
    """pgvector's L1: float32 |a - b| summed in float32 (so past float32's range it is inf, as in
    pgvector), returned as double."""
    left, right, both = _pair(a, b)
    lengths = np.where(both, left.lengths, 0)
    filled = lengths > 0
    sums = np.zeros(len(both), np.float32)
    with np.errstate(over="ignore"):
        diff = np.abs(left.rows_values(both) - right.rows_values(both))
        if filled.any():
            sums[filled] = np.add.reduceat(diff, (np.cumsum(lengths) - lengths)[filled])
    return pa.array(sums.astype(np.float64), pa.float64(), mask=~both)


def _l2_normalize(dtype):
    return lambda a: l2_normalize(a, dtype)  # DuckDB counts a UDF's parameters


def l2_normalize(a: pa.Array, dtype=np.float32) -> pa.Array:
    """pgvector's l2_normalize: the norm summed in double, each element divided by it in double;
    a zero vector (norm 0) gives zeros, never -0."""
    rows = _Lists(a)
    values = rows.rows_values(rows.valid).astype(np.float64)
    ids = rows.row_ids(rows.valid)
    norms = np.sqrt(np.bincount(ids, weights=values * values, minlength=len(rows.valid)))[ids]
    result = np.divide(values, norms, out=np.zeros_like(values), where=norms > 0)
    return _list_array(result.astype(np.float32).astype(dtype).astype(np.float32), rows.lengths, rows.valid)


def _avg(matrix: np.ndarray) -> np.ndarray:
    """pgvector's avg(vector): the rows added in double in order, from the first (so the average of
    -0 is -0), divided by their count."""
    return np.cumsum(matrix, axis=0)[-1] / len(matrix)


def _sum(matrix: np.ndarray) -> np.ndarray:
    """pgvector's sum(vector): vector_add row after row, in float32, refusing overflow at any step."""
    with np.errstate(over="ignore", invalid="ignore"):
        steps = np.cumsum(matrix.astype(np.float32), axis=0, dtype=np.float32)
    if not np.isfinite(steps).all():
        raise VectorError("value out of range: overflow")
    return steps[-1]


def _sum_half(matrix: np.ndarray) -> np.ndarray:
    """pgvector's sum(halfvec): halfvec_add row after row, each step rounded to float16."""
    acc = matrix[0].astype(np.float32)
    with np.errstate(over="ignore"):
        for row in matrix[1:]:
            acc = (acc + row.astype(np.float32)).astype(np.float16).astype(np.float32)
            if not np.isfinite(acc).all():
                raise VectorError("value out of range: overflow")
    return acc


def _aggregate(reduce, mismatch: str, dtype=np.float32):
    """avg/sum over the vectors of each group, collected by DuckDB's list() aggregate.
    `mismatch` words a vector whose dimensions differ from the group's first, as pgvector does."""

    def udf(groups: pa.Array) -> pa.Array:
        if isinstance(groups, pa.ChunkedArray):
            groups = groups.combine_chunks()
        out: list[np.ndarray | None] = []
        for group in groups:  # each group's vectors as one matrix, never as Python lists
            vectors_ = group.values.filter(group.values.is_valid()) if group.is_valid else []
            if not len(vectors_):
                out.append(None)
                continue
            dims = pc.list_value_length(vectors_).to_numpy()
            if (dims != dims[0]).any():
                raise VectorError(mismatch.format(dims[0], dims[np.argmax(dims != dims[0])]))
            matrix = vectors_.flatten().to_numpy(zero_copy_only=False).astype(np.float64).reshape(len(vectors_), dims[0])
            out.append(_checked(reduce(matrix), dtype))
        return pa.array(out, pa.list_(pa.float32()))

    return udf


def vector_text(a: pa.Array) -> pa.Array:
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    return pa.array(
        [None if v is None else vectors.format_text(np.asarray(v, np.float32)) for v in a.to_pylist()],
        pa.string(),
    )


def to_halfvec(a: pa.Array) -> pa.Array:
    """A vector's or real[]'s values as a halfvec's, refused as pgvector refuses them."""
    rows = _Lists(a)
    values = rows.rows_values(rows.valid)
    if np.isnan(values).any():
        raise VectorError("NaN not allowed in halfvec")
    if np.isinf(values).any():
        raise VectorError("infinite value not allowed in halfvec")
    return _list_array(vectors.to_half(values), rows.lengths, rows.valid)


def binary_quantize(a: pa.Array) -> pa.Array:
    """pgvector's binary_quantize: '1' where an element is > 0, as text DuckDB casts to BIT."""
    rows = _Lists(a)
    bits = np.where(rows.values > 0, "1", "0")
    ends = np.cumsum(rows.lengths)
    return pa.array(["".join(bits[end - n:end]) if ok else None for n, end, ok in zip(rows.lengths, ends, rows.valid)],
                    pa.string())


# name -> (function, parameter types, return type)
UDFS = {
    "vsql_l1_distance": (l1_distance, [FLOAT_LIST, FLOAT_LIST], sqltypes.DOUBLE),
    "vsql_vector_add": (_elementwise(np.add), [FLOAT_LIST, FLOAT_LIST], FLOAT_LIST),
    "vsql_vector_sub": (_elementwise(np.subtract), [FLOAT_LIST, FLOAT_LIST], FLOAT_LIST),
    "vsql_vector_mul": (_elementwise(np.multiply), [FLOAT_LIST, FLOAT_LIST], FLOAT_LIST),
    "vsql_l2_normalize": (_l2_normalize(np.float32), [FLOAT_LIST], FLOAT_LIST),
    "vsql_vector_avg": (_aggregate(_avg, "expected {} dimensions, not {}"),
                        [duckdb.list_type(FLOAT_LIST)], FLOAT_LIST),
    "vsql_vector_sum": (_aggregate(_sum, "different vector dimensions {} and {}"),
                        [duckdb.list_type(FLOAT_LIST)], FLOAT_LIST),
    "vsql_vector_text": (vector_text, [FLOAT_LIST], sqltypes.VARCHAR),
    # halfvec: the same computed in float32, rounded to float16
    "vsql_vector_add_half": (_elementwise(np.add, np.float16), [FLOAT_LIST, FLOAT_LIST], FLOAT_LIST),
    "vsql_vector_sub_half": (_elementwise(np.subtract, np.float16), [FLOAT_LIST, FLOAT_LIST], FLOAT_LIST),
    "vsql_vector_mul_half": (_elementwise(np.multiply, np.float16), [FLOAT_LIST, FLOAT_LIST], FLOAT_LIST),
    "vsql_l2_normalize_half": (_l2_normalize(np.float16), [FLOAT_LIST], FLOAT_LIST),
    "vsql_vector_avg_half": (_aggregate(_avg, "expected {} dimensions, not {}", np.float16),
                             [duckdb.list_type(FLOAT_LIST)], FLOAT_LIST),
    "vsql_vector_sum_half": (_aggregate(_sum_half, "different halfvec dimensions {} and {}", np.float16),
                             [duckdb.list_type(FLOAT_LIST)], FLOAT_LIST),
    "vsql_to_halfvec": (to_halfvec, [FLOAT_LIST], FLOAT_LIST),
    "vsql_binary_quantize": (binary_quantize, [FLOAT_LIST], sqltypes.VARCHAR),
}


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Register every vsql vector UDF with a DuckDB database (once: DuckDB keeps functions per
    database, shared by all its connections)."""
    for name, (function, params, returns) in UDFS.items():
        create_once(con, name, function, params, returns)


def create_once(con: duckdb.DuckDBPyConnection, name: str, function, params, returns) -> None:
    try:
        con.create_function(name, function, params, returns, type="arrow", null_handling="special")
    except duckdb.CatalogException as error:
        if "already exists" not in str(error):
            raise
