"""Type vector expressions, validate them as pgvector would, and make them explicit.

Analysis is engine-neutral: it turns `+` between vectors into `VectorAdd`, string and array
literals next to vectors into checked `VectorLiteral`s, bound vectors into `VectorCast`s, and
records each vector expression's dimension in `meta["vdim"]` (0 when known only at run time) and
its pgvector type in `meta["vtype"]` ("halfvec", "sparsevec"; absent for `vector`). A sparsevec
literal becomes a checked `SparseLiteral`, and a value made a sparsevec at run time a `VectorCast`
whose `meta["sparse_from"]` says whether it is read from text, a list's dense values or a bound struct. An
engine then lowers these nodes into its own functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from vsql.errors import ProgrammingError, VectorError
from vsql.sql import dialect as d
from vsql.sql import vectors
from vsql.sql.names import pg_column_names

if TYPE_CHECKING:  # the engine's catalog is handed in: analysing a statement loads no engine
    from vsql.engine.catalog import Catalog, TableInfo

UNKNOWN = 0  # a vector whose dimension only the engine knows


@dataclass
class Analysis:
    tree: exp.Expr
    vector_params: set[int | str] = field(default_factory=set)


def param_key(node: exp.Expr) -> int | str | None:
    """The key of a bound parameter: its 0-based position for $n, its name for $name / :name."""
    if isinstance(node, exp.Parameter):
        inner = node.this
        if isinstance(inner, exp.Literal) and not inner.is_string:
            return int(inner.this) - 1
        return inner.name if inner is not None else None
    if isinstance(node, exp.Placeholder) and node.name != "?":
        return node.name
    return None


def analyze(tree: exp.Expr, catalog: Catalog, params: Any = None) -> Analysis:
    return _Analyzer(pg_column_names(tree), catalog, params).run()


class _Analyzer:
    def __init__(self, tree: exp.Expr, catalog: Catalog, params: Any):
        self.tree = tree
        self.catalog = catalog
        self.params = params
        self.result = Analysis(tree)
        self.scope_of: dict[int, Scope] = {}
        try:
            for scope in traverse_scope(tree):
                for column in scope.columns:
                    self.scope_of[id(column)] = scope
        except Exception:  # noqa: BLE001 - scopes are a help for typing, not required
            self.scope_of = {}

    def run(self) -> Analysis:
        self._check_types()
        self.result.tree = self.visit(self.tree)
        return self.result

    # -- traversal -------------------------------------------------------------------------

    def visit(self, node: exp.Expr) -> exp.Expr:
        if node.meta_get("visited") or isinstance(node, exp.IndexParameters):
            return node  # an index's expression and WHERE are kept as written (IndexSpec analyses them)
        for child in list(node.iter_expressions()):
            self.visit(child)
        new, dim = self.rule(node)
        if new is not node:
            node.replace(new)
        new.meta["visited"] = True
        if dim is not None:
            new.meta["vdim"] = dim
            if "vtype" not in new.meta and (inner := _carrier(new)) is not None and kind(inner) != "vector":
                new.meta["vtype"] = kind(inner)
            if "models" not in new.meta:  # a vector made from vectors comes from their models
                new.meta["models"] = frozenset().union(*(_models(c) for c in new.iter_expressions()))
        return new

    def dim(self, node: exp.Expr) -> int | None:
        return self.visit(node).meta_get("vdim")

    def rule(self, node: exp.Expr) -> tuple[exp.Expr, int | None]:
        if isinstance(node, d.VectorLiteral):
            return node, len(node.values)
        if isinstance(node, d.SparseLiteral):
            return node, node.dim
        if isinstance(node, d.BitDistanceOp):  # bit strings: the engine checks their lengths
            vector = next((side for side in (node.this, node.expression) if side.meta_get("vdim") is not None), None)
            if vector is not None:
                raise ProgrammingError(f"operator does not exist: {kind(vector)} {node.operator} bit")
            return node, None
        if isinstance(node, d.BinaryQuantize):
            _no_sparse(node.this, "function binary_quantize({})")
            node.set("this", self.to_vector(node.this, None, kind(node.this)))
            return node, None
        if isinstance(node, d.VectorOp):
            return self.vector_op(node)
        if isinstance(node, exp.Cast):
            return self.cast(node)
        if isinstance(node, exp.Column):
            return node, self.column_dim(node)
        if isinstance(node, (exp.Parameter, exp.Placeholder)):
            key = param_key(node)
            if key is not None and vectors.is_vector_value(self.param(key)):
                return self.to_vector(node, None), len(self.param(key))
            return node, None
        if isinstance(node, (exp.Alias, exp.Paren)):
            return node, node.this.meta_get("vdim")
        if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select):
            selects = node.this.selects
            if len(selects) == 1:
                node.meta["models"] = _models(selects[0])
            return node, selects[0].meta_get("vdim") if len(selects) == 1 else None
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.DPipe)):
            return self.arithmetic(node)
        if isinstance(node, (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)):
            self.pair(node, "this", "expression", "compare")
            return node, None
        if isinstance(node, exp.In) and kind(node.this) == d.SPARSE and node.this.meta_get("vdim") is not None:
            for item in [e for e in node.expressions if _coercible(e)]:  # DuckDB reads no sparsevec from text
                item.replace(self.to_vector(item.copy(), None, d.SPARSE))
            return node, None
        if isinstance(node, (exp.Avg, exp.Sum)) and node.this.meta_get("vdim") is not None:
            _no_sparse(node.this, f"function {node.key}({{}})")
            agg = d.VectorAvg if isinstance(node, exp.Avg) else d.VectorSum
            return agg(this=node.this), node.this.meta_get("vdim")
        if isinstance(node, exp.Insert):
            self.insert_values(node)
        if isinstance(node, (exp.Insert, exp.Update)):
            self.written_models(node)
        return node, None

    # -- rules -----------------------------------------------------------------------------

    def vector_op(self, node: d.VectorOp) -> tuple[exp.Expr, int | None]:
        if isinstance(node, d.Embed):
            return self.embed(node)
        if isinstance(node, (d.DistanceOp, d.InnerProduct)):
            self.same_model(node.this, node.expression)  # the clearer error, before any of dimensions
            self.pair(node, "this", "expression", "distance")
            return node, None
        if isinstance(node, (d.VectorAdd, d.VectorSub, d.VectorMul, d.VectorConcat)):
            for side in (node.this, node.expression):  # pgvector has no arithmetic on sparsevec
                _no_sparse(side, f"operator does not exist: {{}} {_SYMBOLS[type(node)]} {{}}")
            left, right = self.pair(node, "this", "expression", "element-wise")
            _kind(node, kind(node.this))
            if isinstance(node, d.VectorConcat):
                return node, left + right if left and right else UNKNOWN
            return node, left or right
        if isinstance(node, (d.VectorDims, d.Subvector)):
            _no_sparse(node.this, "function vector_dims({})" if isinstance(node, d.VectorDims)
                       else "function subvector({}, integer, integer)")
        arg = self.to_vector(node.this, None, kind(node.this))
        node.set("this", arg)
        dim = arg.meta_get("vdim")
        if not isinstance(node, d.VectorCast):
            _kind(node, kind(arg))
        if isinstance(node, (d.VectorDims, d.VectorNorm, d.VectorToText)):
            return node, None
        if isinstance(node, d.Subvector):  # pgvector clamps the range to the vector (lowering's _subvector)
            start, count = (_number(node.args[part]) for part in ("start", "count"))
            if count is not None and count < 1:
                raise VectorError("vector must have at least 1 dimension")
            if start is None or count is None or not dim:
                return node, UNKNOWN
            kept = min(int(start) + int(count), dim + 1) - max(int(start), 1)
            if kept < 1:
                raise VectorError("vector must have at least 1 dimension")
            return node, kept
        return node, dim  # L2Normalize, VectorAvg, VectorSum, VectorCast

    def embed(self, node: d.Embed) -> tuple[exp.Expr, int | None]:
        name = node.this
        if not (isinstance(name, exp.Literal) and name.is_string):
            raise ProgrammingError(f"embed() takes the model's name as a string literal, not {name.sql()}")
        model = self.catalog.model(name.this)
        node.meta["model"] = model
        node.meta["models"] = frozenset([model.label])
        return node, model.dim

    def same_model(self, left: exp.Expr, right: exp.Expr) -> None:
        """A column bound to a model meets only vectors `embed` makes with that model."""
        for column, other in ((left, right), (right, left)):
            if isinstance(column, exp.Column) and _models(other):
                bound = self.column_model(column)
                other_models = sorted(_models(other) - {bound})
                if bound is not None and other_models:
                    raise ProgrammingError(f'{column.sql()} holds vectors of model "{bound}", and this vector comes '
                                           f'from model "{other_models[0]}": vectors of different models do not compare')

    def column_type(self, column: exp.Column) -> str | None:
        """The engine's type of a table's column ('FLOAT[]'), None if no table of the statement has it."""
        for table in self.tree.find_all(exp.Table):
            if column.table in ("", table.alias_or_name):
                info = self.table_info(table)
                if info is not None and column.name.lower() in info.columns:
                    return info.columns[column.name.lower()]
        return None

    def column_model(self, column: exp.Column) -> str | None:
        for table in self.tree.find_all(exp.Table):
            if column.table in ("", table.alias_or_name):
                info = self.table_info(table)
                if info is not None and column.name.lower() in info.columns:
                    return self.catalog.column_model(info.name, column.name)
        return None

    def cast(self, node: exp.Cast) -> tuple[exp.Expr, int | None]:
        to, child = node.to, node.this
        target = d.type_kind(to)
        if target in d.VECTOR_KINDS or target == d.SPARSE:
            vector = self.to_vector(child, _declared_dim(to, target), target)
            return vector, vector.meta_get("vdim")
        if kind(child) == d.SPARSE and child.meta_get("vdim") is not None and to.this not in exp.DataType.TEXT_TYPES:
            raise ProgrammingError(f"cannot cast type sparsevec to {to.sql(dialect='postgres').lower()}")
        if target == "bit" and to.expressions and isinstance(child, exp.Literal) and child.is_string:
            want = int(to.expressions[0].this.name)  # an explicit cast pads with 0s or truncates, as PostgreSQL's
            child.set("this", child.this[:want].ljust(want, "0"))
        if child.meta_get("vdim") is not None and to.this in exp.DataType.TEXT_TYPES:
            return d.VectorToText(this=child), None
        return node, None

    def arithmetic(self, node: exp.Binary) -> tuple[exp.Expr, int | None]:
        if node.this.meta_get("vdim") is None and node.expression.meta_get("vdim") is None:
            return node, None
        kind = {exp.Add: d.VectorAdd, exp.Sub: d.VectorSub, exp.Mul: d.VectorMul, exp.DPipe: d.VectorConcat}
        vector_node = kind[type(node)](this=node.this, expression=node.expression)
        return self.vector_op(vector_node)

    def pair(self, node: exp.Expr, left_key: str, right_key: str, role: str) -> tuple[int, int]:
        """Make both sides of a binary vector operation vectors of one dimension."""
        left, right = node.args[left_key], node.args[right_key]
        ldim, rdim = left.meta_get("vdim"), right.meta_get("vdim")
        if role == "compare" and ldim is None and rdim is None:
            return 0, 0
        if role == "compare" and ldim is not None and rdim is None and not _coercible(right):
            return 0, 0
        if role == "compare" and rdim is not None and ldim is None and not _coercible(left):
            return 0, 0
        same_dim = not isinstance(node, d.VectorConcat)
        # pgvector casts vector to halfvec, and both to sparsevec, implicitly: the widest type wins
        kinds = {kind(left) if ldim is not None else None, kind(right) if rdim is not None else None}
        want = d.SPARSE if d.SPARSE in kinds else "halfvec" if "halfvec" in kinds else "vector"
        if want == d.SPARSE and role == "compare" and not isinstance(node.parent, exp.Update):
            same_dim = False  # pgvector compares sparsevecs of any dimensions (udfs' sparsevec_cmp)
        # a vector of another type converts whole, so that a dimension mismatch is named below
        if ldim is None or kind(left) != want:
            left = self.to_vector(left, rdim if same_dim and rdim and ldim is None else None, want)
            node.set(left_key, left)
            ldim = left.meta_get("vdim")
        if rdim is None or kind(right) != want:
            right = self.to_vector(right, ldim if same_dim and ldim and rdim is None else None, want)
            node.set(right_key, right)
            rdim = right.meta_get("vdim")
        if same_dim and ldim and rdim and ldim != rdim:
            raise VectorError(f"different {want} dimensions {ldim} and {rdim}")
        return ldim, rdim

    def to_vector(self, node: exp.Expr, want: int | None, vtype: str = "vector") -> exp.Expr:
        """`node` as a vector expression of `want` dimensions (None: any) and pgvector type `vtype`
        ("vector", "halfvec"), checked when constant."""
        have = node.meta_get("vdim")
        if have is not None:
            if want and have and have != want:
                raise VectorError(f"expected {want} dimensions, not {have}")
            if kind(node) != vtype and isinstance(node, (d.VectorLiteral, d.SparseLiteral)) and \
                    d.SPARSE in (vtype, kind(node)):
                return _convert_literal(node, vtype)  # a constant converts now, and fails as the cast would
            if kind(node) != vtype:
                if isinstance(node, d.VectorLiteral):  # a constant converts now, and fails as the cast would
                    values = vectors.check(np.asarray(node.values, np.float32), vtype)
                    return _mark(d.VectorLiteral(this=tuple(float(v) for v in values)), have, vtype)
                node = _mark(d.VectorConvert(this=node), have, vtype)
            if want and not have:
                return _mark(d.VectorCast(this=node, dim=exp.Literal.number(want)), want, vtype)
            return node
        if isinstance(node, exp.Null):
            node.meta["null"] = True
            return _mark(node, want or UNKNOWN, vtype)
        if vtype == d.SPARSE:
            return self.to_sparse(node, want)
        values = self.constant(node, vtype)
        if values is not None:
            if want and len(values) != want:
                raise VectorError(f"expected {want} dimensions, not {len(values)}")
            literal = d.VectorLiteral(this=tuple(float(v) for v in values))
            literal.meta["visited"] = True
            return _mark(literal, len(values), vtype)
        if isinstance(node, exp.Literal) or _number(node) is not None:
            raise ProgrammingError(f"operator does not exist: {node.sql()} is a number, not a vector")
        key = param_key(node)
        if key is not None and self.param(key) is None:  # None binds SQL's NULL (PEP 249)
            cast = _mark(d.VectorCast(this=node.copy(), dim=exp.Literal.number(want or UNKNOWN)), want or UNKNOWN, vtype)
            cast.meta["null"] = True
            return cast
        if key is not None:
            value = vectors.coerce(self.param(key), vtype)
            if want and len(value) != want:
                raise VectorError(f"expected {want} dimensions, not {len(value)}")
            self.result.vector_params.add(key)
            cast = d.VectorCast(this=node.copy(), dim=exp.Literal.number(len(value)))
            return _mark(cast, len(value), vtype)
        return _mark(d.VectorCast(this=node, dim=exp.Literal.number(want or UNKNOWN)), want or UNKNOWN, vtype)

    def to_sparse(self, node: exp.Expr, want: int | None) -> exp.Expr:
        """`node`, no vector expression yet, as a sparsevec of `want` dimensions (None: any): a
        literal checked now, a bound value checked when bound, anything else cast at run time from
        text, from a list's dense values (arrays, bound NumPy vectors) or, for a bound sparse vector,
        as the engine's struct it binds as (meta "sparse_from" tells lowering which)."""
        key = param_key(node)
        if isinstance(node, exp.Literal) and node.is_string:
            return _sparse_literal(vectors.parse_sparse(node.this, want))
        dense = None if key is not None else self.constant(node)
        if dense is not None:
            vectors.check_sparse_dim(len(dense), want)
            return _sparse_literal(vectors.sparse_from_dense(dense))
        if isinstance(node, exp.Literal) or _number(node) is not None:
            raise ProgrammingError(f"operator does not exist: {node.sql()} is a number, not a sparsevec")
        if key is not None and self.param(key) is None:  # None binds SQL's NULL (PEP 249)
            cast = d.VectorCast(this=node.copy(), dim=exp.Literal.number(want or UNKNOWN))
            _mark(cast, want or UNKNOWN, d.SPARSE).meta["null"] = True
            return cast
        source = "list" if isinstance(node, exp.Array) or (
            isinstance(node, exp.Cast) and node.to.is_type(exp.DType.ARRAY)) or (
            isinstance(node, exp.Column) and (self.column_type(node) or "").endswith("[]")) else "text"
        if key is not None:
            value = self.param(key)
            sparse = vectors.coerce_sparse(value, want)
            want = sparse.dimensions()
            source = "text" if isinstance(value, str) else "struct" if vectors.is_sparse_value(value) else "list"
            if source == "list":  # bound as a dense vector's float32 list (session's _bind)
                self.result.vector_params.add(key)
            node = node.copy()
        cast = _mark(d.VectorCast(this=node, dim=exp.Literal.number(want or UNKNOWN)), want or UNKNOWN, d.SPARSE)
        cast.meta["sparse_from"] = source
        return cast

    def constant(self, node: exp.Expr, vtype: str = "vector") -> np.ndarray | None:
        """The vector a literal spells ('[1,2]', ARRAY[1,2], ARRAY[1,2]::real[]), None if `node` is
        no literal. An array holding a NULL is refused, as pgvector refuses it."""
        if isinstance(node, exp.Literal) and node.is_string:
            return vectors.parse_text(node.this, vtype)
        array = node
        while isinstance(array, exp.Cast) and array.to.is_type(exp.DType.ARRAY):
            array = array.this
        if isinstance(array, exp.Array) and any(isinstance(e, exp.Null) for e in array.expressions):
            raise VectorError("array must not contain nulls")
        if array is not node and node.to.expressions and node.to.expressions[0].is_type(exp.DType.FLOAT, exp.DType.DOUBLE):
            node = array  # real[] and double precision[] keep the values a vector takes
        if isinstance(node, exp.Array) and node.expressions:
            numbers = [_number(e) for e in node.expressions]
            if all(n is not None for n in numbers):
                return vectors.check(np.asarray(numbers, dtype=np.float64), vtype)
        return None

    def insert_values(self, node: exp.Insert) -> None:
        """Check values bound for vector columns: string literals and parameters with pgvector's
        rules; and, for an unsized column, whose FLOAT[] no cast to FLOAT[n] checks, any other value
        (a real[], an array) with a cast's run-time checks, so that it fails as pgvector's cast does."""
        target, values = node.this, node.expression
        table_expr = target.this if isinstance(target, exp.Schema) else target
        if not isinstance(values, (exp.Values, exp.Select)) or not isinstance(table_expr, exp.Table):
            return
        info = self.catalog.of(table_expr)
        if info is None:
            return
        names = (
            [c.name for c in target.expressions] if isinstance(target, exp.Schema) else list(info.columns)
        )
        rows = [values.selects] if isinstance(values, exp.Select) else \
            [row.expressions if isinstance(row, exp.Tuple) else [row] for row in values.expressions]
        for row in rows:
            for name, value in zip(names, row):
                value = value.this if isinstance(value, exp.Alias) else value
                typed = info.vector_kind(name)
                typed = typed if typed is not None and (typed[0] in d.VECTOR_KINDS or typed[0] == d.SPARSE) else None
                if typed is None and not info.is_vector(name):
                    continue
                vtype, want = typed or ("vector", info.vector_dim(name))
                if value.meta_get("vdim") is not None and kind(value) == vtype:
                    continue
                if value.meta_get("vdim") is not None or _coercible(value) or (
                        not want and not isinstance(value, (exp.Null, exp.Var, exp.Star))):
                    value.replace(self.to_vector(value.copy(), want, vtype))  # a copy: to_vector may wrap its node

    def written_models(self, node: exp.Insert | exp.Update) -> None:
        """Vectors written to a column bound to a model must come from that model when `embed` makes them."""
        target = node.this.this if isinstance(node.this, exp.Schema) else node.this
        if not isinstance(target, exp.Table) or not self.catalog.models()[1]:
            return
        if isinstance(node, exp.Update):
            pairs = [(e.this.name, e.expression) for e in node.expressions if isinstance(e, exp.EQ)]
        else:
            source = node.expression
            info = self.table_info(target)
            names = [c.name for c in node.this.expressions] if isinstance(node.this, exp.Schema) else \
                list(info.columns) if info is not None else []
            if isinstance(source, exp.Values):
                rows = [r.expressions for r in source.expressions if isinstance(r, exp.Tuple)]
            else:  # a query: each SELECT of it (the branches of a UNION too)
                rows = [s.selects for s in ([source] if isinstance(source, exp.Select) else source.find_all(exp.Select))
                        if s.parent_select is None or s.parent_select is source]
            pairs = [(name, value) for row in rows for name, value in zip(names, row)]
        for name, value in pairs:
            value = value.this if isinstance(value, exp.Alias) else value
            column = exp.column(name, table=target.alias_or_name)
            self.same_model(column, value)

    # -- names -----------------------------------------------------------------------------

    def param(self, key: int | str) -> Any:
        try:
            return self.params[key]
        except (IndexError, KeyError, TypeError):
            raise ProgrammingError(f"no value bound for parameter {_param_label(key)}") from None

    def column_dim(self, column: exp.Column) -> int | None:
        scope = self.scope_of.get(id(column))
        while scope is not None:
            found = self.dim_in_sources(column, scope.sources)
            if found is not _MISSING:
                return found
            if not column.table:
                for projection in scope.expression.selects if isinstance(scope.expression, exp.Select) else []:
                    if projection.alias == column.name and projection.meta_get("visited"):
                        return projection.meta_get("vdim")
            scope = scope.parent
        tables = {t.alias_or_name.lower(): t for t in self.tree.find_all(exp.Table)}
        # derived tables and CTEs too, which sqlglot's scopes leave out of an UPDATE's SET
        tables.update({s.alias.lower(): s for s in self.tree.find_all(exp.Subquery, exp.CTE) if s.alias})
        found = self.dim_in_sources(column, tables)
        return None if found is _MISSING else found

    def dim_in_sources(self, column: exp.Column, sources: dict) -> Any:
        if column.table:
            chosen = [sources[column.table]] if column.table in sources else []
        else:
            chosen = list(sources.values())
        for source in chosen:
            if isinstance(source, exp.Table):
                info = self.table_info(source)
                if info is not None and column.name.lower() in info.columns:
                    typed = info.vector_kind(column.name)
                    if typed is not None and (typed[0] in d.VECTOR_KINDS or typed[0] == d.SPARSE):
                        column.meta["vtype"] = typed[0]
                        return typed[1]
                    if typed is not None:
                        return None  # a bit string
                    return UNKNOWN if column.name.lower() in info.unsized else info.vector_dim(column.name)
            elif isinstance(select := source.expression if isinstance(source, Scope) else source.this, exp.Select):
                for projection in select.selects:
                    if projection.alias_or_name == column.name:
                        dim = self.dim(projection)
                        column.meta["models"] = _models(projection)  # the column's values come from there
                        if dim is not None and kind(projection) != "vector":
                            column.meta["vtype"] = kind(projection)
                        return dim
        return _MISSING

    def table_info(self, table: exp.Table) -> TableInfo | None:
        return self.catalog.of(table)

    def _check_types(self) -> None:
        for dtype in self.tree.find_all(exp.DataType):
            vtype = d.type_kind(dtype)
            if vtype == d.SPARSE:
                if dtype.expressions and dtype.find_ancestor(exp.Alter):
                    # a sparsevec(n) column's dimension is a CHECK (lowering's _sparsevec_checks), which
                    # DuckDB cannot add to a table
                    raise ProgrammingError("vsql cannot add or retype a column to sparsevec(n): create the table "
                                           "with it, or add an unsized sparsevec column")
                _declared_dim(dtype, vtype)
                continue
            if vtype == "halfvec" and not dtype.expressions and dtype.find_ancestor(exp.ColumnDef):
                raise ProgrammingError(f"vsql has no unsized halfvec column: give a dimension, HALFVEC(n), n from 1 to {d.MAX_DIM}")
            if vtype in d.VECTOR_KINDS:
                if not dtype.expressions and dtype.find_ancestor(exp.Alter):
                    # the engine marks an unsized column when it creates its table (lowering's _column_def)
                    raise ProgrammingError(f"vsql cannot add or retype a column to unsized vector: create the "
                                           f"table with it, or give a dimension, VECTOR(n), n from 1 to {d.MAX_DIM}")
                _declared_dim(dtype, vtype)


_MISSING = object()
_SYMBOLS = {d.VectorAdd: "+", d.VectorSub: "-", d.VectorMul: "*", d.VectorConcat: "||"}


def _no_sparse(node: exp.Expr, signature: str) -> None:
    """pgvector defines no arithmetic, aggregate, vector_dims, subvector or binary_quantize on
    sparsevec: refused as PostgreSQL refuses a call of no such function or operator."""
    if kind(node) == d.SPARSE and node.meta_get("vdim") is not None:
        words = "" if signature.startswith("operator") else " does not exist"
        raise ProgrammingError(signature.format(*["sparsevec"] * signature.count("{}")) + words)


def _sparse_literal(value: vectors.SparseVector) -> exp.Expr:
    literal = d.SparseLiteral(this=(value.dimensions(), tuple(i + 1 for i in value.indices()), tuple(value.values())))
    return _mark(literal, value.dimensions(), d.SPARSE)


def _convert_literal(node: exp.Expr, vtype: str) -> exp.Expr:
    """A constant vector as a sparsevec, or a constant sparsevec as a dense `vtype`, checked as
    pgvector's casts check them."""
    if isinstance(node, d.VectorLiteral):
        return _sparse_literal(vectors.sparse_from_dense(np.asarray(node.values, np.float32)))
    if node.dim > d.MAX_DIM:
        raise VectorError(f"{vtype} cannot have more than {d.MAX_DIM} dimensions")
    dense = np.zeros(node.dim, np.float32)
    dense[np.asarray(node.indices, np.int64) - 1] = node.values
    values = vectors.check(dense, vtype)
    return _mark(d.VectorLiteral(this=tuple(float(v) for v in values)), node.dim, vtype)


def _declared_dim(dtype: exp.DataType, vtype: str = "vector") -> int | None:
    """The n of VECTOR(n) (None if unsized), checked: an integer from 1 to MAX_DIM, as pgvector takes."""
    if not dtype.expressions:
        return None
    text = dtype.expressions[0].this.name
    if vtype == d.SPARSE:  # pgvector's own words for sparsevec's typmod
        number = int(text) if re.fullmatch(r"-?[0-9]{1,12}", text) else None
        if number is not None and number < 1:
            raise VectorError("dimensions for type sparsevec must be at least 1")
        if number is None or number > d.MAX_SPARSE_DIM:
            raise VectorError(f"dimensions for type sparsevec cannot exceed {d.MAX_SPARSE_DIM}")
        return number
    if not re.fullmatch(r"[0-9]{1,6}", text) or not 1 <= int(text) <= d.MAX_DIM:
        raise VectorError(f"dimensions for type {vtype} must be between 1 and {d.MAX_DIM}, not {text}")
    return int(text)


def kind(node: exp.Expr) -> str:
    """The pgvector type of a vector expression: "vector" unless analysis marked another."""
    return node.meta_get("vtype") or "vector"


def _kind(node: exp.Expr, vtype: str) -> exp.Expr:
    if vtype != "vector":
        node.meta["vtype"] = vtype
    return node


def _carrier(node: exp.Expr) -> exp.Expr | None:
    """The expression whose vector a wrapper (alias, parentheses, scalar subquery) passes on."""
    if isinstance(node, (exp.Alias, exp.Paren)):
        return node.this
    if isinstance(node, (d.VectorAvg, d.VectorSum)):
        return node.this
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select) and len(node.this.selects) == 1:
        return node.this.selects[0]
    return None


def _models(node: exp.Expr) -> frozenset:
    """The embedding models (labels) whose `embed` made the vectors `node` carries."""
    return node.meta_get("models") or frozenset()


def _mark(node: exp.Expr, dim: int, vtype: str = "vector") -> exp.Expr:
    node.meta["vdim"] = dim
    node.meta["visited"] = True
    return _kind(node, vtype)


def _coercible(node: exp.Expr) -> bool:
    """Literals and parameters take their type from the vector beside them."""
    return (
        (isinstance(node, exp.Literal) and node.is_string)
        or isinstance(node, (exp.Array, exp.Parameter, exp.Placeholder))
    )


def _number(node: exp.Expr) -> float | None:
    sign = 1.0
    while isinstance(node, exp.Neg):
        sign, node = -sign, node.this
    if isinstance(node, exp.Literal) and not node.is_string:
        return sign * float(node.this)
    return None


def _param_label(key: int | str) -> str:
    return f"${key + 1}" if isinstance(key, int) else f":{key}"
