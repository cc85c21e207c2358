"""Runs plans on DuckDB: lowers vsql's vector nodes to DuckDB SQL and executes it.

Vectors of known dimension are DuckDB `FLOAT[n]` arrays and use DuckDB's native, vectorised
array functions; vectors whose dimension is known only at run time are `FLOAT[]` lists and use
the list functions. What DuckDB lacks comes from the Arrow UDFs in `udfs/`.
"""

from __future__ import annotations

import warnings
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ErrorLevel

from udfs import vector_udfs

from . import dialect as d

# metric/function -> (array function for FLOAT[n], list function for FLOAT[])
_NATIVE = {
    d.L2Distance: ("array_distance", "list_distance"),
    d.NegativeInnerProduct: ("array_negative_inner_product", "list_negative_inner_product"),
    d.CosineDistance: ("array_cosine_distance", "list_cosine_distance"),
    d.InnerProduct: ("array_inner_product", "list_inner_product"),
}
_UDF = {
    d.L1Distance: "vsql_l1_distance",
    d.VectorAdd: "vsql_vector_add",
    d.VectorSub: "vsql_vector_sub",
    d.VectorMul: "vsql_vector_mul",
    d.L2Normalize: "vsql_l2_normalize",
    d.VectorToText: "vsql_vector_text",
}


def vector_type(dim: int) -> exp.DataType:
    return exp.DataType.build(f"FLOAT[{dim}]" if dim else "FLOAT[]", dialect="duckdb")


def _known(*nodes: exp.Expr) -> bool:
    return all(n.meta_get("vdim") for n in nodes)


def _as_vector(node: exp.Expr, dim: int) -> exp.Expr:
    return exp.Cast(this=node, to=vector_type(dim))


def _as_list(node: exp.Expr) -> exp.Expr:
    return _as_vector(node, 0) if node.meta_get("vdim") else node


def _distance(self, e: exp.Expr) -> str:
    array_fn, list_fn = _NATIVE[type(e)]
    if _known(e.this, e.expression):
        return self.func(array_fn, e.this, e.expression)
    return self.func(list_fn, _as_list(e.this), _as_list(e.expression))


def _udf(self, e: d.VectorOp) -> str:
    args = [e.this] + ([e.expression] if "expression" in e.arg_types else [])
    call = exp.Anonymous(this=_UDF[type(e)], expressions=args)
    dim = e.meta_get("vdim")
    return self.sql(call if dim is None else _as_vector(call, dim))


def _aggregate(name: str):
    def sql(self, e: d.VectorOp) -> str:
        call = exp.Anonymous(this=name, expressions=[exp.Anonymous(this="list", expressions=[e.this])])
        return self.sql(_as_vector(call, e.meta_get("vdim") or 0))

    return sql


def _embed(self, e: d.Embed) -> str:
    model = e.meta["model"]
    call = exp.Anonymous(this="vsql_embed", expressions=[
        exp.Literal.string(model.provider), exp.Literal.string(model.source), e.expression])
    return self.sql(_as_vector(call, model.dim))


def _norm(self, e: d.VectorNorm) -> str:
    fn = "array_inner_product" if _known(e.this) else "list_inner_product"
    return self.func("sqrt", self.func(fn, e.this, e.this))


def _subvector(self, e: d.Subvector) -> str:
    start, count = e.args["start"], e.args["count"]
    end = exp.Sub(this=exp.Add(this=start.copy(), expression=count.copy()), expression=exp.Literal.number(1))
    sliced = exp.Anonymous(this="list_slice", expressions=[e.this, start, end])
    return self.sql(_as_vector(sliced, e.meta_get("vdim") or 0))


def _concat(self, e: d.VectorConcat) -> str:
    joined = exp.Anonymous(this="list_concat", expressions=[e.this, e.expression])
    return self.sql(_as_vector(joined, e.meta_get("vdim") or 0))


def _literal(self, e: d.VectorLiteral) -> str:
    # DuckDB reads 0.0 as a DECIMAL, which has no -0; 0e0 is a DOUBLE, which keeps the sign
    array = exp.Array(expressions=[exp.Literal.number(repr(v) if v else f"{v:e}") for v in e.values])
    return self.sql(_as_vector(array, len(e.values)))


def _cast(self, e: d.VectorCast) -> str:
    return self.sql(_as_vector(e.this, int(e.args["dim"].this)))


def _column_def(self, e: exp.ColumnDef) -> str:
    """A vector column: FLOAT[n] that refuses NaN and infinities, as pgvector's type does.

    DuckDB cannot add a column with a CHECK constraint, so a vector column added by ALTER TABLE
    relies on vsql's own refusal of NaN in literals and bound vectors."""
    kind = e.args.get("kind")
    if kind is not None and kind.is_type(exp.DType.VECTOR) and not isinstance(e.parent, exp.Alter):
        finite = exp.Anonymous(
            this="isfinite",
            expressions=[exp.Anonymous(this="list_sum", expressions=[exp.column(e.name, quoted=True)])],
        )
        e = e.copy()
        e.append("constraints", exp.ColumnConstraint(kind=exp.CheckColumnConstraint(this=finite)))
    return DuckDB.Generator.columndef_sql(self, e)


def _datatype(self, e: exp.DataType) -> str:
    if e.is_type(exp.DType.VECTOR):
        dims = e.expressions
        return self.sql(vector_type(int(dims[0].this.this) if dims else 0))
    return DuckDB.Generator.datatype_sql(self, e)


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
            **{node: _distance for node in _NATIVE},
            **{node: _udf for node in _UDF},
            d.VectorDims: lambda self, e: self.func("len", e.this),
            d.VectorNorm: _norm,
            d.Embed: _embed,
            d.Subvector: _subvector,
            d.VectorConcat: _concat,
            d.VectorAvg: _aggregate("vsql_vector_avg"),
            d.VectorSum: _aggregate("vsql_vector_sum"),
            d.VectorLiteral: _literal,
            d.VectorCast: _cast,
            exp.ColumnDef: _column_def,
            exp.DataType: _datatype,
            d.Explain: lambda self, e: f"EXPLAIN {'ANALYZE ' if e.args.get('analyze') else ''}{self.sql(e.this)}",
        }


_TARGET = DuckDBTarget()


def to_sql(tree: exp.Expr) -> list[str]:
    """DuckDB statements for an analysed one; constructs DuckDB cannot run raise UnsupportedError."""
    if isinstance(tree, exp.Command):
        return [tree.sql(dialect=_TARGET)]
    prelude = _serials_to_sequences(tree)
    return [_TARGET.generate(s, unsupported_level=ErrorLevel.RAISE) for s in [*prelude, tree]]


class DuckDBExecutor:
    """Executes DuckDB SQL on one connection with vsql's UDFs registered."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        vector_udfs.register(con)

    def run(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        return self.con.execute(sql, params) if params else self.con.execute(sql)

    def arrow(self, sql: str, params: Any = None) -> pa.Table:
        """Run and fetch the whole result as Arrow."""
        return fetch_arrow(self.run(sql, params))

    def keys(self, sql: str, params: Any = None) -> np.ndarray:
        """Run a statement selecting one integer column and fetch it as a NumPy array (cheaper
        than Arrow, which DuckDB builds with a second statement)."""
        return np.asarray(next(iter(self.run(sql, params).fetchnumpy().values())), dtype=np.int64)


def fetch_arrow(cursor: duckdb.DuckDBPyConnection) -> pa.Table:
    with warnings.catch_warnings():
        # DuckDB warns that Arrow output from execute() copies: vsql's results are small or wanted whole.
        warnings.simplefilter("ignore")
        return cursor.to_arrow_table()
