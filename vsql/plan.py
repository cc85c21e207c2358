"""Decide *what* runs: which statements are k-NN searches and how each is answered.

The plan is engine-neutral. Today every search is answered exactly; approximate strategies
(an index, a pre-filter bitmap, post-filtering) are choices this module will make, and an
executor for any engine carries them out.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from . import dialect as d
from .analyze import Analysis
from .catalog import Catalog

_READS_OR_WRITES_ROWS = (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Describe, d.Explain)


@dataclass(frozen=True)
class KnnSearch:
    """`ORDER BY <distance> LIMIT k` over one table."""

    table: str
    column: str | None
    metric: str
    k: int | None
    filtered: bool
    strategy: str = "exact"


@dataclass(frozen=True)
class Plan:
    tree: exp.Expr
    vector_params: frozenset
    searches: tuple[KnnSearch, ...]
    changes_schema: bool


def plan(analysis: Analysis, catalog: Catalog) -> Plan:
    tree = analysis.tree
    searches = []
    for select in tree.find_all(exp.Select):
        search = _knn_search(select, catalog)
        if search is not None:
            searches.append(search)
    return Plan(
        tree=tree,
        vector_params=frozenset(analysis.vector_params),
        searches=tuple(searches),
        changes_schema=not isinstance(tree, _READS_OR_WRITES_ROWS),
    )


def _knn_search(select: exp.Select, catalog: Catalog) -> KnnSearch | None:
    order = select.args.get("order")
    if order is None or not order.expressions:
        return None
    distance = order.expressions[0].this
    if isinstance(distance, exp.Column):  # ORDER BY an alias of the distance
        distance = next((p.this for p in select.selects if p.alias == distance.name), distance)
    if not isinstance(distance, d.DistanceOp):
        return None
    source = select.args.get("from_")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or select.args.get("joins"):
        return None
    info = catalog.table(table.name, table.db or None)
    if info is None:
        return None
    column = next((side.name for side in (distance.this, distance.expression) if isinstance(side, exp.Column)), None)
    limit = select.args.get("limit")
    k = int(limit.expression.this) if limit is not None and isinstance(limit.expression, exp.Literal) else None
    if not info.is_view and _can_add_tiebreak(select):
        order.append("expressions", exp.Ordered(this=exp.column("rowid", table=table.alias_or_name)))
    return KnnSearch(info.name, column, distance.metric, k, select.args.get("where") is not None)


def _can_add_tiebreak(select: exp.Select) -> bool:
    """Ties are broken by row order, where the select still sees individual rows."""
    return not (
        select.args.get("group")
        or select.args.get("distinct")
        or any(p.find(exp.AggFunc) for p in select.selects)
    )
