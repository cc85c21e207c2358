"""Lowers vsql's trees to Spark SQL: pgvector's operations on Spark's built-in vector functions.

A `vector(n)` is a Spark `ARRAY<FLOAT>`: Spark's arrays have no length in their type, so a
column's dimension lives in the table's properties (`vsql.dims`, read back by
`SparkEngine.tables`) and every INSERT checks the vectors it writes against it, with pgvector's
words (`expected 3 dimensions, not 2`). Spark (4.3+) computes distances with its own functions
over `ARRAY<FLOAT>` (`vector_l2_distance`, `vector_inner_product`, `vector_cosine_similarity`;
L1 has none: `aggregate(zip_with(...))`). What Spark cannot do as DuckDB does is refused with
`NotSupportedError` and the reason, before Spark sees it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.errors import ErrorLevel

from vsql.engine.spark import nearest
from vsql.errors import IntegrityError, NotSupportedError
from vsql.sql import dialect as d

# Table properties vsql writes on CREATE TABLE: vector column -> dimension (0: unsized `vector`),
# and the primary key's columns (Spark keeps constraints on no file table; vsql enforces only
# their NOT NULL on insert, not uniqueness).
DIMS_PROPERTY = "vsql.dims"
KEY_PROPERTY = "vsql.key"
NOT_NULL_PROPERTY = "vsql.not_null"

VECTOR = exp.DataType.build("ARRAY<FLOAT>", dialect="spark")
_DOUBLE = exp.DataType.build("DOUBLE")


@dataclass(frozen=True)
class Shape:
    """What lowering needs to know of a table: its columns in order, vector dimensions, the
    columns that must not be NULL (INSERT's checks), and its key (ties in LATERAL searches)."""

    columns: tuple[str, ...]
    dims: dict[str, int] = field(default_factory=dict)
    not_null: frozenset[str] = frozenset()
    key: tuple[str, ...] = ()


# -- vector operations ---------------------------------------------------------------------------


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _text(*parts: exp.Expr | str) -> exp.Expr:
    """Parts joined as a string: `concat('different vector dimensions ', size(a), ...)`."""
    return _call("concat", *[exp.Literal.string(p) if isinstance(p, str) else exp.cast(p, "STRING") for p in parts])


def _error(message: exp.Expr) -> exp.Expr:
    return _call("raise_error", message)


def _same_dims(a: exp.Expr, b: exp.Expr, then: exp.Expr) -> exp.Expr:
    """`then`, or pgvector's error when two vectors differ in length (zip_with would pad with NULLs)."""
    sizes = [_call("size", side.copy()) for side in (a, b)]
    message = _text("different vector dimensions ", sizes[0].copy(), " and ", sizes[1].copy())
    return exp.Case(ifs=[exp.If(this=exp.NEQ(this=sizes[0], expression=sizes[1]), true=_error(message))], default=then)


def _lambda(body: exp.Expr, *names: str) -> exp.Expr:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(n) for n in names])


def _zip(a: exp.Expr, b: exp.Expr, combine: Callable[[exp.Expr, exp.Expr], exp.Expr]) -> exp.Expr:
    return _call("zip_with", a, b, _lambda(combine(exp.column("x"), exp.column("y")), "x", "y"))


def _l1(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    """The sum of |x - y| in double, as pgvector sums it (Spark has no L1 built-in)."""
    terms = _zip(a, b, lambda x, y: exp.Abs(this=exp.cast(exp.Sub(this=x, expression=y), _DOUBLE)))
    total = _call("aggregate", terms, exp.cast(exp.Literal.number(0), _DOUBLE),
                  _lambda(exp.Add(this=exp.column("acc"), expression=exp.column("t")), "acc", "t"))
    return _same_dims(a, b, total)


# metric name -> its Spark expression over two ARRAY<FLOAT> (Spark checks their dimensions itself,
# but for L1's zip_with)
DISTANCES: dict[str, Callable[[exp.Expr, exp.Expr], exp.Expr]] = {
    "l2": lambda a, b: _call("vector_l2_distance", a, b),
    "ip": lambda a, b: exp.Neg(this=exp.paren(_call("vector_inner_product", a, b), copy=False)),
    "cosine": lambda a, b: exp.Sub(this=exp.Literal.number(1), expression=_call("vector_cosine_similarity", a, b)),
    "l1": _l1,
}
_ELEMENTWISE = {d.VectorAdd: exp.Add, d.VectorSub: exp.Sub, d.VectorMul: exp.Mul}


def _distance(self, e: d.DistanceOp) -> str:
    return self.sql(DISTANCES[e.metric](e.this, e.expression))


def _elementwise(self, e: d.VectorOp) -> str:
    node = _ELEMENTWISE[type(e)]
    combined = _zip(e.this, e.expression, lambda x, y: node(this=x, expression=y))
    return self.sql(_same_dims(e.this, e.expression, exp.cast(combined, VECTOR)))


def _literal(self, e: d.VectorLiteral) -> str:
    # double literals (`1.5D`) of float32-exact values: the cast to FLOAT is exact, and -0 keeps its sign
    values = [exp.Literal.number(f"{v!r}D") for v in e.values]
    return self.sql(exp.cast(exp.Array(expressions=values), VECTOR))


def _cast(self, e: d.VectorCast) -> str:
    """A value made a vector at run time, checked as pgvector's cast checks it: its length (bound
    parameters were checked when bound, vsql's own vectors need no check) and NULL elements."""
    dim = int(e.args["dim"].this)
    vector = exp.cast(e.this, VECTOR)
    if e.this.meta_get("vdim") is not None or isinstance(e.this, (exp.Parameter, exp.Placeholder)):
        return self.sql(vector)
    return self.sql(checked(vector, dim))


def checked(vector: exp.Expr, dim: int) -> exp.Expr:
    """`vector`, or pgvector's error: for its length (`dim` 0: any but none), NULL elements, NaN
    and infinities, which pgvector's type refuses and Spark's FLOAT holds."""
    size = _call("size", vector.copy())
    wrong = exp.LT(this=size.copy(), expression=exp.Literal.number(1)) if not dim else \
        exp.NEQ(this=size.copy(), expression=exp.Literal.number(dim))
    wording = _text("vector must have at least 1 dimension") if not dim else \
        _text(f"expected {dim} dimensions, not ", size.copy())
    bad = lambda test: _call("exists", vector.copy(), _lambda(test(exp.column("x")), "x"))  # noqa: E731
    not_finite = lambda x: exp.Or(this=_call("isnan", x),  # noqa: E731
                                  expression=exp.EQ(this=exp.Abs(this=x.copy()),
                                                    expression=exp.cast(exp.Literal.string("Infinity"), "FLOAT")))
    return exp.Case(ifs=[
        exp.If(this=wrong, true=_error(wording)),
        exp.If(this=bad(lambda x: exp.Is(this=x, expression=exp.Null())),
               true=_error(_text("array must not contain nulls"))),
        exp.If(this=bad(not_finite), true=_error(_text("NaN or infinite value not allowed in vector"))),
    ], default=vector)


def _refuse(what: str, why: str):
    def sql(self, e: exp.Expr) -> str:
        raise NotSupportedError(f"{what} is not supported on the Spark engine: {why}")

    return sql


# -- statements ----------------------------------------------------------------------------------


def _datatype(self, e: exp.DataType) -> str:
    kind = d.type_kind(e)
    if kind == "vector":
        return Spark.Generator.datatype_sql(self, VECTOR)
    if kind is not None:
        raise NotSupportedError(f"{kind} is not supported on the Spark engine yet: only vector columns are")
    if e.this in (exp.DType.SERIAL, exp.DType.BIGSERIAL, exp.DType.SMALLSERIAL):
        raise NotSupportedError("SERIAL and BIGSERIAL are not supported on the Spark engine: Spark has no "
                                "sequences; give the key's values")
    return Spark.Generator.datatype_sql(self, e)


def _placeholder(self, e: exp.Expr) -> str:
    """Spark binds named markers only by name: `$n` (vsql's numbering of `?` and `%s`) is `:pn`,
    and `SparkEngine.run` binds a sequence of parameters as p1, p2 ..."""
    from vsql.sql.analyze import param_key

    key = param_key(e)
    if key is None:
        raise NotSupportedError("a parameter without a number or a name is not supported on the Spark engine")
    return f":{parameter_name(key)}"


def parameter_name(key: int | str) -> str:
    return f"p{key + 1}" if isinstance(key, int) else key


class SparkTarget(Spark):
    """Spark SQL with vsql's vector nodes lowered to Spark's vector functions."""

    class Generator(Spark.Generator):
        TRANSFORMS = {
            **Spark.Generator.TRANSFORMS,
            **{node: _distance for node in d.DISTANCES.values()},
            d.InnerProduct: lambda self, e: self.sql(_call("vector_inner_product", e.this, e.expression)),
            d.VectorDims: lambda self, e: self.sql(_call("size", e.this)),
            d.VectorNorm: lambda self, e: self.sql(_call("vector_norm", e.this)),
            d.L2Normalize: lambda self, e: self.sql(_call("vector_normalize", e.this)),
            d.VectorAvg: lambda self, e: self.sql(_call("vector_avg", e.this)),
            d.VectorSum: lambda self, e: self.sql(_call("vector_sum", e.this)),
            d.VectorConcat: lambda self, e: self.sql(_call("concat", e.this, e.expression)),
            **{node: _elementwise for node in _ELEMENTWISE},
            d.VectorLiteral: _literal,
            d.VectorCast: _cast,
            d.VectorConvert: _refuse("halfvec", "only vector is, as ARRAY<FLOAT>"),
            d.VectorToText: _refuse("a vector's text (vector::text)", "Spark writes floats in Java's words"),
            d.Subvector: _refuse("subvector", "not lowered to Spark yet"),
            d.Embed: _refuse("embed", "vsql's embedding models live in a catalog Spark does not hold yet"),
            d.BinaryQuantize: _refuse("binary_quantize", "Spark has no bit strings"),
            **{node: _refuse("bit distances", "Spark has no bit strings") for node in d.BIT_DISTANCES.values()},
            exp.BitString: _refuse("bit strings", "Spark has none"),
            exp.DataType: _datatype,
            exp.Parameter: _placeholder,
            exp.Placeholder: _placeholder,
            d.Explain: lambda self, e: f"EXPLAIN {self.sql(e.this)}",
            nearest.NearestJoin: nearest.nearest_join_sql,
        }


_TARGET = SparkTarget()

# Statements Spark cannot run as DuckDB does, by node, with the reason.
_REFUSED = {
    exp.Transaction: "Spark has no transactions: every statement commits as it runs",
    exp.Commit: "Spark has no transactions: every statement commits as it runs",
    exp.Rollback: "Spark has no transactions: a statement's writes cannot be undone",
    exp.Update: "Spark's file tables (Parquet) cannot update rows in place",
    exp.Delete: "Spark's file tables (Parquet) cannot delete rows",
    exp.Merge: "Spark's file tables (Parquet) cannot merge rows",
}


def to_sql(tree: exp.Expr, shape: Callable[[exp.Table], Shape | None]) -> list[str]:
    """Spark statements for an analysed tree; `shape` tells an INSERT's target table's columns."""
    if isinstance(tree, exp.Command):
        return [tree.sql(dialect=_TARGET)]  # a statement sqlglot does not know: as written
    for node, why in _REFUSED.items():
        if isinstance(tree, node):
            word = {exp.Transaction: "BEGIN"}.get(node, tree.key.upper())
            raise NotSupportedError(f"{word} is not supported on the Spark engine: {why}")
    if isinstance(tree, exp.Create) and tree.kind == "INDEX":
        raise NotSupportedError("CREATE INDEX is not supported on the Spark engine but for vsql's own: USING hnsw or "
                                "ivfflat (vsql.engine.spark.ann); Spark's file tables have no other indexes")
    tree = nearest.rewrite(tree, lambda table: (found.columns, found.key) if (found := shape(table)) else None)
    if isinstance(tree, exp.Create) and tree.kind == "TABLE" and isinstance(tree.this, exp.Schema):
        tree = _create_table(tree)
    elif isinstance(tree, exp.Create) and tree.kind == "TABLE" and isinstance(tree.expression, exp.Select):
        tree = _with_properties(tree, {DIMS_PROPERTY: json.dumps(_vector_outputs(tree.expression))})
    elif isinstance(tree, exp.Insert):
        tree = _insert(tree, shape)
    return [_TARGET.generate(tree, unsupported_level=ErrorLevel.RAISE)]


def _create_table(tree: exp.Create) -> exp.Create:
    """The table without its key constraints (Spark's file tables hold none), its vector columns'
    dimensions, key and NOT NULL columns kept as table properties."""
    tree = tree.copy()
    schema = tree.this
    dims, key, not_null = {}, [], []
    for item in list(schema.expressions):
        if isinstance(item, exp.PrimaryKey):
            key.extend(c.name.lower() for c in item.expressions)
            item.pop()
        elif isinstance(item, exp.ColumnDef):
            kind = item.args.get("kind")
            if kind is not None and d.type_kind(kind) == "vector":
                dims[item.name.lower()] = int(kind.expressions[0].this.name) if kind.expressions else 0
            for constraint in list(item.args.get("constraints") or []):
                if isinstance(constraint.kind, exp.PrimaryKeyColumnConstraint):
                    key.append(item.name.lower())
                    constraint.pop()
                elif isinstance(constraint.kind, exp.NotNullColumnConstraint) and \
                        not constraint.kind.args.get("allow_null"):
                    not_null.append(item.name.lower())
                    constraint.pop()
        elif isinstance(item, (exp.Constraint, exp.UniqueColumnConstraint, exp.ForeignKey)):
            raise NotSupportedError(f"table constraints ({item.sql(dialect=d.VSQL)}) are not supported on the Spark "
                                    "engine: Spark's file tables hold none")
    return _with_properties(tree, {DIMS_PROPERTY: json.dumps(dims), KEY_PROPERTY: json.dumps(key),
                                   NOT_NULL_PROPERTY: json.dumps(sorted(set(not_null) | set(key)))})


def _with_properties(tree: exp.Create, values: dict[str, str]) -> exp.Create:
    tree = tree.copy()
    properties = tree.args.get("properties") or exp.Properties(expressions=[])
    for name, value in values.items():
        properties.append("expressions", exp.Property(this=exp.Literal.string(name), value=exp.Literal.string(value)))
    tree.set("properties", properties)
    return tree


def _vector_outputs(select: exp.Select) -> dict[str, int]:
    """CREATE TABLE ... AS SELECT: the vector columns it makes, by their dimension from analysis
    (`SELECT *` is not expanded: its vectors are Spark's arrays, not vsql's vectors)."""
    return {e.alias_or_name.lower(): e.meta["vdim"] for e in select.selects
            if e.meta_get("vdim") is not None and e.meta_get("vtype") in (None, "vector")}



def _insert(tree: exp.Insert, shape: Callable[[exp.Table], Shape | None]) -> exp.Insert:
    """The INSERT, its rows checked on their way in: vectors against their column's dimension,
    NOT NULL and key columns against NULL, as pgvector's type and PostgreSQL's constraints would
    refuse them (Spark's ARRAY<FLOAT> takes any length, and its file tables enforce no NOT NULL)."""
    target = tree.this
    table = target.this if isinstance(target, exp.Schema) else target
    if not isinstance(table, exp.Table):
        return tree
    if tree.args.get("returning") is not None or tree.args.get("conflict") is not None:
        raise NotSupportedError("INSERT ... RETURNING and ON CONFLICT are not supported on the Spark engine")
    found = shape(table)
    source = tree.expression
    if found is None or not isinstance(source, (exp.Query, exp.Values)):
        return tree
    names = [c.name.lower() for c in target.expressions] if isinstance(target, exp.Schema) else list(found.columns)
    checks = {n: found.dims[n] for n in names if n in found.dims}
    required = [n for n in names if n in found.not_null]
    missing = sorted(found.not_null - set(names))
    if missing:
        raise _not_null(missing[0], table.name)
    if not checks and not required:
        return tree
    aliases = [exp.to_identifier(f"c{i}") for i in range(len(names))]
    outputs = []
    for name, alias in zip(names, aliases):
        column: exp.Expr = exp.column(alias.copy())
        if name in checks:
            column = exp.Case(ifs=[exp.If(this=exp.Is(this=column.copy(), expression=exp.Null()), true=exp.null())],
                              default=checked(column.copy(), checks[name]))
        if name in required:
            message = f'null value in column "{name}" of relation "{table.name}" violates not-null constraint'
            column = exp.Case(ifs=[exp.If(this=exp.Is(this=exp.column(alias.copy()), expression=exp.Null()),
                                          true=_error(exp.Literal.string(message)))], default=column)
        outputs.append(exp.alias_(column, name, quoted=True))
    if isinstance(source, exp.Values):
        rows = exp.Values(expressions=source.expressions, alias=exp.TableAlias(this=exp.to_identifier("v"),
                                                                              columns=aliases))
        from_ = rows
    else:
        from_ = exp.Subquery(this=source.copy(), alias=exp.TableAlias(this=exp.to_identifier("v"), columns=aliases))
    tree = tree.copy()
    tree.set("expression", exp.select(*outputs).from_(from_))
    return tree


def _not_null(column: str, table: str) -> Exception:
    return IntegrityError(f'null value in column "{column}" of relation "{table}" violates not-null constraint')
