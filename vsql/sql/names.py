"""Result column names as PostgreSQL gives them (its FigureColname), not as the engine would.

Unaliased, `vector_dims(embedding)` is headed `vector_dims` in PostgreSQL but `len(embedding)` in
DuckDB, which names a column after the SQL it was lowered to. So before analysis, each unaliased
projection of the outermost query (and of CREATE TABLE/VIEW ... AS) gets PostgreSQL's name as an
alias: a function call its function's name, a cast its argument's name (else the type's), CASE
`case`, an operator or a constant `?column?`. Plain columns keep theirs: the engine already
names them so, and the planner answers them from an index's row store as they are.
"""

from __future__ import annotations

from sqlglot import exp

from vsql.sql import dialect as d

UNNAMED = "?column?"

# Function-like syntax sqlglot parses into nodes of its own, without the name as written.
_SPECIAL = {
    exp.Case: "case",
    exp.Array: "array",
    exp.Exists: "exists",
    exp.Tuple: "row",
    exp.Substring: "substring",
    exp.StrPosition: "position",
    exp.Extract: "extract",
    exp.GroupConcat: "string_agg",
    exp.Interval: "interval",
    exp.Overlay: "overlay",
}
_TRIMS = {"LEADING": "ltrim", "TRAILING": "rtrim"}  # TRIM(...) calls btrim, ltrim or rtrim
# PostgreSQL's internal names of the types a cast names its column after.
_TYPES = {
    exp.DType.INT: "int4",
    exp.DType.BIGINT: "int8",
    exp.DType.SMALLINT: "int2",
    exp.DType.FLOAT: "float4",
    exp.DType.DOUBLE: "float8",
    exp.DType.BOOLEAN: "bool",
    exp.DType.DECIMAL: "numeric",
    exp.DType.CHAR: "bpchar",
    exp.DType.VARBINARY: "bytea",
    exp.DType.TIMESTAMPTZ: "timestamptz",
    exp.DType.USERDEFINED: None,  # its name as written (`halfvec`)
}
# A name's strength, as FigureColname weighs them: a cast's type name (1) gives way to its
# argument's name unless that is as weak (CASE) or missing (a constant).
_WEAK = {exp.Case}


def pg_column_names(tree: exp.Expr) -> exp.Expr:
    """`tree` with PostgreSQL's name as the alias of each unaliased projection of its outermost
    query (the leftmost SELECT of a set operation names the columns); a new tree if any changed."""
    query = tree.expression if isinstance(tree, exp.Create) else tree
    select = _leftmost(query) if isinstance(query, exp.Query) else None
    if select is None or not any(_needs_name(p) for p in select.selects):
        return tree
    tree = tree.copy()
    select = _leftmost(tree.expression if isinstance(tree, exp.Create) else tree)
    select.set("expressions", [
        exp.alias_(p, column_name(p), quoted=True) if _needs_name(p) else p for p in select.selects
    ])
    return tree


def column_name(node: exp.Expr) -> str:
    """PostgreSQL's name for an unaliased output expression."""
    return _figure(node)[0] or UNNAMED


def _leftmost(query: exp.Expr) -> exp.Select | None:
    while isinstance(query, (exp.SetOperation, exp.Subquery)):
        query = query.this
    return query if isinstance(query, exp.Select) else None


def _needs_name(projection: exp.Expr) -> bool:
    return not isinstance(projection, (exp.Alias, exp.Column, exp.Star))


def _figure(node: exp.Expr) -> tuple[str | None, int]:
    """(name, strength) as PostgreSQL's FigureColnameInternal: 2 for a name of its own, 1 for one
    a cast may override, 0 for none."""
    if isinstance(node, exp.Column):
        return (None, 0) if isinstance(node.this, exp.Star) else (_identifier(node.this), 2)
    if isinstance(node, exp.Dot):
        return _identifier(node.expression), 2
    if isinstance(node, (exp.Paren, exp.Bracket, exp.Window, exp.Filter, exp.Collate)):
        return _figure(node.this)
    if isinstance(node, exp.Cast):
        name, strength = _figure(node.this)
        return (name, strength) if strength > 1 else (_type_name(node.to), 1)
    if isinstance(node, exp.Subquery):  # a scalar subquery: its one column's name
        select = _leftmost(node.this)
        if select is None or not select.selects:
            return None, 0
        inner = select.selects[0]
        return (inner.alias if isinstance(inner, exp.Alias) else column_name(inner)), 2
    if isinstance(node, exp.Anonymous):
        return _identifier(node.this) if isinstance(node.this, exp.Identifier) else node.name.lower(), 2
    written = node.meta.get(d.VSQL.ORIGINAL_NAME_META_KEY) if node.meta else None
    if written:  # a function called by name: `l2_distance(a, b)`, not `a <-> b`
        return written.lower(), 2
    if isinstance(node, exp.Trim):
        return _TRIMS.get(node.text("position").upper(), "btrim"), 2
    special = next((name for kind, name in _SPECIAL.items() if isinstance(node, kind)), None)
    if special:
        return special, 1 if type(node) in _WEAK else 2
    if isinstance(node, exp.Func) and not isinstance(node, (exp.Binary, exp.Unary, d.VectorOp)):
        return node.sql_name().lower(), 2  # CURRENT_DATE, LOCALTIMESTAMP ...: keywords that are functions
    return None, 0  # constants and operators


def _identifier(node: exp.Expr) -> str:
    """A name as PostgreSQL folds it: unquoted identifiers to lower case."""
    if isinstance(node, exp.Identifier) and not node.quoted:
        return node.name.lower()
    return node.name


def _type_name(to: exp.DataType) -> str:
    while to.is_type(exp.DType.ARRAY) and to.expressions:  # real[] is named after real
        to = to.expressions[0]
    kind = to.this
    if isinstance(kind, exp.DType) and _TYPES.get(kind, "") is not None:
        return _TYPES.get(kind) or kind.value.lower()
    return to.sql(dialect=d.VSQL).split("(")[0].strip('"').lower()
