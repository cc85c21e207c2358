"""What an index is, as the planner sees it: its spec, read from `CREATE INDEX` and `ALTER INDEX`
with the method's options checked. Nothing here builds or searches an index, so planning a
statement loads neither Faiss nor an engine."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from vsql.errors import NotSupportedError, ProgrammingError
from vsql.index.methods import METHODS, Method
from vsql.sql.metrics import BY_OPCLASS, opclasses


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

    @property
    def metric(self) -> str:
        return BY_OPCLASS[self.opclass].name

    @property
    def access(self) -> Method:
        return METHODS[self.method]

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
    if not isinstance(target, exp.Opclass):
        raise ProgrammingError(f"data type vector has no default operator class for access method \"{method}\": "
                               f"name one of {', '.join(opclasses(method))}")
    column, opclass = target.this, target.expression.name.lower()
    if not isinstance(column, exp.Column):
        raise NotSupportedError(f"vsql indexes a plain vector column, not an expression ({column.sql()})")
    if opclass in BY_OPCLASS and opclass not in opclasses(method):
        raise ProgrammingError(f'operator class "{opclass}" does not exist for access method "{method}"')
    if opclass not in BY_OPCLASS:
        raise NotSupportedError(f"operator class \"{opclass}\" is not supported: use one of {', '.join(opclasses(method))}")
    info = catalog.of(table)
    if info is None:
        raise ProgrammingError(f'relation "{table.name}" does not exist')
    if info.temporary:
        raise NotSupportedError(f'vsql indexes on temporary tables are not supported ("{table.name}")')
    if info.vector_dim(column.name) is None:
        raise ProgrammingError(f'column "{column.name}" of "{table.name}" is not a vector column')
    options = METHODS[method].configure([(p.name, p.args["value"]) for p in params.args.get("with_storage") or []])
    name = index.name or f"{info.name}_{column.name}_idx"
    key = primary_key(info)
    spec = IndexSpec(name.lower(), info.name, column.name.lower(), key, method, opclass, options, schema=info.schema)
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


_KEY_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UINTEGER")  # fit the index's signed 64-bit keys


def primary_key(info) -> str:
    """The single integer primary key column of the table `info` (a TableInfo)."""
    if len(info.key) == 1 and info.columns.get(info.key[0]) in _KEY_TYPES:
        return info.key[0]
    raise NotSupportedError(
        f'vsql indexes need a single-column integer PRIMARY KEY on "{info.name}" (for example id BIGSERIAL PRIMARY KEY): '
        "index entries find their rows by it, since DuckDB's row ids move; it must fit a BIGINT "
        "(index keys are signed 64-bit: not UBIGINT or HUGEINT)"
    )


def settings_depth(spec: IndexSpec, settings) -> int | None:
    """The search depth a user set for this index's method (None: use the calibrated one)."""
    return settings.get(spec.access.depth_setting)
