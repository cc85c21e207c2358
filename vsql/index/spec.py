"""What an index is, as the planner sees it: its spec, read from `CREATE INDEX` and `ALTER INDEX`
with the method's options checked. Nothing here builds or searches an index, so planning a
statement loads neither Faiss nor an engine."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from sqlglot import exp

from vsql.errors import NotSupportedError, ProgrammingError
from vsql.index.methods import METHODS, Method
from vsql.sql.analyze import analyze
from vsql.sql.dialect import VSQL, type_kind
from vsql.sql.names import column_name
from vsql.sql.metrics import OPCLASSES, default_opclass, opclasses


@dataclass(frozen=True)
class IndexSpec:
    name: str
    table: str
    column: str
    key: str
    method: str
    opclass: str
    options: dict
    version: int = 0
    token: str = ""
    schema: str = "main"
    predicate: str = ""  # a partial index's WHERE, in vsql's dialect ("": every row)
    # an expression index's expression over `column`, as written, in vsql's dialect ("": the column)
    expression: str = ""

    @property
    def identity(self) -> tuple[str, ...]:
        """The columns that identify the index's rows (see `row_key`)."""
        return key_columns(self.key)

    @property
    def hashed(self) -> bool:
        """Whether the key is a hash of columns (not the table's own integer key)."""
        return self.key.startswith("[")

    def key_of(self, table: str | None = None) -> exp.Expr:
        """The expression, over the table (aliased `table`), that gives a row's index key."""
        return key_expression(self.key, table)

    def condition(self, table: str | None = None) -> exp.Expr | None:
        """A partial index's WHERE, over the table (aliased `table`)."""
        if not self.predicate:
            return None
        condition = _parse_condition(self.predicate)
        if table:
            for column in condition.find_all(exp.Column):
                column.set("table", exp.to_identifier(table))
        return condition

    def implied_by(self, where: exp.Expr | None, alias: str) -> bool:
        """Whether a query's WHERE keeps only rows this index holds: every term of a partial
        index's predicate is one of the WHERE's AND-ed terms on this table (aliased `alias`),
        read syntactically: `cat = 1` implies `cat = 1 AND price < 9`, not `cat IN (1)`."""
        if not self.predicate:
            return True
        own = lambda term: all(c.table in ("", alias) for c in term.find_all(exp.Column))  # noqa: E731
        held = {_term(t) for t in _conjuncts(where) if own(t)} if where is not None else set()
        return all(_term(t) in held for t in _conjuncts(_parse_condition(self.predicate)))

    @property
    def metric(self) -> str:
        return OPCLASSES[self.opclass].metric.name

    @property
    def vtype(self) -> str:
        """The pgvector type the index holds ("vector", "halfvec", "bit")."""
        return OPCLASSES[self.opclass].type

    @property
    def source(self) -> str:
        """What searches must order by for this index to serve them: its expression or column."""
        return self.expression or self.column

    def indexed(self, table: str | None = None) -> exp.Expr:
        """The indexed value as written (before analysis), over the table (aliased `table`)."""
        node = exp.maybe_parse(self.expression, dialect=VSQL) if self.expression else exp.column(self.column)
        for column in node.find_all(exp.Column):
            column.set("this", exp.to_identifier(column.name, quoted=True))
            column.set("table", exp.to_identifier(table) if table else None)
        return node

    @property
    def access(self) -> Method:
        return METHODS[self.method]

    @property
    def lossless(self) -> bool:
        """Whether the index stores the rows' own vectors (no quantizer): see FaissIndex.lossless."""
        return self.access.keeps_vectors(self.options)

    def serves(self, info) -> bool:
        """Whether this index is on the table `info` (a TableInfo): same schema and name, and not
        a temporary table that shadows it."""
        return (not info.temporary and self.schema.lower() == info.schema.lower()
                and self.table.lower() == info.name.lower())


def parse_create(node: exp.Create, catalog) -> tuple[IndexSpec, bool, bool] | None:
    """The IndexSpec of `CREATE INDEX ... USING <a vsql method>`, whether IF NOT EXISTS was given,
    and whether the index was named; None for other indexes."""
    index = node.this
    params = index.args.get("params")
    using = params.args.get("using") if params is not None else None
    if using is None or using.name.lower() not in METHODS:
        return None
    method = using.name.lower()
    table = index.args["table"]
    columns = params.args.get("columns") or []
    if len(columns) != 1:
        raise NotSupportedError(f"a {method} index covers exactly one vector column")
    target = columns[0].this
    column, opclass = (target.this, target.expression.name.lower()) if isinstance(target, exp.Opclass) else (target, None)
    info = catalog.of(table)
    if info is None:
        raise ProgrammingError(f'relation "{table.name}" does not exist')
    if info.temporary:
        raise NotSupportedError(f'vsql indexes on temporary tables are not supported ("{table.name}")')
    expression = ""
    if not isinstance(column, exp.Column):
        column, expression = _expression(column.unnest(), info)
    elif column.name.lower() not in info.columns:
        raise ProgrammingError(f'column "{column.name}" does not exist')
    vtype, dim = indexed_type(IndexSpec("", info.name, column.name.lower(), "", method, "", {}, schema=info.schema,
                                        expression=expression), catalog, info)
    if opclass is None:
        opclass = default_opclass(method, vtype or "vector")
        if opclass is None:
            raise ProgrammingError(f'data type {vtype or "vector"} has no default operator class for access method '
                                   f'"{method}": name one of {", ".join(opclasses(method, vtype))}')
    if opclass not in opclasses(method):
        raise ProgrammingError(f'operator class "{opclass}" does not exist for access method "{method}"')
    if vtype is None and info.vector_dim(column.name) is None and not info.is_vector(column.name):
        raise ProgrammingError(f'column "{column.name}" of "{table.name}" is not a vector column')
    if vtype is not None and OPCLASSES[opclass].type != vtype:
        raise ProgrammingError(f'operator class "{opclass}" does not accept data type {vtype}')
    if not dim:
        raise ProgrammingError("column does not have dimensions")
    if vtype == "sparsevec" and dim > MAX_SPARSE_DIM:
        raise NotSupportedError(f"vsql indexes sparsevec columns of at most {MAX_SPARSE_DIM} dimensions (Faiss holds "
                                f"them dense, 4 bytes a dimension), not {dim}: a search over this one is exact")
    options = METHODS[method].configure([(p.name, p.args["value"]) for p in params.args.get("with_storage") or []])
    METHODS[method].fit(options, dim)
    where = params.args.get("where")
    predicate = _predicate(where.this, info) if where is not None else ""
    # PostgreSQL names an expression's index column as it names a result column (`binary_quantize`)
    named = column_name(exp.maybe_parse(expression, dialect=VSQL)) if expression else column.name
    name = index.name or f"{info.name}_{named if named != '?column?' else 'expr'}_idx"
    key = row_key(info)
    spec = IndexSpec(name.lower(), info.name, column.name.lower(), key, method, opclass, options, schema=info.schema,
                     predicate=predicate, expression=expression)
    return spec, bool(node.args.get("exists")), bool(index.name)


def alter_options(spec: IndexSpec, action: exp.Expr) -> dict:
    """The options of `ALTER INDEX name SET (option = value, ...)` over the index's current ones."""
    if not isinstance(action, exp.AlterSet) or not action.expressions:
        raise NotSupportedError(f'ALTER INDEX on a vsql index takes SET (option = value, ...): {", ".join(spec.access.options)}')
    pairs = []
    for item in action.expressions:
        if not isinstance(item, exp.EQ):
            raise ProgrammingError(f"expected option = value, not {item.sql()}")
        pairs.append((item.this.name, item.expression))
    return spec.access.configure(pairs, spec.options)


MAX_SPARSE_DIM = 16000  # as pgvector's indexed `vector`: past it, densifying costs more than a scan

_KEY_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UINTEGER")  # fit the index's signed 64-bit keys


def row_key(info) -> str:
    """How the index of table `info` (a TableInfo) names its rows, stored as `key_column`: the
    column itself when the primary key is one integer column that fits a BIGINT (Faiss's ids are
    the keys, looked up by the engine's index); otherwise a JSON list of the columns whose hash is
    the key: the primary key's columns (uuid, text, composite, UBIGINT), or, for a table without
    one, every column, so that only identical rows share a key. DuckDB's own row ids are no
    identity: CHECKPOINT renumbers them (FACTS.md)."""
    if len(info.key) == 1 and info.columns.get(info.key[0]) in _KEY_TYPES:
        return info.key[0]
    return json.dumps(list(info.key or info.columns))


def key_columns(key: str) -> tuple[str, ...]:
    return tuple(json.loads(key)) if key.startswith("[") else (key,)


def key_expression(key: str, table: str | None = None) -> exp.Expr:
    """A row's index key: its integer key column, or the engine's 64-bit hash of the identifying
    columns, shifted right once so that it fits a signed BIGINT (Faiss's ids)."""
    columns = [exp.column(c, table=table, quoted=True) for c in key_columns(key)]
    if not key.startswith("["):
        return columns[0]
    shifted = exp.BitwiseRightShift(this=exp.func("hash", *columns), expression=exp.Literal.number(1))
    return exp.cast(exp.paren(shifted, copy=False), exp.DataType.Type.BIGINT)


def indexed_type(spec: IndexSpec, catalog, info=None) -> tuple[str | None, int]:
    """The pgvector type and dimension of what `spec` indexes (None, 0 for no vector type); the
    dimension 0 when it has none (an unsized column, a bit string of no declared length)."""
    info = info or catalog.of(exp.table_(spec.table, spec.schema))
    if not spec.expression:
        if info.vector_dim(spec.column):
            return "vector", info.vector_dim(spec.column)
        kind = info.vector_kind(spec.column)
        return (kind[0], kind[1]) if kind else (("vector", 0) if info.is_vector(spec.column) else (None, 0))
    # as PostgreSQL: an expression's dimension is its type's, declared by a cast (`e::halfvec(3)`)
    node, written = analysed(spec, catalog), spec.indexed()
    vtype = node.meta_get("vtype") or ("vector" if node.meta_get("vdim") is not None else None)
    if isinstance(written, exp.Cast):
        vtype = type_kind(written.to) or vtype
        sizes = written.to.expressions
        return vtype, int(sizes[0].this.name) if sizes and vtype else 0
    return vtype, 0


def analysed(spec: IndexSpec, catalog, value: exp.Expr | None = None) -> exp.Expr:
    """An expression index's expression (or `value`, over the index's table) as analysis makes it
    (what the engine lowers, and what a query's ORDER BY is compared with), read in
    `SELECT <expression> FROM <table>`."""
    select = exp.select(spec.indexed() if value is None else value).from_(
        exp.table_(spec.table, spec.schema, quoted=True))
    node = analyze(select, catalog).tree.selects[0]
    return node.this if isinstance(node, exp.Alias) else node


def same_value(indexed: exp.Expr, searched: exp.Expr) -> bool:
    """Whether a query's analysed distance operand is the analysed indexed expression."""
    return (_term(indexed) == _term(searched) and indexed.meta_get("vtype") == searched.meta_get("vtype")
            and indexed.meta_get("vdim") == searched.meta_get("vdim"))


def _expression(node: exp.Expr, info) -> tuple[exp.Column, str]:
    """The column an expression index reads, and its expression as stored (PostgreSQL's rule: the
    table's own columns and constants; vsql's: exactly one column)."""
    if any(node.find(kind) for kind in (exp.Subquery, exp.Select, exp.Placeholder, exp.Parameter, exp.AggFunc)):
        raise ProgrammingError("an index expression may use only the table's own columns and constants")
    columns = {c.name.lower() for c in node.find_all(exp.Column)}
    missing = sorted(c for c in columns if c not in info.columns)
    if missing:
        raise ProgrammingError(f'column "{missing[0]}" does not exist')
    if len(columns) != 1:
        raise NotSupportedError(f"a vsql index expression reads exactly one column ({node.sql(dialect=VSQL)})")
    for column in node.find_all(exp.Column):
        column.set("table", None)
    return exp.column(columns.pop()), node.sql(dialect=VSQL)


def settings_depth(spec: IndexSpec, settings) -> int | None:
    """The search depth a user set for this index's method (None: use the calibrated one)."""
    return settings.get(spec.access.depth_setting)


def _predicate(condition: exp.Expr, info) -> str:
    """A partial index's WHERE as stored: over the table's own columns only, as PostgreSQL asks
    (no subquery, no parameter: a row's membership may not change unless the row does)."""
    if any(condition.find(kind) for kind in (exp.Subquery, exp.Select, exp.Placeholder, exp.Parameter)):
        raise ProgrammingError("a partial index's WHERE may use only the table's own columns and constants")
    for column in condition.find_all(exp.Column):
        if column.name.lower() not in info.columns:
            raise ProgrammingError(f'column "{column.name}" does not exist')
        column.set("table", None)
    return condition.sql(dialect=VSQL)


def _parse_condition(text: str) -> exp.Expr:
    return _parsed(text).copy()


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> exp.Expr:
    """A stored predicate, parsed once (it is read on every plan and every write)."""
    return exp.condition(text, dialect=VSQL)


def _conjuncts(condition: exp.Expr) -> list[exp.Expr]:
    condition = condition.unnest() if isinstance(condition, exp.Paren) else condition
    if isinstance(condition, exp.And):
        return _conjuncts(condition.this) + _conjuncts(condition.expression)
    return [condition]


def _term(term: exp.Expr) -> str:
    """A term compared without table qualifiers or letter case of names."""
    term = term.copy()
    for column in term.find_all(exp.Column):
        column.set("table", None)
        column.set("this", exp.to_identifier(column.name.lower()))
    return term.sql()
