"""Decide *what* runs: which statements are k-NN searches, which index answers them, and how a
filtered search is carried out. Engine-neutral: an executor decides *how* on its engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlglot import exp

from vsql.errors import ProgrammingError
from vsql.index.spec import IndexSpec, alter_options, analysed, parse_create, same_value
from vsql.settings import owns
from vsql.sql import dialect as d
from vsql.sql import statements as st
from vsql.sql.analyze import Analysis
from vsql.sql.metrics import INDEXED

if TYPE_CHECKING:  # the engine's catalog and the index store are handed in: planning loads neither
    from vsql.engine.catalog import Catalog
    from vsql.index.store import IndexManager

_MAX_DEPTH = 4096
# A filtered graph search asks for at least this many rows: the sampled check of its answer
# (FaissIndex.missed) cannot tell a miss from one or two rows found (recall@1 was 0.79 at k = 1).
CHECKED_CANDIDATES = 10
_READS_OR_WRITES_ROWS = (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Describe, d.Explain)


@dataclass(frozen=True)
class KnnSearch:
    """`ORDER BY <distance> LIMIT k` over one table, and the index that can answer it."""

    table: str
    alias: str
    column: str | None
    metric: str
    k: int | None
    filtered: bool
    index: IndexSpec | None = None
    why_exact: str = ""
    # (name, "key" | "distance" | "column", the table's column): the index answers, with the other
    # columns from its row store (vsql.index.rows)
    outputs: tuple[tuple[str, str, str | None], ...] | None = None
    query: exp.Expr | None = field(default=None, compare=False)
    select: exp.Select | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Plan:
    tree: exp.Expr
    vector_params: frozenset
    searches: tuple[KnnSearch, ...]
    changes_schema: bool
    action: str = "sql"  # sql | knn | write | index | setting | transaction
    ann: KnnSearch | None = None  # the search an index answers, for action "knn"
    batches: tuple[KnnSearch, ...] = ()  # LATERAL searches an index answers for all outer rows at once
    writes: tuple[IndexSpec, ...] = ()  # indexes a write keeps current, for action "write"
    command: tuple = ()  # a "setting" action's (what, name, ...); an "index" action's handler arguments
    calls: tuple[Call, ...] = ()  # vsql functions whose results the statement reads as relations


@dataclass(frozen=True)
class Call:
    """A call of one of vsql's functions (vsql_evaluate, ...), computed by vsql and read by the
    engine as the relation `relation` (its first column alone when `scalar`)."""

    name: str
    args: tuple[exp.Expr, ...]
    options: tuple[tuple[str, exp.Expr], ...]
    relation: str
    scalar: bool


def plan(analysis: Analysis, catalog: Catalog, indexes: IndexManager, functions: Mapping) -> Plan:
    """The plan of an analysed statement. `catalog` (the engine's tables), `indexes` (the vector
    indexes) and `functions` (vsql's own SQL functions, name -> declaration with `writes`) are
    handed in, so that planning imports no engine, index library or MLOps module."""
    tree = analysis.tree
    base = dict(tree=tree, vector_params=frozenset(analysis.vector_params),
                changes_schema=not isinstance(tree, _READS_OR_WRITES_ROWS))
    setting = _setting(tree)
    if setting:
        return Plan(searches=(), action="setting", command=setting, **base)
    command = _command(tree, catalog, indexes)
    if command:
        return Plan(searches=(), action="index", command=command, **base)
    if isinstance(tree, exp.Create) and tree.kind == "INDEX" and not tree.this.name:
        base["tree"] = _named_index(tree, indexes)
    if isinstance(tree, (exp.Transaction, exp.Commit, exp.Rollback)):
        return Plan(searches=(), action="transaction", **{**base, "changes_schema": False})
    calls = _calls(tree, functions)
    if calls:
        base["changes_schema"] = base["changes_schema"] or any(functions[c.name].writes for c in calls)
    searches = tuple(s for s in map(lambda sel: _knn_search(sel, catalog, indexes), tree.find_all(exp.Select)) if s)
    target = _written_table(tree)
    written = indexes.for_table(catalog.of(target)) if target is not None else []
    if written:
        return Plan(searches=searches, action="write", writes=tuple(written), **base)
    top = tree.this if isinstance(tree, d.Explain) else tree
    ann = next((s for s in searches if s.index is not None and s.select is top), None) or nested(searches, top)
    batches = tuple(s for s in searches if s.index is not None and _is_batch(s))
    return Plan(searches=searches, action="knn" if ann else "sql", ann=ann, batches=batches, calls=calls, **base)


def nested(searches: tuple[KnnSearch, ...], top: exp.Expr) -> KnnSearch | None:
    """pgvector's re-rank pattern: a SELECT reading only a subquery that an index can answer
    (`SELECT ... FROM (SELECT ... ORDER BY bq <~> q LIMIT 40) s ORDER BY e <=> q LIMIT 10`). The
    index finds the subquery's rows; the engine computes the rest. Never answered from the index
    alone: the statement's own outputs are not the search's."""
    source = top.args.get("from_") if isinstance(top, exp.Select) else None
    inner = source.this if source is not None else None
    if not isinstance(inner, exp.Subquery) or top.args.get("joins") or top.args.get("with_"):
        return None
    search = next((s for s in searches if s.index is not None and s.select is inner.this), None)
    return KnnSearch(**{**search.__dict__, "outputs": None}) if search is not None else None


def _named_index(tree: exp.Create, indexes: IndexManager) -> exp.Create:
    """An unnamed engine index (`CREATE INDEX ON items (tenant)`) with the name PostgreSQL gives
    it, `items_tenant_idx`: the engine requires one."""
    index = tree.this
    params = index.args.get("params")
    columns = [c.this for c in (params.args.get("columns") or [])] if params is not None else []
    parts = [index.args["table"].name] + [c.name for c in columns if isinstance(c, exp.Column)]
    named = tree.copy()
    named.this.set("this", exp.to_identifier(indexes.free_name("_".join(parts + ["idx"]))))
    return named


def _calls(tree: exp.Expr, functions: Mapping) -> tuple[Call, ...]:
    """Replace each call of a vsql function with the relation its result will be read from."""
    calls = []
    for node in list(tree.find_all(exp.Anonymous)):
        name = node.name.lower()
        if name not in functions:
            continue
        relation = f"__vsql_call_{len(calls)}"
        scalar = not isinstance(node.parent, exp.Table)
        calls.append(Call(
            name, tuple(a for a in node.expressions if not isinstance(a, exp.Kwarg)),
            tuple((a.this.name.lower(), a.expression) for a in node.expressions if isinstance(a, exp.Kwarg)),
            relation, scalar))
        if scalar:
            value = exp.select("*").from_(relation).subquery()
            node.replace(exp.alias_(value, name) if isinstance(node.parent, exp.Select) else value)
        else:
            node.parent.set("this", exp.to_identifier(relation))
    return tuple(calls)


def _is_batch(search: KnnSearch) -> bool:
    """A LATERAL search whose query vector comes from the outer rows and whose filter does not."""
    if not _in_lateral(search.select) or search.index.vtype != "vector" or search.index.expression:
        return False  # the batched call takes `vector` queries against a column's index
    where = search.select.args.get("where")
    outer = lambda node: any(c.table not in ("", search.alias) for c in node.find_all(exp.Column))  # noqa: E731
    return outer(search.query) and (where is None or not outer(where))


# -- filtered search strategy ------------------------------------------------------------------


@dataclass(frozen=True)
class Strategy:
    """How one ANN search runs: exactly, or through the index with a filter before or after."""

    kind: str  # exact | ann | prefilter | postfilter | exact_sql
    depth: int = 0  # ef_search or probes
    candidates: int = 0  # how many nearest keys to ask the index for
    selectivity: float = 1.0
    reason: str = ""


def choose(matching: int, total: int, k: int, depth: int, exact_below: int, filtered: bool,
           rows_per_depth: float = 0.0, refine: int = 1) -> Strategy:
    """Pick a strategy from the filter's selectivity (matching rows over indexed rows).

    `depth` is the index's search depth for k (HNSW ef_search, IVFFlat probes); the index
    itself keeps ef_search at least k and probes within its lists. `rows_per_depth`: about how
    many rows a brute force reads in the time one unit of depth costs the index. `refine`: the
    candidates asked per row wanted, from an index whose coded vectors rank them roughly (a
    quantizer's): the engine re-ranks them by their exact distances.

    Few matching rows, or fewer than the index would spend reading: brute force over them, which
    is exact. Otherwise the index, searching deeper as the filter gets more selective; an
    unselective filter is applied after. `exact_below = 0` sends every search it can to the index.
    """
    selectivity = matching / total if total else 0.0
    if matching <= max(exact_below, k) or total == 0:
        return Strategy("exact", candidates=k, selectivity=selectivity,
                        reason=f"{matching} matching rows <= {max(exact_below, k)}")
    wanted = k * refine
    if not filtered:
        strategy = Strategy("ann", depth=depth, candidates=wanted, selectivity=1.0)
    elif selectivity >= 0.5:
        strategy = Strategy("postfilter", depth=depth, candidates=math.ceil(wanted / selectivity * 1.5),
                            selectivity=selectivity, reason=f"the filter keeps {selectivity:.0%}: applied to the nearest rows")
    else:
        # A bitmap leaves the graph sparse in matching rows: search deeper in proportion.
        strategy = Strategy("prefilter", depth=min(math.ceil(depth / selectivity), _MAX_DEPTH),
                            candidates=max(wanted, CHECKED_CANDIDATES), selectivity=selectivity)
    if exact_below and matching <= strategy.depth * rows_per_depth:
        return Strategy("exact", candidates=k, selectivity=selectivity,
                        reason=f"brute force over {matching} rows costs less than searching at depth {strategy.depth}")
    return strategy


def widen(strategy: Strategy, matching: int) -> Strategy:
    """The next, wider attempt after a search returned fewer than k rows while k rows match.

    The last resort runs the statement exactly on the engine, which sees every write.
    """
    if strategy.kind == "exact":
        return Strategy("exact_sql", selectivity=strategy.selectivity, reason="rows changed under the search")
    if strategy.kind == "postfilter":
        return Strategy("prefilter", depth=strategy.depth, candidates=strategy.candidates,
                        selectivity=strategy.selectivity, reason="post-filtering kept too few rows")
    if strategy.depth * 4 > _MAX_DEPTH:
        return Strategy("exact", candidates=strategy.candidates, selectivity=strategy.selectivity,
                        reason="the index could not find k rows")
    return Strategy(strategy.kind, depth=strategy.depth * 4, candidates=strategy.candidates,
                    selectivity=strategy.selectivity, reason="searched deeper after too few rows")


def distrust(strategy: Strategy) -> Strategy:
    """After a sample showed the index missed nearer matching rows: brute force over them."""
    return Strategy("exact", candidates=strategy.candidates, selectivity=strategy.selectivity,
                    reason="a sample of matching rows found nearer rows than the index did")


# -- recognising statements ---------------------------------------------------------------------


def _knn_search(select: exp.Select, catalog: Catalog, indexes: IndexManager) -> KnnSearch | None:
    order = select.args.get("order")
    if order is None or not order.expressions:
        return None
    first = order.expressions[0]
    distance = first.this
    if isinstance(distance, exp.Column):  # ORDER BY an alias of the distance
        distance = next((p.this for p in select.selects if p.alias == distance.name), distance)
    if not isinstance(distance, d.DistanceOp):
        return None
    source = select.args.get("from_")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or select.args.get("joins"):
        return None
    info = catalog.of(table)
    if info is None:
        return None
    alias = table.alias_or_name
    column, query = _column_and_query(distance, alias, info, catalog, indexes)
    limit = select.args.get("limit")
    count = limit.expression if limit is not None else None
    # an integer within BIGINT; anything else ('3', 1.5, 2^64) the engine takes or refuses itself
    k = int(count.this) if isinstance(count, exp.Literal) and count.is_int and int(count.this) < 2**63 else None
    if not info.is_view and _can_add_tiebreak(select) and not _in_lateral(select):
        for tie in info.order_key:  # the table's key, else the engine's row identity
            order.append("expressions", exp.Ordered(this=exp.column(exp.to_identifier(tie, quoted=tie != info.row_id),
                                                                    table=alias)))
    search = KnnSearch(info.name, alias, column, distance.metric, k, select.args.get("where") is not None,
                       query=query, select=select)
    index, why = _choose_index(search, info, select, first, indexes, catalog)
    outputs = _index_only(select, distance, alias, index, info, catalog) if index else None
    return KnnSearch(**{**search.__dict__, "index": index, "why_exact": why, "outputs": outputs})


def _index_only(select: exp.Select, distance: d.DistanceOp, alias: str, spec: IndexSpec, info, catalog: Catalog):
    """The outputs of a search that selects the key, the distance and plain columns of its table:
    the index holds the first two when it holds the rows' own vectors (not normalised, as for
    cosine, nor approximated) and the engine's distances can be computed from them bit for bit;
    the index's row store holds the rest (the engine decides nothing: no expression, no vector)."""
    # the engine's own sparsevec distances (a UDF) are not computed from dense rows bit for bit
    if INDEXED[spec.metric].normalized or not spec.lossless or spec.vtype == "sparsevec" or not catalog.reproduces(spec.metric) or any(
            select.args.get(a) for a in ("group", "having", "distinct", "qualify", "windows", "offset", "with_")):
        return None
    outputs = []
    for projection in select.selects:
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        plain = isinstance(inner, exp.Column) and inner.table in ("", alias)
        if plain and inner.name.lower() == spec.key:
            outputs.append((projection.alias_or_name, "key", spec.key))
        elif inner == distance and isinstance(projection, exp.Alias):
            outputs.append((projection.alias, "distance", None))
        elif plain and inner.name.lower() in info.columns and info.vector_dim(inner.name) is None:
            outputs.append((projection.alias_or_name, "column", inner.name.lower()))
        else:
            return None
    return tuple(outputs)


def _column_and_query(distance: d.DistanceOp, alias: str, info, catalog: Catalog,
                      indexes: IndexManager) -> tuple[str | None, exp.Expr | None]:
    """Which side is the table's vector column (or an index's expression over one: its
    `IndexSpec.source`), and which the query vector."""
    sides = ((distance.this, distance.expression), (distance.expression, distance.this))
    for side, other in sides:
        if isinstance(side, exp.Column) and side.table in ("", alias) and (
                info.vector_dim(side.name) or info.vector_kind(side.name)):
            return side.name.lower(), other
    for side, other in sides:
        columns = list(side.find_all(exp.Column))
        if isinstance(side, exp.Column) or not columns or any(c.table not in ("", alias) for c in columns) or \
                side.find(exp.Select, exp.Placeholder, exp.Parameter):
            continue
        for spec in indexes.for_table(info):
            if spec.expression and same_value(_analysed(spec, catalog), side):
                return spec.source, other
    return None, None


_ANALYSED: dict[tuple, exp.Expr] = {}


def _analysed(spec: IndexSpec, catalog: Catalog) -> exp.Expr:
    """An index's expression as analysis makes it, kept while the catalog is unchanged."""
    key = (id(catalog), catalog.version, spec.schema, spec.table, spec.expression)
    if key not in _ANALYSED:
        if len(_ANALYSED) > 256:
            _ANALYSED.clear()
        _ANALYSED[key] = analysed(spec, catalog)
    return _ANALYSED[key]


def _choose_index(search: KnnSearch, info, select: exp.Select, first: exp.Ordered, indexes: IndexManager,
                  catalog: Catalog):
    if search.column is None:
        return None, "the distance is not between a vector column and a query vector"
    spec = indexes.find(info, search.column, search.metric, select.args["where"].this if select.args.get("where")
                        else None, search.alias)
    if spec is None:
        partial = any(s.predicate for s in indexes.for_table(info) if s.source == search.column)
        return None, f"no vsql index on {search.table}.{search.column} for {INDEXED[search.metric].operator}" + (
            " whose WHERE this query's filter implies" if partial else "")
    if search.query is None or any(_outer(c, select, search.alias, catalog) for c in search.query.find_all(exp.Column)):
        return None, "the query vector depends on the row"
    if search.k is None or select.args.get("offset") is not None:
        return None, "no literal LIMIT (or an OFFSET)"
    if first.args.get("desc"):
        return None, "ORDER BY ... DESC"
    if first.args.get("nulls_first"):
        return None, "NULLS FIRST (rows without a vector, which the index does not hold, come first)"
    if isinstance(search.query, exp.Null) or search.query.meta_get("null"):
        return None, "the query vector is NULL (every distance is NULL)"
    if INDEXED[search.metric].normalized and isinstance(search.query, d.VectorLiteral) and not any(search.query.values):
        return None, f"a zero query vector (its {search.metric} distance to every row is NaN)"
    if select.args.get("group") or select.args.get("distinct") or any(p.find(exp.AggFunc, exp.Window) for p in select.selects):
        return None, "grouping, DISTINCT or window functions"
    return spec, ""


def _outer(column: exp.Column, select: exp.Select, alias: str, catalog: Catalog) -> bool:
    """Whether a column of the query vector's expression may be the searched row's. One inside a
    scalar subquery over a single table (`(SELECT embedding FROM items WHERE id = 42)`) is that
    table's when the table has it and it names no other: the vector is one for the statement."""
    inner = column.find_ancestor(exp.Select)
    source = inner.args.get("from_") if inner is not None and inner is not select else None
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or inner.args.get("joins"):
        return column.table in ("", alias)
    found = catalog.of(table)
    return found is None or column.table not in ("", table.alias_or_name) or column.name.lower() not in found.columns


def _in_lateral(select: exp.Select) -> bool:
    """Inside LATERAL a second sort key costs DuckDB an order of magnitude: ties stay DuckDB's."""
    return isinstance(select.parent, exp.Subquery) and isinstance(select.parent.parent, exp.Lateral)


def _can_add_tiebreak(select: exp.Select) -> bool:
    """Ties are broken by the table's primary key (by row order without one), where the select
    still sees individual rows: every path gives the rows the index path gives (`_from_index`)."""
    return not (
        select.args.get("group")
        or select.args.get("distinct")
        or any(p.find(exp.AggFunc) for p in select.selects)
    )


def _written_table(tree: exp.Expr) -> exp.Table | None:
    if isinstance(tree, exp.Copy) and not tree.args.get("kind"):
        return None  # COPY ... TO reads
    if isinstance(tree, (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Copy, exp.TruncateTable)):
        target = tree.this
        if isinstance(tree, exp.TruncateTable):
            target = tree.expressions[0] if tree.expressions else None
        if isinstance(target, exp.Schema):
            target = target.this
        if isinstance(target, exp.Table):
            return target
    return None


def _command(tree: exp.Expr, catalog: Catalog, indexes: IndexManager) -> tuple:
    """What vsql, not the engine, carries out of index DDL and vsql's own statements: the
    arguments of the statement's handler in the session; () when the engine runs it alone."""
    if isinstance(tree, exp.Create) and tree.kind == "INDEX":
        return parse_create(tree, catalog) or ()
    if isinstance(tree, exp.Drop) and tree.kind == "INDEX":
        names = [t.name for t in tree.args.get("tables") or []]
        if names and all(n.lower() in indexes.specs() for n in names):
            return (names, bool(tree.args.get("exists")))
        return ()
    if isinstance(tree, exp.Drop) and tree.kind == "TABLE":
        dropped = [info for info in map(catalog.of, tree.args.get("tables") or []) if indexes.for_table(info)]
        return (dropped,) if dropped else ()
    if isinstance(tree, exp.Create) and tree.kind == "TABLE" and tree.args.get("replace"):
        target = catalog.of(tree.this.this if isinstance(tree.this, exp.Schema) else tree.this)
        return ([target],) if indexes.for_table(target) else ()
    if isinstance(tree, exp.Alter) and tree.kind == "INDEX" and tree.this.name.lower() in indexes.specs():
        spec = indexes.specs()[tree.this.name.lower()]
        actions = tree.args.get("actions") or []
        return (spec.name, alter_options(spec, actions[0] if len(actions) == 1 else None))
    if isinstance(tree, exp.Alter) and tree.kind == "TABLE" and indexes.for_table(catalog.of(tree.this)):
        actions = tree.args.get("actions") or []
        renamed = actions[0].this.name if len(actions) == 1 and isinstance(actions[0], exp.AlterRename) else None
        return (catalog.of(tree.this), renamed)
    if isinstance(tree, (st.CreateVectorAlias, st.AlterVectorAlias)):
        return (tree.name, tree.expression.name)
    if isinstance(tree, st.DropVectorAlias):
        return (tree.name, bool(tree.args.get("exists")))
    if isinstance(tree, st.SetModel):
        model = tree.args.get("model")
        return (tree.this.name, tree.args["column"].name, model.name if model else None)
    if isinstance(tree, st.Reindex):
        if tree.args["kind"] == "INDEX":
            return ([tree.this.name],)
        table = catalog.of(tree.this)
        if table is None:
            raise ProgrammingError(f'relation "{tree.this.name}" does not exist')
        return ([s.name for s in indexes.for_table(table)],)
    return ()


def _setting(tree: exp.Expr) -> tuple:
    """SET, RESET and SHOW of vsql's own settings: (what, name, ...)."""
    if isinstance(tree, exp.Command):
        word, rest = tree.name.upper(), tree.text("expression").strip()
        if word in ("RESET", "SHOW") and (owns(rest) or rest.upper() == "ALL" and word == "RESET"):
            return (word.lower(), rest)
    if isinstance(tree, exp.Set):
        items = tree.expressions
        if len(items) == 1 and isinstance(items[0].this, exp.EQ):
            name = items[0].this.this.sql()
            if owns(name):
                value = items[0].this.expression
                # a word as written, else the whole value: `-5` keeps its sign, `$1` is refused
                return ("set", name, value.this if isinstance(value, exp.Literal) else value.sql(d.VSQL),
                        (items[0].text("kind") or "").upper() == "LOCAL")
    return ()
