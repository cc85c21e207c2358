"""k-NN searches in LATERAL as Spark's top-k join (4.2+): `JOIN t EXACT NEAREST k BY DISTANCE d`.

Spark refuses references to the outer query in a subquery's ORDER BY, so

    FROM queries q CROSS JOIN LATERAL (SELECT id, embedding <-> q.q AS d FROM items
                                       WHERE category = 'a' ORDER BY d LIMIT 3) n

runs as

    FROM queries q JOIN (SELECT * FROM items WHERE category = 'a') n
        EXACT NEAREST 3 BY DISTANCE named_struct('n', <d> IS NULL, 'd', <d>, 'k0', n.id)

(<d>: vector_l2_distance(n.embedding, q.q)), with the outer query's `n.d` replaced by the distance
over `n`'s columns. Spark leaves ties to chance; ranking by (NULL last, distance, key) breaks them
by the table's key. `LEFT JOIN LATERAL (...) ON
true` is Spark's `LEFT JOIN ... NEAREST`. Searches of other shapes are refused with the reason.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from vsql.errors import NotSupportedError
from vsql.sql import dialect as d

_MAX_K = 100_000  # Spark's bound on NEAREST k


class NearestJoin(exp.Expression):
    """`[LEFT] JOIN this EXACT NEAREST k BY DISTANCE ranking`."""

    arg_types = {"this": True, "k": True, "ranking": True, "left": False}


def nearest_join_sql(self, e: NearestJoin) -> str:
    side = "LEFT JOIN" if e.args.get("left") else "JOIN"
    return f"{self.seg(side)} {self.sql(e.this)} EXACT NEAREST {self.sql(e.args['k'])} BY DISTANCE " \
           f"{self.sql(e.args['ranking'])}"


def searches(lateral: exp.Lateral) -> bool:
    """Whether a LATERAL subquery orders by a distance (a k-NN search per outer row)."""
    return lateral.find(exp.Order) is not None and lateral.find(d.DistanceOp) is not None


def rewrite(tree: exp.Expr, columns_of: Callable[[exp.Table], tuple[tuple[str, ...], tuple[str, ...]] | None]) \
        -> exp.Expr:
    """`tree` with each LATERAL k-NN search as a NEAREST join; `columns_of(table)`: the table's
    columns and key (None: no such table)."""
    laterals = [j for j in tree.find_all(exp.Join) if isinstance(j.this, exp.Lateral) and searches(j.this)]
    if not laterals:
        return tree
    tree = tree.copy()
    for join in [j for j in tree.find_all(exp.Join) if isinstance(j.this, exp.Lateral) and searches(j.this)]:
        _replace(join, columns_of)
    return tree


def _refuse(why: str) -> NotSupportedError:
    return NotSupportedError(f"this k-NN search in LATERAL is not supported on the Spark engine: {why}")


def _replace(join: exp.Join, columns_of) -> None:
    lateral: exp.Lateral = join.this
    outer = join.parent
    inner = lateral.this.this if isinstance(lateral.this, exp.Subquery) else None
    left = join.side == "LEFT"
    if not isinstance(inner, exp.Select) or not isinstance(outer, exp.Select):
        raise _refuse("the searched query must be one SELECT")
    if join.side not in ("", None, "LEFT") or (left and join.args.get("on") != exp.true()) or \
            (not left and join.args.get("on") is not None) or join.args.get("using"):
        raise _refuse("only CROSS JOIN LATERAL and LEFT JOIN LATERAL ... ON true are")
    source = inner.args.get("from_")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or inner.args.get("joins") or any(
            inner.args.get(a) for a in ("group", "having", "distinct", "offset", "qualify", "windows", "with_")):
        raise _refuse("it must read one table, without joins, grouping, DISTINCT or OFFSET")
    found = columns_of(table)
    if found is None:
        raise _refuse(f"{table.name} is not a table")
    names, key = found
    limit = inner.args.get("limit")
    count = limit.expression if limit is not None else None
    if not (isinstance(count, exp.Literal) and count.is_int and 1 <= int(count.this) <= _MAX_K):
        raise _refuse(f"its LIMIT must be a number from 1 to {_MAX_K}")
    order = inner.args["order"].expressions
    ranking = order[0].this
    if isinstance(ranking, exp.Column) and not ranking.table:
        ranking = next((p.this for p in inner.selects if p.alias == ranking.name), ranking)
    if len(order) != 1 or order[0].args.get("desc") or not isinstance(ranking, d.DistanceOp):
        raise _refuse("it must be ordered by one distance, ascending")
    alias = lateral.alias_or_name
    inner_alias = table.alias_or_name
    # the searched table's columns, and its file metadata (`_metadata.file_path`: an index's restriction)
    mine = lambda c: c.table in (inner_alias, "_metadata") or (not c.table and c.name.lower() in names)  # noqa: E731
    where = inner.args.get("where")
    if where is not None and not all(mine(c) for c in where.find_all(exp.Column)):
        raise _refuse("its WHERE may use only the searched table's columns (Spark's NEAREST cannot filter by the "
                      "outer row)")

    def based(node: exp.Expr) -> exp.Expr:
        """An expression of the searched query over `alias`, the base relation of the join."""
        node = node.copy()
        for column in list(node.find_all(exp.Column)):
            if mine(column):
                column.set("table", exp.to_identifier(alias))
        return node

    base = exp.select("*").from_(table.copy())
    if where is not None:
        base.where(where.this.copy(), copy=False)
    # NULL distances last, as PostgreSQL orders them (a struct's NULL field sorts first), then the key
    rank = based(ranking)
    parts = [exp.Literal.string("n"), exp.Is(this=rank.copy(), expression=exp.Null()), exp.Literal.string("d"), rank]
    for i, column in enumerate(key):
        parts += [exp.Literal.string(f"k{i}"), exp.column(column, table=alias)]
    rank = exp.Anonymous(this="named_struct", expressions=parts)
    outputs = {}
    for projection in inner.selects:
        if isinstance(projection, exp.Star):
            raise _refuse("its SELECT list must name its outputs")
        outputs[projection.alias_or_name.lower()] = based(projection.unalias())
    if any(isinstance(e, exp.Star) or isinstance(e, exp.Column) and isinstance(e.this, exp.Star)
           for e in outer.expressions):
        raise _refuse("the outer SELECT must name the search's columns (no *)")
    scope = [*outer.expressions, *[outer.args.get(a) for a in ("where", "order", "group", "having")],
             *[other.args.get("on") for other in outer.args.get("joins") or [] if other is not join]]
    for part in [p for p in scope if p is not None]:
        for node in list(part.find_all(exp.Column)):
            name = node.name.lower()
            if name in outputs and (node.table == alias or not node.table):
                replacement = outputs[name].copy()
                node.replace(replacement if not (isinstance(node.parent, exp.Select) and node.arg_key == "expressions")
                             else exp.alias_(replacement, node.name))
    subquery = exp.Subquery(this=base, alias=exp.TableAlias(this=exp.to_identifier(alias)))
    join.replace(NearestJoin(this=subquery, k=count.copy(), ranking=rank, left=left))
