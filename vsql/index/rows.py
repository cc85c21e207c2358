"""The other columns of an index's rows, kept beside it in memory.

A k-NN statement that selects plain columns beside the key and the distance is answered from the
index and this store, without a fetch statement: the engine runs one as a scan of the table
(DuckDB: 3-10 ms at 100k rows, growing with the table; taking 10 rows here costs about 0.05 ms).
The store holds the committed rows, as the shared index does (every row, those without a vector
too): it is read from the table on first use, learns each write vsql follows by key (`update`,
with the index), and is dropped whenever the table changed in ways vsql follows only by comparing
it with the index (then read again). A filter made of plain comparisons is evaluated on it too
(`where`): a value that changes on every request costs no statement.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

MAX_BYTES = 1 << 30  # a table whose other columns take more is fetched from the engine instead
_COMPACT = 0.05  # fold the rows written since into the sorted base once they are this share of it


def _kept(field: pa.Field) -> bool:
    """Columns whose values come back from Arrow as the engine's own would (numbers, text, dates)."""
    t = field.type
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_string(t)
            or pa.types.is_large_string(t) or pa.types.is_date(t) or (pa.types.is_timestamp(t) and t.tz is None))


class RowStore:
    """Rows by key: a base sorted by key, and the rows written since (`delta`), newest wins."""

    def __init__(self, table: pa.Table):
        """`table`: the key, then the columns to keep (those Arrow carries faithfully are kept)."""
        table = table.select([0] + [i for i, f in enumerate(table.schema) if i and _kept(f)])
        self.columns = tuple(table.schema.names[1:])
        self.schema = table.schema
        self._set_base(table)

    def _set_base(self, table: pa.Table) -> None:
        keys = table.column(0).to_numpy()
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order].astype(np.int64)
        self.unique = not np.any(self.keys[1:] == self.keys[:-1])  # False: identical rows share a key
        self.base = table.take(pa.array(order)).combine_chunks()
        self.gone = np.zeros(len(self.keys), bool)
        self.delta = self.base.slice(0, 0)
        self.delta_at: dict[int, int] = {}
        self._sorted: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # column -> (values sorted, their rows)

    def holds(self, columns) -> bool:
        return set(columns) <= set(self.columns)

    def take(self, keys: np.ndarray, columns) -> pa.Table | None:
        """The rows `keys`, in that order, with `columns`; None when any is missing (the caller
        fetches from the engine)."""
        keys = np.asarray(keys, np.int64)
        at = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        in_base = (at < len(self.keys)) & (self.keys[at] == keys) & ~self.gone[at] if len(self.keys) else \
            np.zeros(len(keys), bool)
        from_delta = [self.delta_at.get(int(k), -1) for k in keys[~in_base]]
        if any(i < 0 for i in from_delta):
            return None
        base = self.base.select(list(columns)).take(pa.array(at[in_base]))
        if not from_delta:
            return base
        delta = self.delta.select(list(columns)).take(pa.array(from_delta, pa.int64()))
        rows = pa.concat_tables([base, delta])
        placed = np.concatenate([np.flatnonzero(in_base), np.flatnonzero(~in_base)])
        return rows.take(pa.array(np.argsort(placed, kind="stable")))

    def update(self, changed: np.ndarray, fresh: pa.Table) -> None:
        """Rows `changed` were written; `fresh` holds those that still exist (key first)."""
        changed = np.asarray(changed, np.int64)
        at = np.searchsorted(self.keys, changed)
        hit = at < len(self.keys)
        hit[hit] = self.keys[at[hit]] == changed[hit]
        self.gone[at[hit]] = True
        fresh = fresh.select(list(self.schema.names)).cast(self.schema)
        written = fresh.column(0).to_numpy()
        self.unique = self.unique and len(np.unique(written)) == len(written)
        stale = set(changed.tolist())
        kept = [i for i, k in enumerate(self.delta.column(0).to_pylist()) if k not in stale]
        self.delta = pa.concat_tables([self.delta.take(pa.array(kept, pa.int64())), fresh]).combine_chunks()
        self.delta_at = {int(k): i for i, k in enumerate(self.delta.column(0).to_numpy())}
        if len(self.delta) > _COMPACT * max(len(self.keys), 1000):
            live = self.base.filter(pa.array(~self.gone))
            self._set_base(pa.concat_tables([live, self.delta]))

    def where(self, condition: exp.Expr, alias: str, values: dict | None) -> np.ndarray | None:
        """The keys of the rows where `condition` (a WHERE clause over this table, its parameters
        named `$name` in `values`) holds, by SQL's three-valued logic; None when it is not one
        evaluated here (other than comparisons, IN, BETWEEN, IS NULL, AND, OR and NOT of the
        store's integer, text and boolean columns with constants of the same kind)."""
        values = values or {}
        try:
            rows = self._sorted_rows(condition, alias, values)
            if rows is None:
                rows = np.flatnonzero(_truth(condition, self.base, alias, values))
            delta = _truth(condition, self.delta, alias, values)
        except (_Unsupported, pa.ArrowException, OverflowError):
            return None
        rows = rows[~self.gone[rows]]
        return np.concatenate([self.keys[rows], self.delta.column(0).to_numpy()[delta]]).astype(np.int64)

    def _sorted_rows(self, condition: exp.Expr, alias: str, values: dict) -> np.ndarray | None:
        """The base rows where `condition` holds when it bounds one column (`col = ?`, `col >= ?
        AND col < ? + 100`, `BETWEEN`), found by binary search in the column sorted once: a
        per-request tenant or range costs O(log n + rows kept), not a pass over the rows; None
        for any other condition."""
        bounds, name = [], None
        for term in _conjuncts(condition):
            if isinstance(term, exp.Between) and not term.args.get("symmetric"):
                pairs = [(exp.GTE, term.this, term.args["low"]), (exp.LTE, term.this, term.args["high"])]
            elif type(term) in _BOUNDS:
                pairs = [(type(term), term.this, term.expression)]
            else:
                return None
            for op, column, constant in pairs:
                if not isinstance(column, exp.Column):
                    op, column, constant = _FLIPPED[op], constant, column
                if not isinstance(column, exp.Column) or name not in (None, column.name.lower()):
                    return None
                name = column.name.lower()
                _compare(pc.equal, column, constant, self.base.slice(0, 0), alias, values)  # a scan's checks
                bounds.append((op, _constant(constant, values)))
        if any(value is None for _, value in bounds):
            return np.empty(0, np.int64)  # a comparison with NULL holds for no row
        ordered, rows = self._sorted_column(name)
        low, high = 0, len(ordered)
        for op, value in bounds:
            left, right = _BOUNDS[op]
            if left:
                low = max(low, int(np.searchsorted(ordered, value, left)))
            if right:
                high = min(high, int(np.searchsorted(ordered, value, right)))
        return rows[low:high] if low < high else np.empty(0, np.int64)  # in the column's order: keys need none

    def _sorted_column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A column's non-NULL values in order, and the base rows holding them."""
        if name not in self._sorted:
            data = self.base.column(name)
            present = np.flatnonzero(data.is_valid().to_numpy(zero_copy_only=False))
            kept = data.take(pa.array(present)).to_numpy(zero_copy_only=False)
            order = np.argsort(kept, kind="stable")
            self._sorted[name] = (kept[order], present[order])
        return self._sorted[name]


def _conjuncts(condition: exp.Expr) -> list[exp.Expr]:
    while isinstance(condition, exp.Paren):
        condition = condition.this
    if isinstance(condition, exp.And):
        return _conjuncts(condition.this) + _conjuncts(condition.expression)
    return [condition]


# a comparison `column op constant` as bounds on the sorted column: searchsorted's side for the
# first row kept and for the first row past them
_BOUNDS = {exp.EQ: ("left", "right"), exp.GTE: ("left", None), exp.GT: ("right", None),
           exp.LTE: (None, "right"), exp.LT: (None, "left")}
_FLIPPED = {exp.EQ: exp.EQ, exp.LT: exp.GT, exp.GT: exp.LT, exp.LTE: exp.GTE, exp.GTE: exp.LTE}


class _Unsupported(Exception):
    pass


_COMPARE = {exp.EQ: pc.equal, exp.NEQ: pc.not_equal, exp.LT: pc.less, exp.LTE: pc.less_equal,
            exp.GT: pc.greater, exp.GTE: pc.greater_equal}


def _truth(condition: exp.Expr, table: pa.Table, alias: str, values: dict) -> np.ndarray:
    """Where `condition` is true (not false, not unknown) over the rows of `table`."""
    if not len(table):
        return np.zeros(0, bool)
    return pc.fill_null(_logic(condition, table, alias, values), False).to_numpy(zero_copy_only=False)


def _logic(node: exp.Expr, table: pa.Table, alias: str, values: dict):
    if isinstance(node, exp.Paren):
        return _logic(node.this, table, alias, values)
    if isinstance(node, exp.And):
        return pc.and_kleene(_logic(node.this, table, alias, values), _logic(node.expression, table, alias, values))
    if isinstance(node, exp.Or):
        return pc.or_kleene(_logic(node.this, table, alias, values), _logic(node.expression, table, alias, values))
    if isinstance(node, exp.Not):
        return pc.invert(_logic(node.this, table, alias, values))
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        null = pc.is_null(_column(node.this, table, alias))
        return pc.invert(null) if node.args.get("negate") else null
    if node.args.get("negate"):  # NOT LIKE and other negated forms this does not read
        raise _Unsupported
    if type(node) in _COMPARE:
        return _compare(_COMPARE[type(node)], node.this, node.expression, table, alias, values)
    if isinstance(node, exp.Between):
        return pc.and_kleene(_compare(pc.greater_equal, node.this, node.args["low"], table, alias, values),
                             _compare(pc.less_equal, node.this, node.args["high"], table, alias, values))
    if isinstance(node, exp.In) and node.expressions and not any(node.args.get(a) for a in ("query", "unnest", "field")):
        result = None
        for item in node.expressions:  # x IN (a, b) is x = a OR x = b, NULLs included
            equal = _compare(pc.equal, node.this, item, table, alias, values)
            result = equal if result is None else pc.or_kleene(result, equal)
        return result
    raise _Unsupported


def _compare(function, left: exp.Expr, right: exp.Expr, table: pa.Table, alias: str, values: dict):
    if not isinstance(left, exp.Column):
        left, right = right, left
        function = {pc.less: pc.greater, pc.greater: pc.less, pc.less_equal: pc.greater_equal,
                    pc.greater_equal: pc.less_equal}.get(function, function)
    column = _column(left, table, alias)
    value = _constant(right, values)
    kind = column.type
    if value is not None and not (
            (pa.types.is_integer(kind) and type(value) is int) or (pa.types.is_boolean(kind) and type(value) is bool)
            or ((pa.types.is_string(kind) or pa.types.is_large_string(kind)) and type(value) is str)):
        raise _Unsupported  # the engine's casts decide: 1.5 against an integer, '5' against a number
    return function(column, pa.scalar(value, kind if value is None else None))


def _column(node: exp.Expr, table: pa.Table, alias: str):
    if not isinstance(node, exp.Column) or node.table not in ("", alias) or node.name.lower() not in table.column_names:
        raise _Unsupported
    kind = table.schema.field(node.name.lower()).type
    if pa.types.is_floating(kind) or pa.types.is_temporal(kind):
        raise _Unsupported  # NaN's and time zones' rules are the engine's
    return table.column(node.name.lower())


def _constant(node: exp.Expr, values: dict):
    if isinstance(node, exp.Paren):
        return _constant(node.this, values)
    if isinstance(node, exp.Parameter) and node.name in values:
        return values[node.name]
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return node.this
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        if node.is_int:
            return int(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and node.this.is_int:
        return -int(node.this.this)
    if isinstance(node, (exp.Add, exp.Sub)):  # `r < ? + 100`: integers only, as the engine adds them
        left, right = _constant(node.this, values), _constant(node.expression, values)
        if type(left) is int and type(right) is int:
            return left + right if isinstance(node, exp.Add) else left - right
    raise _Unsupported
