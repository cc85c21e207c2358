"""pgvector's vector functions that DuckDB lacks, as vectorised Arrow UDFs over NumPy.

Each takes whole Arrow batches of FLOAT[] lists, computes in float32 as pgvector does, and
raises pgvector's errors (dimension mismatch, overflow). DuckDB's native array functions cover
L2, inner product and cosine distance; L1 (`<+>`) has none, so an exact k-NN search by L1 calls
`vsql_l1_distance` on every batch of rows it reads. `create_once` also registers the k-NN
executor's batch function, which LATERAL searches call per chunk of outer rows.
"""

from __future__ import annotations

import functools

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
    text = (rows.values > 0).astype(np.uint8) + ord("0")  # the characters, row after row, built at once
    offsets = np.concatenate([[0], np.cumsum(rows.lengths)]).astype(np.int32)
    return pa.StringArray.from_buffers(len(rows.lengths), pa.py_buffer(offsets), pa.py_buffer(text),
                                       pa.array(rows.valid).buffers()[1])


# -- sparsevec: STRUCT(sparsevec_dim INTEGER, sparsevec_idx INTEGER[], sparsevec_val FLOAT[]) ------

SPARSE_FIELDS = ("sparsevec_dim", "sparsevec_idx", "sparsevec_val")  # lowering's STORAGE["sparsevec"]
SPARSEVEC = duckdb.struct_type({SPARSE_FIELDS[0]: sqltypes.INTEGER, SPARSE_FIELDS[1]: duckdb.list_type(sqltypes.INTEGER),
                                SPARSE_FIELDS[2]: FLOAT_LIST})
SORT_KEY = duckdb.list_type(duckdb.struct_type({"c": sqltypes.TINYINT, "i": sqltypes.INTEGER, "v": sqltypes.FLOAT}))


class _Sparse:
    """An Arrow array of sparsevec structs as flat NumPy arrays: per row its dimension, number of
    elements and validity; per element its row, 1-based index and float32 value, rows ascending."""

    def __init__(self, array: pa.Array):
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        self.valid = array.is_valid().to_numpy(zero_copy_only=False)
        dims, indices, values = array.flatten()  # children with the struct's offset and nulls applied
        self.dims = pc.fill_null(dims, 0).to_numpy(zero_copy_only=False).astype(np.int64)
        self.lengths = pc.fill_null(pc.list_value_length(indices), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        self.indices = indices.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
        self.values = values.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
        self.rows = np.repeat(np.arange(len(self.valid)), self.lengths)


def _sparse_array(dims: np.ndarray, rows: np.ndarray, indices: np.ndarray, values: np.ndarray,
                  valid: np.ndarray) -> pa.Array:
    """Sparsevec structs from per-element rows (ascending), 1-based indices and values."""
    lengths = np.bincount(rows, minlength=len(valid))
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    return pa.StructArray.from_arrays(
        [pa.array(np.asarray(dims, np.int32), pa.int32()),
         pa.ListArray.from_arrays(offsets, pa.array(np.asarray(indices, np.int32), pa.int32())),
         pa.ListArray.from_arrays(offsets, pa.array(np.asarray(values, np.float32), pa.float32()))],
        names=list(SPARSE_FIELDS), mask=pa.array(~valid))


def _sparse_pair(a: pa.Array, b: pa.Array) -> tuple[_Sparse, _Sparse, np.ndarray]:
    left, right = _Sparse(a), _Sparse(b)
    both = left.valid & right.valid
    differ = both & (left.dims != right.dims)
    if differ.any():
        i = int(np.argmax(differ))
        raise VectorError(f"different sparsevec dimensions {left.dims[i]} and {right.dims[i]}")
    return left, right, both


def _merged(left: _Sparse, right: _Sparse, both: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The union of both sides' indices, row by row (rows where both are valid): each element's row,
    and its value on the left and on the right (0 where that side has none)."""
    keys = []
    for side in (left, right):
        kept = both[side.rows]
        keys.append((side.rows[kept] << 31 | side.indices[kept], side.values[kept]))
    union = np.sort(np.concatenate([keys[0][0], keys[1][0]]))  # np.union1d hashes: 40 times slower here
    union = union[np.concatenate([[True], union[1:] != union[:-1]])] if len(union) else union
    sides = []
    for key, values in keys:
        full = np.zeros(len(union), np.float32)
        full[np.searchsorted(union, key)] = values
        sides.append(full)
    return union >> 31, sides[0], sides[1]


def _row_sums(rows: np.ndarray, terms: np.ndarray, n: int, dtype) -> np.ndarray:
    """Each row's terms added in order in `dtype` (float32 overflows to inf as pgvector's sums do)."""
    sums = np.zeros(n, dtype)
    if len(terms):
        starts = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]]))
        with np.errstate(over="ignore", invalid="ignore"):
            sums[rows[starts]] = np.add.reduceat(terms.astype(dtype), starts)
    return sums


def _sparse_distance(metric: str):
    """pgvector's sparsevec distances: float32 terms over the union of indices summed in float32
    (past float32's range they are infinite, as in pgvector), returned as double; a different
    dimension is refused in pgvector's words."""

    def udf(a: pa.Array, b: pa.Array) -> pa.Array:
        left, right, both = _sparse_pair(a, b)
        if _repeated(left) or _repeated(right):  # a query against each row: no merge (all four are symmetric)
            rows, query = (right, left) if _repeated(left) else (left, right)
            return pa.array(_against_one(metric, rows, query), pa.float64(), mask=~both)
        n = len(both)
        rows, x, y = _merged(left, right, both)
        with np.errstate(over="ignore", invalid="ignore"):
            if metric == "l2":
                result = np.sqrt(_row_sums(rows, (x - y) * (x - y), n, np.float32).astype(np.float64))
            elif metric == "l1":
                result = _row_sums(rows, np.abs(x - y), n, np.float32).astype(np.float64)
            else:
                dot = _row_sums(rows, x * y, n, np.float32).astype(np.float64)
                if metric == "ip":
                    result = dot
                elif metric == "negative_ip":
                    result = -dot
                else:  # cosine: sqrt(|a|^2 |b|^2) of float32 sums, in double; 0/0 is NaN as in pgvector
                    norms = [_row_sums(s.rows, s.values * s.values, n, np.float32).astype(np.float64)
                             for s in (left, right)]
                    with np.errstate(divide="ignore"):
                        result = 1.0 - np.clip(dot / np.sqrt(norms[0] * norms[1]), -1.0, 1.0)
        return pa.array(result, pa.float64(), mask=~both)

    return udf


def _repeated(side: _Sparse) -> bool:
    """Whether every row holds one and the same sparsevec: a query, bound or written once."""
    n, width = len(side.valid), int(side.lengths[0]) if len(side.valid) else 0
    if n < 2 or not side.valid.all() or (side.lengths != width).any() or (side.dims != side.dims[0]).any():
        return False
    return width == 0 or bool((side.indices.reshape(n, width) == side.indices[:width]).all()
                              and (side.values.reshape(n, width) == side.values[:width]).all())


def _against_one(metric: str, rows: _Sparse, query: _Sparse) -> np.ndarray:
    """A distance from each row to one query: the rows' elements met by the query's (binary search),
    the query's elements a row lacks taken from the query's totals (in double: exact enough, and
    past float32's range infinite, as pgvector's float32 sums)."""
    n, width = len(rows.valid), int(query.lengths[0])
    qi, qv = query.indices[:width], query.values[:width]
    at = np.minimum(np.searchsorted(qi, rows.indices), max(width - 1, 0))
    met = (qi[at] == rows.indices) if width else np.zeros(len(rows.indices), bool)
    y = np.where(met, qv[at] if width else 0, 0).astype(np.float32)
    x = rows.values

    def with_rest(own: np.ndarray, terms) -> np.ndarray:
        """A row's own terms plus the query's it does not meet, each query term being terms(values)."""
        rest = float(np.sum(terms(qv.astype(np.float64)))) - np.bincount(
            rows.rows, weights=np.where(met, terms(y.astype(np.float64)), 0), minlength=n)
        total = own + np.maximum(rest, 0)
        return np.where(total > np.finfo(np.float32).max, np.inf, total)

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if metric == "l2":
            return np.sqrt(with_rest(_row_sums(rows.rows, (x - y) * (x - y), n, np.float32), np.square))
        if metric == "l1":
            return with_rest(_row_sums(rows.rows, np.abs(x - y), n, np.float32), np.abs)
        dot = _row_sums(rows.rows, x * y, n, np.float32).astype(np.float64)
        if metric != "cosine":
            return dot if metric == "ip" else -dot
        norms = _row_sums(rows.rows, x * x, n, np.float32).astype(np.float64) * float(np.sum(qv * qv, dtype=np.float32))
        return 1.0 - np.clip(dot / np.sqrt(norms), -1.0, 1.0)


def sparsevec_l2_norm(a: pa.Array) -> pa.Array:
    """pgvector's l2_norm(sparsevec): the squares summed in double."""
    rows = _Sparse(a)
    squares = rows.values.astype(np.float64) ** 2
    return pa.array(np.sqrt(np.bincount(rows.rows, weights=squares, minlength=len(rows.valid))), pa.float64(),
                    mask=~rows.valid)


def sparsevec_l2_normalize(a: pa.Array) -> pa.Array:
    """pgvector's l2_normalize(sparsevec): each value over the norm (in double) as float32, refusing
    overflow and dropping values that underflow to zero."""
    rows = _Sparse(a)
    norms = np.sqrt(np.bincount(rows.rows, weights=rows.values.astype(np.float64) ** 2, minlength=len(rows.valid)))
    with np.errstate(over="ignore"):
        values = (rows.values / norms[rows.rows]).astype(np.float32)
    if np.isinf(values).any():
        raise VectorError("value out of range: overflow")
    kept = values != 0
    return _sparse_array(rows.dims, rows.rows[kept], rows.indices[kept], values[kept], rows.valid)


def sparsevec_text(a: pa.Array) -> pa.Array:
    rows = _Sparse(a)
    ends = np.cumsum(rows.lengths)
    return pa.array([vectors.format_sparse(dim, rows.indices[end - n:end], rows.values[end - n:end]) if ok else None
                     for dim, n, end, ok in zip(rows.dims, rows.lengths, ends, rows.valid)], pa.string())


def _typmods(typmods: pa.Array, n: int) -> list[int | None]:
    values = typmods.to_pylist() if len(typmods) == n else [None] * n
    return [t or None for t in values]


@functools.lru_cache(maxsize=256)
def _parse_sparse(text: str, typmod: int | None) -> vectors.SparseVector:
    """A bound query arrives as its text, repeated on every row of every batch: read once."""
    return vectors.parse_sparse(text, typmod)


def sparsevec_in(texts: pa.Array, typmods: pa.Array) -> pa.Array:
    """Text (a column, a bound string) as a sparsevec, read and refused as pgvector's sparsevec_in."""
    parsed = [None if t is None else _parse_sparse(t, m) for t, m in zip(texts.to_pylist(), _typmods(typmods, len(texts)))]
    valid = np.array([p is not None for p in parsed], bool)
    rows = np.repeat(np.arange(len(parsed)), [len(p.indices()) if p is not None else 0 for p in parsed])
    indices = np.concatenate([np.asarray(p.indices(), np.int64) + 1 for p in parsed if p is not None] or [[]])
    values = np.concatenate([np.asarray(p.values(), np.float32) for p in parsed if p is not None] or [[]])
    dims = [p.dimensions() if p is not None else 0 for p in parsed]
    return _sparse_array(np.asarray(dims), rows, indices.astype(np.int64), values, valid)


def to_sparsevec(a: pa.Array, typmods: pa.Array) -> pa.Array:
    """A vector's, halfvec's or real[]'s values as a sparsevec (its non-zero elements), refused as
    pgvector's casts refuse them."""
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    if a.flatten().null_count:
        raise VectorError("array must not contain nulls")
    rows = _Lists(a)
    for n, ok, typmod in zip(rows.lengths, rows.valid, _typmods(typmods, len(rows.valid))):
        if ok:
            vectors.check_sparse_dim(int(n), typmod)
    if np.isnan(rows.values).any():
        raise VectorError("NaN not allowed in sparsevec")
    if np.isinf(rows.values).any():
        raise VectorError("infinite value not allowed in sparsevec")
    row_ids = rows.row_ids(rows.valid)
    values = rows.rows_values(rows.valid)
    starts = np.concatenate([[0], np.cumsum(np.where(rows.valid, rows.lengths, 0))[:-1]])
    positions = np.arange(len(values)) - starts[row_ids] + 1
    kept = values != 0
    return _sparse_array(rows.lengths, row_ids[kept], positions[kept], values[kept], rows.valid)


def sparsevec_to_vector(a: pa.Array, kinds: pa.Array) -> pa.Array:
    """A sparsevec's dense values (a FLOAT[] list), refused past the dense types' 16,000 dimensions."""
    rows = _Sparse(a)
    too_big = rows.valid & (rows.dims > vectors.MAX_DIM)
    if too_big.any():
        kind = kinds[0].as_py() if len(kinds) else "vector"
        raise VectorError(f"{kind} cannot have more than {vectors.MAX_DIM} dimensions")
    lengths = np.where(rows.valid, rows.dims, 0)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    dense = np.zeros(int(starts[-1]), np.float32)
    dense[starts[rows.rows] + rows.indices - 1] = rows.values
    return _list_array(dense, lengths, rows.valid)


def sparsevec_typmod(a: pa.Array, typmods: pa.Array) -> pa.Array:
    """pgvector's sparsevec(n) cast of a sparsevec: its dimension must be n."""
    rows = _Sparse(a)
    for dim, ok, typmod in zip(rows.dims, rows.valid, _typmods(typmods, len(rows.valid))):
        if ok and typmod and dim != typmod:
            raise VectorError(f"expected {typmod} dimensions, not {dim}")
    return a


def sparsevec_cmp(a: pa.Array, b: pa.Array) -> pa.Array:
    """pgvector's sparsevec_cmp, step by step (-1, 0 or 1), for `<`, `<=`, `>`, `>=`: the common
    elements first, then an element of the longer one if it lies within the other's dimension, then
    the dimensions."""
    left, right = _Sparse(a), _Sparse(b)
    both = left.valid & right.valid
    out = np.zeros(len(both), np.int32)
    ends = [np.cumsum(side.lengths) for side in (left, right)]
    for row in np.flatnonzero(both):
        (ai, av), (bi, bv) = [(side.indices[end[row] - side.lengths[row]:end[row]].tolist(),
                               side.values[end[row] - side.lengths[row]:end[row]].tolist())
                              for side, end in ((left, ends[0]), (right, ends[1]))]
        out[row] = _compare_sparse(ai, av, int(left.dims[row]), bi, bv, int(right.dims[row]))
    return pa.array(out, pa.int32(), mask=~both)


def _compare_sparse(ai: list, av: list, adim: int, bi: list, bv: list, bdim: int) -> int:
    n = min(len(ai), len(bi))
    for k in range(n):
        if ai[k] != bi[k]:  # a zero on one side against the other's element
            return (-1 if av[k] < 0 else 1) if ai[k] < bi[k] else (1 if bv[k] < 0 else -1)
        if av[k] != bv[k]:
            return -1 if av[k] < bv[k] else 1
    if len(ai) < len(bi) and bi[n] <= adim:
        return 1 if bv[n] < 0 else -1
    if len(ai) > len(bi) and ai[n] <= bdim:
        return -1 if av[n] < 0 else 1
    return (adim > bdim) - (adim < bdim)


def sparsevec_key(a: pa.Array) -> pa.Array:
    """A key that DuckDB's list ordering sorts as pgvector orders sparsevecs (sparsevec_cmp: as
    their dense values, element by element, then by dimension): per element (0, index, value) when
    negative, (2, -index, value) when positive, then (1, dimension, 0). It differs from
    sparsevec_cmp only between sparsevecs of different dimensions where the longer one's next
    element lies past the other's dimension (there pgvector compares the dimensions)."""
    rows = _Sparse(a)
    n = len(rows.valid)
    offsets = np.concatenate([[0], np.cumsum(rows.lengths + 1)])
    starts = np.concatenate([[0], np.cumsum(rows.lengths)[:-1]])
    size = int(offsets[-1])
    classes, indices, values = np.ones(size, np.int8), np.zeros(size, np.int32), np.zeros(size, np.float32)
    at = offsets[rows.rows] + np.arange(len(rows.values)) - starts[rows.rows]
    negative = rows.values < 0
    classes[at] = np.where(negative, 0, 2)
    indices[at] = np.where(negative, rows.indices, -rows.indices)
    values[at] = rows.values
    indices[offsets[1:] - 1] = rows.dims
    entries = pa.StructArray.from_arrays([pa.array(classes), pa.array(indices), pa.array(values)], names=["c", "i", "v"])
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), entries, mask=pa.array(~rows.valid[:n]))


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
    **{f"vsql_sparsevec_{name}": (_sparse_distance(metric), [SPARSEVEC, SPARSEVEC], sqltypes.DOUBLE)
       for name, metric in [("l2_distance", "l2"), ("negative_inner_product", "negative_ip"),
                            ("inner_product", "ip"), ("cosine_distance", "cosine"), ("l1_distance", "l1")]},
    "vsql_sparsevec_l2_norm": (sparsevec_l2_norm, [SPARSEVEC], sqltypes.DOUBLE),
    "vsql_sparsevec_l2_normalize": (sparsevec_l2_normalize, [SPARSEVEC], SPARSEVEC),
    "vsql_sparsevec_text": (sparsevec_text, [SPARSEVEC], sqltypes.VARCHAR),
    "vsql_sparsevec_in": (sparsevec_in, [sqltypes.VARCHAR, sqltypes.INTEGER], SPARSEVEC),
    "vsql_to_sparsevec": (to_sparsevec, [FLOAT_LIST, sqltypes.INTEGER], SPARSEVEC),
    "vsql_sparsevec_to_vector": (sparsevec_to_vector, [SPARSEVEC, sqltypes.VARCHAR], FLOAT_LIST),
    "vsql_sparsevec_typmod": (sparsevec_typmod, [SPARSEVEC, sqltypes.INTEGER], SPARSEVEC),
    "vsql_sparsevec_key": (sparsevec_key, [SPARSEVEC], SORT_KEY),
    "vsql_sparsevec_cmp": (sparsevec_cmp, [SPARSEVEC, SPARSEVEC], sqltypes.INTEGER),
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
