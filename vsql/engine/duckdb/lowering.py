"""Lowers vsql's trees to DuckDB SQL, and reproduces DuckDB's distances bit for bit.

Vectors of known dimension are DuckDB `FLOAT[n]` arrays and use DuckDB's native, vectorised
array functions; vectors whose dimension is known only at run time are `FLOAT[]` lists and use
the list functions. What DuckDB lacks comes from the Arrow UDFs in `udfs/`.

A `halfvec` is stored as `STRUCT(halfvec FLOAT[n])`: DuckDB has no float16, and its native array
functions over float32 run 5-7 times faster than decoding float16 bit patterns (SMALLINT[n]) in a
UDF; the struct names the type wherever DuckDB reports types (DESCRIBE, results, CREATE TABLE AS),
which a CHECK marker on FLOAT[n] would not. Values are rounded to float16 whenever they are made.
Inside vector operations a halfvec is its FLOAT[n] (`_boxed` unwraps and wraps). `bit` is DuckDB's
BIT.

A `sparsevec` is stored as `STRUCT(sparsevec_dim INTEGER, sparsevec_idx INTEGER[], sparsevec_val
FLOAT[])`: its dimension, the 1-based indices of its non-zero elements, ascending, and their
float32 values, as pgvector holds it (a dense FLOAT[n] would take 4 bytes for each of up to a
billion dimensions). Every sparsevec has this one type, whatever its dimension, so values of
different dimensions meet in one column, CASE or UNION as in pgvector; a `sparsevec(n)` column
holds its n as a CHECK on the dimension, which `DuckDBEngine.tables` reads back. Its functions are
the UDFs of udfs/vector_udfs.py (`vsql_sparsevec_*`); `=` is DuckDB's own comparison of the
struct (the form is canonical), `<` and the like are pgvector's comparison (`vsql_sparsevec_cmp`),
and ORDER BY sorts by `vsql_sparsevec_key`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ErrorLevel

from vsql.sql import dialect as d
from vsql.sql.metrics import METRICS


@dataclass(frozen=True)
class Lowering:
    """How DuckDB computes a distance: the function over FLOAT[n] arrays and the one over FLOAT[]
    lists; and, for `engine_distances`, the float32 terms its kernel sums per dimension and what it
    makes of the sum (None: vsql does not reproduce it bit for bit)."""

    array: str
    list: str
    terms: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    finish: Callable[[np.ndarray], np.ndarray] | None = None


# metric name -> its lowering: every metric of vsql.sql.metrics has one (checked at import below)
DISTANCES = {
    "l2": Lowering("array_distance", "list_distance", lambda q, x: (x - q, x - q), np.sqrt),
    "ip": Lowering("array_negative_inner_product", "list_negative_inner_product", lambda q, x: (x, q), np.negative),
    "cosine": Lowering("array_cosine_distance", "list_cosine_distance"),
    "l1": Lowering("vsql_l1_distance", "vsql_l1_distance"),  # a UDF over lists, in float64 as pgvector sums
}
_PAIRS = {
    **{d.DISTANCES[name]: DISTANCES[name] for name in METRICS},
    d.InnerProduct: Lowering("array_inner_product", "list_inner_product"),
}
_UDF = {
    d.VectorAdd: "vsql_vector_add",
    d.VectorSub: "vsql_vector_sub",
    d.VectorMul: "vsql_vector_mul",
    d.L2Normalize: "vsql_l2_normalize",
    d.VectorToText: "vsql_vector_text",
}
# UDFs whose halfvec result is rounded to float16 by a variant of their own (name + "_half")
_HALF_VARIANTS = {d.VectorAdd, d.VectorSub, d.VectorMul, d.L2Normalize, d.VectorAvg, d.VectorSum}
HALF_FIELD = "halfvec"  # the one field of a halfvec's STRUCT


def _half(e: exp.Expr) -> bool:
    return e.meta_get("vtype") == "halfvec"


SPARSE_TYPE = "STRUCT(sparsevec_dim INTEGER, sparsevec_idx INTEGER[], sparsevec_val FLOAT[])"
# the sparsevec UDF of each distance, by metric name (inner_product has vsql_sparsevec_inner_product)
_SPARSE_DISTANCES = {"l2": "vsql_sparsevec_l2_distance", "ip": "vsql_sparsevec_negative_inner_product",
                     "cosine": "vsql_sparsevec_cosine_distance", "l1": "vsql_sparsevec_l1_distance"}


def _sparse(e: exp.Expr) -> bool:
    """Whether `e` is a sparsevec expression (analysis's meta)."""
    return e.meta_get("vtype") == d.SPARSE and e.meta_get("vdim") is not None


def _sparse_type() -> exp.DataType:
    return exp.DataType.build(SPARSE_TYPE, dialect="duckdb")


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _sparse_literal(self, e: d.SparseLiteral) -> str:
    value = exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier("sparsevec_dim"), expression=exp.Literal.number(e.dim)),
        exp.PropertyEQ(this=exp.to_identifier("sparsevec_idx"),
                       expression=exp.Array(expressions=[exp.Literal.number(i) for i in e.indices])),
        exp.PropertyEQ(this=exp.to_identifier("sparsevec_val"),
                       expression=exp.Array(expressions=[exp.Literal.number(repr(v)) for v in e.values])),
    ])
    return self.sql(exp.Cast(this=value, to=_sparse_type()))


def _sparse_cast(self, e: d.VectorCast) -> str:
    """A value made a sparsevec at run time: NULL or a bound sparse vector (which binds as the
    struct, checked by analysis); a sparsevec checked against sparsevec(n); text (a column, a bound
    string) read as pgvector reads it; or the dense values of a list (an array, a bound NumPy vector)."""
    want = exp.Literal.number(int(e.args["dim"].this))
    if e.meta_get("null") or e.meta_get("sparse_from") == "struct":
        return self.sql(exp.Cast(this=e.this, to=_sparse_type()))
    if _sparse(e.this):
        return self.sql(_call("vsql_sparsevec_typmod", e.this, want))
    if e.meta_get("sparse_from") == "list":
        return self.sql(_call("vsql_to_sparsevec", _as_vector(e.this, 0), want))
    return self.sql(_call("vsql_sparsevec_in", exp.cast(e.this, "VARCHAR"), want))


def _sparse_key(e: exp.Expr) -> exp.Expr:
    return _call("vsql_sparsevec_key", e)


class Box(exp.Expression):
    """A halfvec's FLOAT[n] as the STRUCT a halfvec is stored as."""


class Unbox(exp.Expression):
    """A stored halfvec's FLOAT[n]."""


def _boxed(tree: exp.Expr) -> exp.Expr:
    """`tree` with halfvecs wrapped where they cross between vector operations (which compute on
    FLOAT[n]) and the rest of SQL (which stores and returns the STRUCT); a new tree if any changed."""
    if not any(_half(n) and n.meta_get("vdim") is not None for n in tree.walk()):
        return tree
    tree = tree.copy()
    for node in [n for n in tree.walk() if _half(n) and n.meta_get("vdim") is not None]:
        made = isinstance(node, d.VectorOp)
        used = isinstance(node.parent, (d.VectorOp, d.BinaryQuantize, exp.Cast))
        if made != used and not isinstance(node, exp.Null):
            wrapper = Box() if made else Unbox()
            node.replace(wrapper)
            wrapper.set("this", node)
            wrapper.meta.update(vdim=node.meta["vdim"], **({"vtype": "halfvec"} if made else {}))
    return tree


def _box(self, e: Box) -> str:
    packed = exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(HALF_FIELD), expression=e.this)])
    if isinstance(e.this, d.VectorLiteral):
        return self.sql(packed)
    return self.sql(exp.Case(ifs=[exp.If(this=exp.Is(this=e.this.copy(), expression=exp.Null()), true=exp.Null())],
                             default=packed))


def _unbox(self, e: Unbox) -> str:
    return self.func("struct_extract", e.this, exp.Literal.string(HALF_FIELD))


def _to_half(node: exp.Expr) -> exp.Expr:
    """float32 values rounded to float16, refused past its range as pgvector's casts refuse them."""
    return exp.Anonymous(this="vsql_to_halfvec", expressions=[_as_list(node)])


def _convert(self, e: d.VectorConvert) -> str:
    dim = e.meta_get("vdim") or 0
    if _sparse(e):  # vector or halfvec -> sparsevec: its non-zero elements
        return self.sql(_call("vsql_to_sparsevec", _as_vector(e.this, 0), exp.Literal.number(0)))
    if _sparse(e.this):  # sparsevec -> vector or halfvec: its dense values
        dense = _call("vsql_sparsevec_to_vector", e.this, exp.Literal.string(e.meta_get("vtype") or "vector"))
        return self.sql(_as_vector(_to_half(dense) if _half(e) else dense, dim))
    return self.sql(_as_vector(_to_half(e.this) if _half(e) else e.this, dim))


def _bit_distance(name: str):
    """pgvector's Hamming and Jaccard distances over DuckDB's BIT, refusing strings of different
    lengths in pgvector's words (DuckDB: `Cannot XOR bit strings of different sizes`)."""

    def sql(self, e: d.BitDistanceOp) -> str:
        a, b = e.this, e.expression
        if name == "hamming":
            value = count(exp.Anonymous(this="xor", expressions=[a.copy(), b.copy()]))
        else:
            both, either = count(exp.BitwiseAnd(this=a.copy(), expression=b.copy())), \
                count(exp.BitwiseOr(this=a.copy(), expression=b.copy()))
            value = exp.Case(ifs=[exp.If(this=exp.EQ(this=either, expression=exp.Literal.number(0)),
                                         true=exp.Literal.number(1))],
                             default=exp.Sub(this=exp.Literal.number(1),
                                             expression=exp.Div(this=both, expression=either.copy(), typed=False)))
        sizes = [exp.Anonymous(this="bit_length", expressions=[x.copy()]) for x in (a, b)]
        message = exp.DPipe(this=exp.DPipe(this=exp.DPipe(this=exp.Literal.string("different bit lengths "),
                                                          expression=exp.cast(sizes[0].copy(), "VARCHAR")),
                                           expression=exp.Literal.string(" and ")),
                            expression=exp.cast(sizes[1].copy(), "VARCHAR"))
        return self.sql(exp.Case(ifs=[exp.If(this=exp.NEQ(this=sizes[0], expression=sizes[1]), true=_error(message))],
                                 default=exp.cast(value, "DOUBLE")))

    return sql


def count(x: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this="bit_count", expressions=[x])


def _binary_quantize(self, e: d.BinaryQuantize) -> str:
    return self.sql(exp.cast(exp.Anonymous(this="vsql_binary_quantize", expressions=[_as_list(e.this)]), "BIT"))


def vector_type(dim: int) -> exp.DataType:
    return exp.DataType.build(f"FLOAT[{dim}]" if dim else "FLOAT[]", dialect="duckdb")


def _known(*nodes: exp.Expr) -> bool:
    return all(n.meta_get("vdim") for n in nodes)


def _as_vector(node: exp.Expr, dim: int) -> exp.Expr:
    return exp.Cast(this=node, to=vector_type(dim))


def _as_list(node: exp.Expr) -> exp.Expr:
    return _as_vector(node, 0) if node.meta_get("vdim") else node


def _distance(self, e: exp.Expr) -> str:
    if _sparse(e.this) or _sparse(e.expression):
        name = "vsql_sparsevec_inner_product" if isinstance(e, d.InnerProduct) else _SPARSE_DISTANCES[e.metric]
        return self.sql(_call(name, e.this, e.expression))
    lowering = _PAIRS[type(e)]
    if _known(e.this, e.expression):
        return self.func(lowering.array, e.this, e.expression)
    left, right = _as_list(e.this), _as_list(e.expression)
    call = exp.Anonymous(this=lowering.list, expressions=[left, right])
    return self.sql(_same_dims(left, right, call))


def _same_dims(left: exp.Expr, right: exp.Expr, then: exp.Expr) -> exp.Expr:
    """`then`, or pgvector's error when two run-time vectors differ in length: DuckDB's list
    functions word it their own way (`list_distance: list dimensions must be equal, ...`)."""
    sizes = [exp.Anonymous(this="len", expressions=[side.copy()]) for side in (left, right)]
    message = exp.DPipe(this=exp.DPipe(this=exp.DPipe(this=exp.Literal.string("different vector dimensions "),
                                                      expression=sizes[0].copy()),
                                       expression=exp.Literal.string(" and ")), expression=sizes[1].copy())
    return exp.Case(ifs=[exp.If(this=exp.NEQ(this=sizes[0], expression=sizes[1]), true=_error(message))], default=then)


def _compare(generate):
    """A comparison of vectors where either side's dimension is known only at run time compares
    them as lists, as pgvector compares vectors of different dimensions (elements first, then
    length); DuckDB would cast the list to the other side's FLOAT[n] and fail."""

    def sql(self, e: exp.Binary) -> str:
        if isinstance(e, (exp.LT, exp.LTE, exp.GT, exp.GTE)) and (_sparse(e.this) or _sparse(e.expression)):
            # pgvector's sparsevec_cmp, against 0
            return generate(self, e.__class__(this=_call("vsql_sparsevec_cmp", e.this, e.expression),
                                              expression=exp.Literal.number(0)))
        dims = (e.this.meta_get("vdim"), e.expression.meta_get("vdim"))
        if None in dims or all(dims):
            return generate(self, e)
        return generate(self, e.__class__(this=_as_list(e.this), expression=_as_list(e.expression)))

    return sql


_SPARSE_UDF = {d.L2Normalize: "vsql_sparsevec_l2_normalize", d.VectorToText: "vsql_sparsevec_text"}


def _udf(self, e: d.VectorOp) -> str:
    if _sparse(e.this) and type(e) in _SPARSE_UDF:
        return self.sql(_call(_SPARSE_UDF[type(e)], e.this))
    args = [e.this] + ([e.expression] if "expression" in e.arg_types else [])
    name = _UDF[type(e)] + ("_half" if _half(e) and type(e) in _HALF_VARIANTS else "")
    call = exp.Anonymous(this=name, expressions=args)
    dim = e.meta_get("vdim")
    return self.sql(call if dim is None else _as_vector(call, dim))


def _aggregate(name: str):
    def sql(self, e: d.VectorOp) -> str:
        call = exp.Anonymous(this=name + ("_half" if _half(e) else ""),
                             expressions=[exp.Anonymous(this="list", expressions=[e.this])])
        return self.sql(_as_vector(call, e.meta_get("vdim") or 0))

    return sql


def _embed(self, e: d.Embed) -> str:
    model = e.meta["model"]
    call = exp.Anonymous(this="vsql_embed", expressions=[
        exp.Literal.string(model.provider), exp.Literal.string(model.source), e.expression])
    return self.sql(_as_vector(call, model.dim))


def _norm(self, e: d.VectorNorm) -> str:
    if isinstance(e.this, exp.Null):  # DuckDB cannot choose a list function for an untyped NULL
        return self.sql(exp.cast(exp.null(), "DOUBLE"))
    if _sparse(e.this):
        return self.sql(_call("vsql_sparsevec_l2_norm", e.this))
    # in double, as pgvector sums the squares: float32 would overflow past 1.8e19 and underflow below 1e-23
    dim = e.this.meta_get("vdim") if _known(e.this) else 0
    wide = exp.Cast(this=e.this, to=exp.DataType.build(f"DOUBLE[{dim}]" if dim else "DOUBLE[]", dialect="duckdb"))
    fn = "array_inner_product" if dim else "list_inner_product"
    return self.func("sqrt", self.func(fn, wide, wide.copy()))


def _subvector(self, e: d.Subvector) -> str:
    """pgvector's bounds: a start below 1 is 1, a range past the end stops there, and nothing
    left is an error (DuckDB's list_slice would read a negative start from the end)."""
    start, count = e.args["start"], e.args["count"]
    bound = lambda value, limit, beyond: exp.Case(  # noqa: E731 - not greatest/least, which skip NULLs
        ifs=[exp.If(this=beyond(this=value.copy(), expression=limit.copy()), true=limit.copy())], default=value.copy())
    first = bound(start, exp.Literal.number(1), exp.LT)
    end = bound(exp.Add(this=start.copy(), expression=count.copy()),  # one past the last
                exp.Add(this=exp.Anonymous(this="len", expressions=[e.this.copy()]), expression=exp.Literal.number(1)),
                exp.GT)
    sliced = exp.Anonymous(this="list_slice", expressions=[e.this, first.copy(),
                                                           exp.Sub(this=end.copy(), expression=exp.Literal.number(1))])
    empty = exp.LT(this=exp.Sub(this=end, expression=first), expression=exp.Literal.number(1))
    checked = exp.Case(ifs=[exp.If(this=empty, true=_error(exp.Literal.string("vector must have at least 1 dimension")))],
                       default=sliced)
    return self.sql(_as_vector(checked, e.meta_get("vdim") or 0))


def _concat(self, e: d.VectorConcat) -> str:
    joined = exp.Anonymous(this="list_concat", expressions=[e.this, e.expression])
    return self.sql(_as_vector(joined, e.meta_get("vdim") or 0))


def _literal(self, e: d.VectorLiteral) -> str:
    # DuckDB reads 0.0 as a DECIMAL, which has no -0; 0e0 is a DOUBLE, which keeps the sign
    array = exp.Array(expressions=[exp.Literal.number(repr(v) if v else f"{v:e}") for v in e.values])
    return self.sql(_as_vector(array, len(e.values)))


def _cast(self, e: d.VectorCast) -> str:
    """A value made a vector at run time (text, real[], an array expression) is checked as
    pgvector's casts check it: DuckDB's own arrays take NULL elements and any length. Bound
    parameters were checked when bound, and vsql's own vectors need no check."""
    if _sparse(e):
        return _sparse_cast(self, e)
    dim = int(e.args["dim"].this)
    vector = _as_vector(e.this, dim)
    if e.this.meta_get("vdim") is not None:
        return self.sql(vector)
    if not isinstance(e.this, (exp.Parameter, exp.Placeholder)):
        vector = _refused(_refusals(vector, dim), vector.copy())
    return self.sql(_as_vector(_to_half(vector), dim) if _half(e) else vector)


def _refusals(vector: exp.Expr, dim: int) -> list[tuple[exp.Expr, str]]:
    """What makes a list no vector, with pgvector's words: its length (FLOAT[n] has its n
    dimensions already) and NULL elements. NaN and infinities are the column CHECK's."""
    size = exp.Anonymous(this="len", expressions=[vector.copy()])
    refusals = [] if dim else [
        (exp.GT(this=size, expression=exp.Literal.number(d.MAX_DIM)), f"vector cannot have more than {d.MAX_DIM} dimensions"),
        (exp.LT(this=size.copy(), expression=exp.Literal.number(1)), UNSIZED_MARK),
    ]
    refusals.append((exp.Not(this=exp.Is(this=exp.Anonymous(this="list_position", expressions=[vector.copy(), exp.Null()]),
                                         expression=exp.Null())), "array must not contain nulls"))
    return refusals


def _refused(refusals: list[tuple[exp.Expr, str]], otherwise: exp.Expr) -> exp.Case:
    """`otherwise`, unless a test holds: then DuckDB's error() with its message."""
    return exp.Case(ifs=[exp.If(this=test, true=_error(exp.Literal.string(message))) for test, message in refusals],
                    default=otherwise)


def _error(message: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this="error", expressions=[message])


# The words of the CHECK that makes a FLOAT[] column an unsized `vector` column, which
# `DuckDBEngine.tables` looks for: see `_column_def`.
UNSIZED_MARK = "vector must have at least 1 dimension"


def _column_def(self, e: exp.ColumnDef) -> str:
    """A vector column: FLOAT[n] that refuses NaN and infinities, as pgvector's type does.

    An unsized `vector` column is a FLOAT[] list with a second CHECK, on each value's length and
    NULL elements (the refusals of a cast to vector). That CHECK is also what tells it from a
    `real[]` column, since DuckDB reads a user type back as its FLOAT[]: it is written with the
    table in one statement, DuckDB renames its column with the column, it persists, and a
    `COMMENT ON COLUMN` (the other marker DuckDB keeps) cannot erase it. DuckDB cannot add a
    column with a CHECK constraint, so a vector column added by ALTER TABLE relies on vsql's own
    refusal of NaN in literals and bound vectors (analysis refuses an unsized one there)."""
    kind = e.args.get("kind")
    extra = _COLUMN_CHECKS.get(d.type_kind(kind)) if kind is not None else None
    if extra is not None:
        e = e.copy()
        for check in extra(exp.column(e.name, quoted=True), kind):
            e.append("constraints", exp.ColumnConstraint(kind=exp.CheckColumnConstraint(this=check)))
        return DuckDB.Generator.columndef_sql(self, e)
    if kind is not None and kind.is_type(exp.DType.VECTOR) and not isinstance(e.parent, exp.Alter):
        column = exp.column(e.name, quoted=True)
        finite = exp.Anonymous(this="isfinite", expressions=[exp.Anonymous(this="list_sum", expressions=[column])])
        checks = [finite]
        if not kind.expressions:
            checks.append(_refused(_refusals(column, 0), exp.true()))
        e = e.copy()
        for check in checks:
            e.append("constraints", exp.ColumnConstraint(kind=exp.CheckColumnConstraint(this=check)))
    return DuckDB.Generator.columndef_sql(self, e)


def _halfvec_checks(column: exp.Expr, kind: exp.DataType) -> list[exp.Expr]:
    """What DuckDB itself keeps out of a halfvec column: NaN (greater than any number to DuckDB) and
    values past float16's range (vsql rounds the values it writes)."""
    values = exp.Anonymous(this="struct_extract", expressions=[column, exp.Literal.string(HALF_FIELD)])
    bound = exp.Literal.number(65504)
    return [exp.And(this=exp.LTE(this=exp.Anonymous(this="list_max", expressions=[values]), expression=bound),
                    expression=exp.GTE(this=exp.Anonymous(this="list_min", expressions=[values.copy()]),
                                       expression=exp.Neg(this=bound.copy())))]


def _bit_checks(column: exp.Expr, kind: exp.DataType) -> list[exp.Expr]:
    """bit(n) holds strings of n bits exactly; varbit (and bit(n) cast from a longer string, which
    PostgreSQL truncates) vsql leaves to DuckDB's BIT."""
    if not kind.expressions:
        return []
    size = exp.Anonymous(this="bit_length", expressions=[column])
    return [exp.EQ(this=size, expression=exp.Literal.number(int(kind.expressions[0].this.name)))]


def _sparsevec_checks(column: exp.Expr, kind: exp.DataType) -> list[exp.Expr]:
    """A sparsevec(n) column holds sparsevecs of n dimensions: the CHECK that says so is also where
    `DuckDBEngine.tables` reads its n (the struct's type is the same for every dimension)."""
    if not kind.expressions:
        return []
    dim = exp.Anonymous(this="struct_extract", expressions=[column, exp.Literal.string("sparsevec_dim")])
    return [exp.EQ(this=dim, expression=exp.Literal.number(int(kind.expressions[0].this.name)))]


# pgvector type -> the CHECKs its columns get beyond `vector`'s (see _column_def)
_COLUMN_CHECKS = {"halfvec": _halfvec_checks, "bit": _bit_checks, d.SPARSE: _sparsevec_checks}
# pgvector type -> its DuckDB storage, by dimension
STORAGE = {
    "vector": vector_type,
    "halfvec": lambda dim: exp.DataType.build(f"STRUCT({HALF_FIELD} FLOAT[{dim or ''}])",
                                              dialect="duckdb"),
    "bit": lambda dim: exp.DataType.build("BIT", dialect="duckdb"),
    d.SPARSE: lambda dim: _sparse_type(),
}


def _datatype(self, e: exp.DataType) -> str:
    kind = d.type_kind(e)
    if kind is not None:
        dims = e.expressions
        return DuckDB.Generator.datatype_sql(self, STORAGE[kind](int(dims[0].this.name) if dims and kind != "bit" else 0))
    return DuckDB.Generator.datatype_sql(self, e)


def _ordered(self, e: exp.Ordered) -> str:
    """ORDER BY a sparsevec sorts as pgvector does, by a sort key (DuckDB's own order of the struct
    would put the dimension first; see vsql_sparsevec_key for where the two differ)."""
    if _sparse(e.this):
        e = e.copy()
        e.set("this", _sparse_key(e.this))
    return DuckDB.Generator.ordered_sql(self, e)


_SERIALS = {exp.DType.SMALLSERIAL: "SMALLINT", exp.DType.SERIAL: "INTEGER", exp.DType.BIGSERIAL: "BIGINT"}


def _serials_to_sequences(tree: exp.Expr) -> list[exp.Expr]:
    """PostgreSQL's serial columns as DuckDB sequences: returns the CREATE SEQUENCEs to run first."""
    if not isinstance(tree, exp.Create) or not isinstance(tree.this, exp.Schema):
        return []
    sequences = []
    for column in tree.this.expressions:
        kind = column.args.get("kind") if isinstance(column, exp.ColumnDef) else None
        if kind is None or kind.this not in _SERIALS:
            continue
        name = f"{tree.this.this.name}_{column.name}_seq"
        column.set("kind", exp.DataType.build(_SERIALS[kind.this]))
        default = exp.Anonymous(this="nextval", expressions=[exp.Literal.string(name)])
        column.append("constraints", exp.ColumnConstraint(kind=exp.DefaultColumnConstraint(this=default)))
        sequences.append(exp.Create(this=exp.to_table(name), kind="SEQUENCE", exists=True))
    return sequences


class DuckDBTarget(DuckDB):
    """DuckDB SQL with vsql's vector nodes lowered to native functions and UDF calls."""

    class Generator(DuckDB.Generator):
        TRANSFORMS = {
            **DuckDB.Generator.TRANSFORMS,
            **{node: _distance for node in _PAIRS},
            **{node: _udf for node in _UDF},
            d.VectorDims: lambda self, e: self.func("len", e.this),
            d.VectorNorm: _norm,
            d.Embed: _embed,
            d.Subvector: _subvector,
            d.VectorConcat: _concat,
            d.VectorAvg: _aggregate("vsql_vector_avg"),
            d.VectorSum: _aggregate("vsql_vector_sum"),
            d.VectorLiteral: _literal,
            d.SparseLiteral: _sparse_literal,
            exp.Ordered: _ordered,
            d.VectorCast: _cast,
            d.VectorConvert: _convert,
            Box: _box,
            Unbox: _unbox,
            **{node: _bit_distance(name) for name, node in d.BIT_DISTANCES.items()},
            d.BinaryQuantize: _binary_quantize,
            exp.BitString: lambda self, e: self.sql(exp.cast(exp.Literal.string(e.this), "BIT")),
            **{node: _compare(DuckDB.Generator.TRANSFORMS.get(node) or getattr(DuckDB.Generator, f"{node.key}_sql"))
               for node in (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)},
            exp.ColumnDef: _column_def,
            exp.DataType: _datatype,
            d.Explain: lambda self, e: f"EXPLAIN {'ANALYZE ' if e.args.get('analyze') else ''}{self.sql(e.this)}",
        }


_TARGET = DuckDBTarget()


def to_sql(tree: exp.Expr) -> list[str]:
    """DuckDB statements for an analysed one; constructs DuckDB cannot run raise UnsupportedError."""
    if isinstance(tree, exp.Command):
        return [tree.sql(dialect=_TARGET)]
    tree = _boxed(tree)
    prelude = _serials_to_sequences(tree)
    return [_TARGET.generate(s, unsupported_level=ErrorLevel.RAISE) for s in [*prelude, tree]]


# -- DuckDB's distances, bit for bit ------------------------------------------------------------


def reproduces(metric: str) -> bool:
    """Whether `engine_distances` gives DuckDB's distances for `metric`."""
    return metric in DISTANCES and DISTANCES[metric].terms is not None


def engine_distances(metric: str, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """What DuckDB's function for `metric` (`array_distance` for "l2", ...) gives for each (query,
    row) pair, bit for bit, as float32: so that an answer taken from an index alone shows the
    distances the statement itself would (see `reproduces`).

    DuckDB's kernels (core_functions/array_kernels.hpp) add one float32 term per dimension, in
    order, `acc += x * y` (L2: the difference first, in float32, then its square), and take the
    square root in float32. NumPy's sums are pairwise and Faiss's are SIMD: neither agrees. How the
    engine was compiled decides whether `x * y` and the addition round once (fused, FMA) or twice;
    `_fused` asks it once.
    """
    lowering = DISTANCES[metric]
    terms, other = lowering.terms(np.asarray(queries, np.float32), np.asarray(rows, np.float32))
    if not len(terms):
        return np.empty(0, np.float32)
    sums = _fused_sums(terms, other) if _fused() else np.cumsum(terms * other, axis=1, dtype=np.float32)[:, -1]
    return lowering.finish(sums)


def _fused_sums(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row sums of a * b, one fused multiply-add per dimension in order, rounded to float32 each
    step. The product of two float32 is exact in float64, so a step is the float64 sum rounded to
    float32; that rounds twice only when the float64 sum lands on a float32 midpoint (or a
    subnormal), which the rows where it happened redo exactly (`_fma`)."""
    products = (a.astype(np.float64) * b).T.copy()  # dimension-major: each step reads a contiguous row
    steps = np.empty_like(products)
    acc = np.zeros(len(a), np.float32)
    with np.errstate(over="ignore"):
        for j in range(len(products)):
            np.add(acc, products[j], out=steps[j])
            acc = steps[j].astype(np.float32)
    midpoint = (steps.view(np.int64) & ((1 << 29) - 1)) == 1 << 28
    subnormal = (np.abs(steps) < 2.0 ** -126) & (steps != 0)
    suspect = (midpoint | subnormal).any(axis=0)
    for i in np.flatnonzero(suspect):
        exact = np.float32(0)
        for x, y in zip(a[i], b[i]):
            exact = _fma(x, y, exact)
        acc[i] = exact
    return acc


def _fma(x: np.float32, y: np.float32, acc: np.float32) -> np.float32:
    """float32(x * y + acc) rounded once: the float64 sum rounded to odd (TwoSum's error decides
    the last bit), which then rounds to float32 as the exact sum would."""
    p, c = float(x) * float(y), float(acc)
    s = p + c
    virtual = s - p
    error = (p - (s - virtual)) + (c - virtual)
    if error and not np.float64(s).view(np.int64) & 1:
        s = float(np.nextafter(s, np.inf if error > 0 else -np.inf))
    return np.float32(s)


@functools.cache
def _fused() -> bool:
    """Whether this DuckDB fuses its kernels' multiply-adds: -1 + (1 + 2^-12)^2 is 2^-11 + 2^-24
    fused, and 2^-11 when the product is rounded to float32 first."""
    value = duckdb.connect().execute(
        "SELECT array_inner_product([-1, $1]::FLOAT[2], [1, $1]::FLOAT[2])", [1 + 2.0 ** -12]).fetchall()[0][0]
    return value == 2.0 ** -11 + 2.0 ** -24
