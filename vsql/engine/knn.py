"""Runs an ANN plan on an engine: the index proposes candidate keys, and one of three paths answers.

Most statements run unchanged but for one added predicate, `key IN (candidates)`, so projections,
filters, exact distances and ordering (ties by the table's key, as the planner's ORDER BY breaks
them) are the engine's, over the transaction's own view of the table. A statement selecting only
the key, the distance and plain columns is answered from the index and its row store
(vsql.index.rows), without the engine: its distances are computed as the engine computes them
(`Engine.distances`), its ties broken by key too; a filter of plain comparisons is evaluated on
the row store as well, when the index holds what the transaction sees. LATERAL searches call
the index through a UDF, once per chunk of outer rows (`batch_sql`). When the index proposes too
few rows (a selective or correlated filter, rows written since), the search widens, and in the
end falls back to exact search on the engine.
"""

from __future__ import annotations

import itertools
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from vsql.engine.base import Result
from vsql.index.faiss_index import Hits, Subset
from vsql.index.spec import settings_depth
from vsql.plan.planner import (
    CHECKED_CANDIDATES,
    KnnSearch,
    Plan,
    Strategy,
    choose,
    distrust,
    widen,
)
from vsql.settings import Settings
from vsql.sql import dialect as d
from vsql.sql import vectors
from vsql.sql.analyze import param_key

if TYPE_CHECKING:
    from collections.abc import Callable

    from vsql.engine.base import Engine
    from vsql.index.store import IndexManager

    Lower = Callable[[exp.Expr], list[str]]


@dataclass(frozen=True)
class KnnStatements:
    """The engine statements an ANN search may run, made once per statement shape."""

    fetch: str  # the user's statement restricted to candidate keys
    filter: Part | None  # the keys the WHERE clause keeps
    query: Part | None  # the query vector, when it is not a literal or a parameter
    candidates_key: Any  # where the candidate keys bind among the parameters
    key_type: pa.DataType = pa.int64()  # for answers from the index alone
    truth: str = ""  # the statement searched exactly, with the key: what EXPLAIN ANALYZE's recall counts
    # a search in the FROM subquery of the statement (pgvector's re-rank pattern): `fetch` gives
    # the subquery's rows with their keys, then `outer`, the statement with its subquery kept to
    # them; `fetch` and `truth` then bind only the parameters the subquery uses (`parts`)
    outer: str | None = None
    parts: tuple[Part, Part] | None = None

    def fetch_args(self, params: Any, candidates: np.ndarray) -> Any:
        bound = _with(params, self.candidates_key, candidates)
        return self.parts[0].bind(bound) if self.parts else bound

    def truth_args(self, params: Any) -> Any:
        return self.parts[1].bind(params) if self.parts else params


@dataclass(frozen=True)
class Part:
    """A statement made from part of the user's, binding only the parameters it uses, by name."""

    sql: str
    keys: tuple  # the user's parameter keys, in the order of `names`
    names: tuple[str, ...]
    self_contained: bool = True  # reads only its own table: its answer changes only with it
    condition: exp.Expr | None = None  # a filter's WHERE condition, parameters named as in `sql`
    alias: str = ""  # the name the condition gives its table

    def bind(self, params: Any) -> dict | None:
        return {name: params[key] for name, key in zip(self.names, self.keys)} or None


def _part(tree: exp.Expr, lower: Lower, alias: str = "") -> Part:
    keys, names = [], []
    for node in list(tree.find_all(exp.Parameter, exp.Placeholder)):
        key = param_key(node)
        if key is None:
            continue
        name = f"p{key + 1}" if isinstance(key, int) else key
        node.replace(exp.Parameter(this=exp.Var(this=name)))
        if name not in names:
            keys.append(key)
            names.append(name)
    where = tree.args.get("where")
    return Part(lower(tree)[-1], tuple(keys), tuple(names), len(list(tree.find_all(exp.Table))) == 1,
                where.this if where is not None and alias else None, alias)


@dataclass
class Filtered:
    """What a WHERE clause keeps: its keys, the index slots holding them, and, for a filter
    remembered until the next commit, its rows' vectors once gathered for brute force."""

    keys: np.ndarray
    allowed: np.ndarray
    remembered: bool = False
    subset: Subset | None = None
    in_memory: bool = False  # evaluated on the index's row store, not by the engine
    uses: int = 1


@dataclass
class Outcome:
    result: Result  # the rows, with the engine's own types (a UUID stays a UUID)
    strategy: Strategy
    matching: int
    total: int
    rounds: int
    seconds: float
    index_only: bool
    hits: Hits | None = None  # the index's last answer (None when the engine searched exactly)
    query: np.ndarray | None = None
    allowed: np.ndarray | None = None  # the filter as a mask over the index's slots
    filtered: Filtered | None = None


_FILTER_MEMORY = 32
_SUBSET_BYTES = 256 << 20  # vectors gathered for remembered filters, at most, per session
_TRUTH_KEY = "__vsql_truth_key"
_ARROW_TYPES = {"BIGINT": pa.int64(), "INTEGER": pa.int32(), "SMALLINT": pa.int16(), "TINYINT": pa.int8(),
                "UBIGINT": pa.uint64(), "UINTEGER": pa.uint32()}


def filter_part(search: KnnSearch, lower: Lower) -> Part | None:
    """The keys a search's WHERE clause keeps, as a statement of its own."""
    where = search.select.args.get("where")
    if where is None:
        return None
    key = search.index.key_of(search.alias)
    table = search.select.args["from_"].this.copy()
    return _part(exp.select(key).from_(table).where(where.this.copy()), lower, search.alias)


def prepare(search: KnnSearch, params: Any, key_type: str, lower: Lower, tree: exp.Expr | None = None) -> KnnStatements:
    """The statements of the search `search` of the statement `tree`: the search itself, or the
    FROM subquery of a SELECT that re-ranks its rows (see `planner.nested`)."""
    spec = search.index
    key = spec.key_of(search.alias)
    parameter, slot = _candidates_parameter(params)
    select = search.select.copy()
    candidates = exp.select(exp.Unnest(expressions=[parameter])).subquery()
    select.where(exp.In(this=key, query=candidates), append=True, copy=False)
    outer = parts = None
    truth = search.select.copy().select(exp.alias_(key.copy(), _TRUTH_KEY), append=True, copy=False)
    if tree is not None and search.select is not tree:
        selects = list(tree.find_all(exp.Select))
        position = next(i for i, node in enumerate(selects) if node is search.select)
        whole = tree.copy()
        list(whole.find_all(exp.Select))[position].replace(select.copy())
        outer = lower(whole)[-1]
        select.select(exp.alias_(key.copy(), _TRUTH_KEY), append=True, copy=False)
        parts = (_part(select, lower), _part(truth, lower))
    filter_sql = filter_part(search, lower)
    query_sql = None
    if spec.vtype == "bit":  # the engine's bit string (Engine.bits)
        query_sql = _part(exp.select(search.query.copy()), lower)
    elif _constant(search.query) is None:
        dim = search.query.meta_get("vdim")
        if search.query.meta_get("vtype"):  # a halfvec's or sparsevec's values, as the index holds them
            as_vector = d.VectorConvert(this=search.query.copy())
            as_vector.meta.update(vdim=dim, visited=True)
        else:
            vector = exp.DataType.build(f"VECTOR({dim})" if dim else "VECTOR", dialect=d.VSQL)
            as_vector = exp.Cast(this=search.query.copy(), to=vector)
        query_sql = _part(exp.select(as_vector), lower)
    if parts:
        return KnnStatements(parts[0].sql, filter_sql, query_sql, slot, _ARROW_TYPES.get(key_type, pa.int64()),
                             parts[1].sql, outer, parts)
    return KnnStatements(lower(select)[-1], filter_sql, query_sql, slot, _ARROW_TYPES.get(key_type, pa.int64()),
                         lower(truth)[-1])


class KnnExecutor:
    def __init__(self, engine: Engine, indexes: IndexManager, settings: Settings):
        self.engine = engine
        self.indexes = indexes
        self.settings = settings
        self._batches: dict[str, tuple] = {}
        self._filters: OrderedDict[tuple, Filtered] = OrderedDict()
        self.token = next(_TOKENS)
        _EXECUTORS[self.token] = self
        engine.register_batch(BATCH_FUNCTION, _batch)

    def run(self, plan: Plan, statements: KnnStatements, exact_sql: str, params: Any,
            pending: np.ndarray, current: bool = False, index_only: bool = False) -> Outcome:
        """Search through the index, widening until k rows come back or all matching rows did.

        `current`: the index holds exactly what this transaction sees, so the keys a filter
        keeps may be reused until the next commit. With `index_only` as well (the statement
        selects the key, the distance and plain columns) the answer comes from the index and its
        row store, without a fetch.
        """
        started = time.perf_counter()
        search = plan.ann
        spec = search.index
        loaded = self.indexes.get(spec)
        columns = [column for _, kind, column in search.outputs or () if kind == "column"]
        rows = self.indexes.rows(spec, loaded, columns) if index_only and columns else None
        index_only = index_only and (rows is not None or not columns)
        query = self._query_vector(search, statements, params)
        filtered = None
        total = loaded.index.live + len(pending)
        matching = total
        if statements.filter is not None:
            filtered = self._filter(statements.filter, params, spec, loaded, current)
            matching = len(filtered.keys)
        depth = self._depth(spec, loaded.index, search.k)
        strategy = choose(matching, total, search.k, depth, self.settings.get("vsql.exact_below"),
                          statements.filter is not None, loaded.index.rows_per_depth, loaded.index.refine)
        rounds = 0
        hits = allowed = None
        from_index = False
        while True:
            rounds += 1
            if strategy.kind == "exact" and not loaded.index.lossless:
                strategy = widen(strategy, matching)  # brute force over approximate vectors: the engine's instead
            if strategy.kind == "exact_sql":
                result, hits = self._fetch(exact_sql, params), None
                break
            with loaded.lock:  # a commit on another connection changes the index in place
                allowed = _searchable(loaded.index, filtered, pending)
                if strategy.kind == "exact":
                    subset = self._subset(filtered, loaded.index, allowed) if not len(pending) else None
                    hits = loaded.index.exact(query[None, :], strategy.candidates, allowed, subset)[0]
                else:
                    within = None if strategy.kind == "postfilter" else allowed
                    hits = loaded.index.search(query[None, :], strategy.candidates, strategy.depth, within)[0]
                    postfiltered = strategy.kind == "postfilter"
                    if postfiltered:
                        # k matching rows among the nearest rows of all are the nearest matching rows
                        kept = allowed[loaded.index.slots_of(hits.keys)]
                        wanted = search.k * loaded.index.refine  # a quantized index's, re-ranked by the engine
                        hits = Hits(hits.keys[kept][:wanted], hits.distances[kept][:wanted])
                    # A filtered graph search can stray, and a graph over many copies of one vector
                    # misses rows whatever the filter: a sample of the matching rows checks them.
                    checked = loaded.index.duplicated or (allowed is not None and not postfiltered)
                    expected = min(len(hits.keys) if postfiltered else strategy.candidates, matching)
                    if checked and loaded.index.missed(query, hits.keys, expected, allowed):
                        strategy = distrust(strategy)
                        continue
            table = _from_index(search, statements.key_type, hits, loaded, query, self.engine.distances, rows) \
                if index_only else None
            from_index = table is not None
            if table is not None:
                result = Result(table, table.num_rows)
            else:
                candidates = np.union1d(hits.keys, pending) if len(pending) else hits.keys
                result = self._fetch(statements.fetch, statements.fetch_args(params, candidates))
            if result.rowcount >= min(search.k, matching):
                if statements.outer is not None:  # the subquery's rows found: the statement reads them
                    kept = result.table.column(_TRUTH_KEY).to_pylist() if result.table is not None \
                        else [row[-1] for row in result.rows]
                    result = self._fetch(statements.outer, _with(params, statements.candidates_key, np.asarray(kept)))
                break
            strategy = widen(strategy, matching)
        return Outcome(result, strategy, matching, total, rounds, time.perf_counter() - started,
                       from_index and strategy.kind != "exact_sql", hits, query, allowed, filtered)

    # -- LATERAL batches ----------------------------------------------------------------------

    def set_batches(self, plan: Plan, filters: dict, params: Any) -> None:
        """Before a statement with batched LATERAL searches: each index, depth and filter."""
        self._batches = {}
        for search in plan.batches:
            spec = search.index
            loaded = self.indexes.get(spec)
            part = filters.get(spec.name)
            filtered, matching = None, loaded.index.live
            if part is not None:
                filtered = self._filter(part, params, spec, loaded, reusable=False)
                matching = len(filtered.keys)
            depth = self._depth(spec, loaded.index, search.k)
            strategy = self._batch_strategy(loaded.index, matching, search.k, depth, filtered)
            rows = self._table_rows(spec, loaded, filtered) if strategy.kind == "exact" and not loaded.index.lossless \
                else None
            self._batches[spec.name] = (loaded, depth, filtered, matching, _selects_distance(search), rows)

    def _batch_strategy(self, index, matching: int, k: int, depth: int, filtered: Filtered | None) -> Strategy:
        return choose(matching, index.live, k, depth, self.settings.get("vsql.exact_below"), filtered is not None,
                      index.rows_per_depth, index.refine)

    def _table_rows(self, spec, loaded, filtered: Filtered | None) -> Subset:
        """The matching rows' vectors as the table holds them, for a brute force that a quantized
        index's approximate vectors cannot give: read once, before the statement runs (a UDF
        cannot ask the engine while it runs it)."""
        keys, matrix, _ = self.indexes.vectors(spec, filtered.keys if filtered is not None else None)
        with loaded.lock:
            return loaded.index.gathered(keys, matrix)

    def batch(self, name: str, queries: pa.Array, ks: pa.Array) -> pa.Array:
        """One index call for a whole batch of queries (see `_batch`)."""
        loaded, depth, filtered, matching, distances, rows = self._batches[name]
        index, k = loaded.index, int(ks[0].as_py())
        if isinstance(queries, pa.ChunkedArray):
            queries = queries.combine_chunks()
        valid = queries.is_valid().to_numpy(zero_copy_only=False)
        matrix = np.zeros((len(queries), index.dim), np.float32)
        if valid.any():
            matrix[valid] = queries.filter(pa.array(valid)).flatten().to_numpy(zero_copy_only=False).reshape(-1, index.dim)
        matrix[~valid] = np.nan  # a NULL query: no distances (FaissIndex.answerable)
        strategy = self._batch_strategy(index, matching, k, depth, filtered)
        # a quantized index proposes k x refine rows, which the statement re-ranks (`_batched_select`)
        wanted = k * index.refine
        with loaded.lock:
            allowed = _searchable(index, filtered, np.empty(0, np.int64))
            if strategy.kind == "exact":
                hits = index.exact(matrix, k, allowed, rows)
            else:
                checked = allowed is not None or index.duplicated
                wide = max(wanted, CHECKED_CANDIDATES) if checked else wanted
                hits = index.search(matrix, wide, strategy.depth, allowed)
                hits = [Hits(h.keys[:wanted], h.distances[:wanted]) if len(h.keys) >= min(wide, matching) and not (
                            checked and index.missed(q, h.keys, min(wide, matching), allowed))
                        else index.scan(q[None, :], wanted, allowed)[0] for q, h in zip(matrix, hits)]
            if distances:
                hits = _engine_distances(self.engine.distances, index, matrix, hits)
            answerable = index.answerable(matrix)
            if not answerable.all():
                # SQL gives a query without distances (NULL, or zero under cosine) k rows tied at a
                # NULL (NaN) distance, in DuckDB's order inside LATERAL: any k allowed rows do
                slots = np.flatnonzero(index.alive if allowed is None else index.alive & allowed)[:k]
                hits = [h if ok else Hits(index.keys[slots], None) for h, ok in zip(hits, answerable)]
        return batch_result(hits)

    def explain(self, plan: Plan, statements: KnnStatements, exact_sql: str, params: Any,
                pending: np.ndarray, current: bool, index_only: bool, analyze: bool) -> pa.Table:
        """vsql's plan for the search, then DuckDB's for the statement that ran."""
        outcome = self.run(plan, statements, exact_sql, params, pending, current, index_only)
        search, strategy = plan.ann, outcome.strategy
        lines = [
            f"vsql k-NN search on {search.table}.{search.column} ({search.metric}), k = {search.k}",
            f"index: {search.index.name} ({search.index.method}, {search.index.opclass}, "
            + ", ".join(f"{k} = {v}" for k, v in search.index.options.items()) + ")"
            + (f" WHERE {search.index.predicate}" if search.index.predicate else ""),
            f"strategy: {strategy.kind}" + (f" ({strategy.reason})" if strategy.reason else ""),
            f"filter: {_where(outcome.filtered) if search.filtered else 'none'}; selectivity estimated = actual = "
            f"{outcome.matching} / {outcome.total} rows ({strategy.selectivity:.2%})",
        ]
        shortfall = self.indexes.get(search.index).index.shortfall()
        if shortfall:
            lines.append(shortfall)
        if strategy.kind not in ("exact", "exact_sql"):
            lines.append(f"effective {search.index.access.depth_label}: {strategy.depth}; "
                         f"candidates asked: {strategy.candidates}")
        if outcome.index_only:
            stored = [column for _, kind, column in search.outputs if kind == "column"]
            lines.append("answered from the index alone: the statement selects only the key and the distance"
                         if not stored else f"answered from the index and its row store ({', '.join(stored)}): "
                         "the statement selects plain columns, the key and the distance")
        if analyze:
            lines.append(f"rows returned: {outcome.result.rowcount}"
                         f"{' by the statement around the search' if statements.outer else ''} of k = {search.k}; "
                         f"rounds: {outcome.rounds}; "
                         f"time: {outcome.seconds * 1000:.2f} ms")
            lines.append(f"recall@{search.k} against exact search: {self._recall(statements, outcome, params)}")
        if outcome.index_only:
            engine = pa.table({"k": pa.array([], pa.string()), "v": pa.array([], pa.string())})
        elif strategy.kind == "exact_sql":
            engine = self._run(f"EXPLAIN {exact_sql}", params)
        else:
            engine = self._run(f"EXPLAIN {statements.fetch}", statements.fetch_args(params, np.empty(0, np.int64)))
        return pa.table({
            "explain_key": ["vsql_plan", *engine.column(0).to_pylist()],
            "explain_value": ["\n".join(lines), *engine.column(1).to_pylist()],
        })

    def _recall(self, statements: KnnStatements, outcome: Outcome, params: Any) -> str:
        """The share of the k nearest rows, as the statement run exactly on the table finds them,
        that the search returned: the table is the truth, not what the index holds."""
        if outcome.hits is None:
            return "1.000 (the engine searched exactly)"
        truth = self._run(statements.truth, statements.truth_args(params)).column(_TRUTH_KEY).to_numpy()
        if not len(truth):
            return "1.000 (no matching rows)"
        return f"{len(np.intersect1d(outcome.hits.keys, truth)) / len(truth):.3f}"

    def _depth(self, spec, index, k: int) -> int:
        """The search depth a user set, else the index's calibrated one, scaled to k."""
        return settings_depth(spec, self.settings) or index.access.default_depth(index.tuned, k)

    def _filter(self, part: Part, params: Any, spec, loaded, reusable: bool) -> Filtered:
        """The keys a filter keeps, and the index slots holding them; remembered for repeated
        filters until the next commit reaches the index."""
        bound = part.bind(params)
        memo = None
        if reusable and part.self_contained:
            memo = (part.sql, _frozen(bound), self.indexes.shared.generation, id(loaded.index))
            if memo in self._filters:
                self._filters.move_to_end(memo)
                self._filters[memo].uses += 1
                return self._filters[memo]
        keys = self._filtered_in_memory(part, bound, spec, loaded) if reusable else None
        in_memory = keys is not None
        if keys is None:
            keys = self.engine.keys(part.sql, bound)
        found = Filtered(keys, loaded.index.slots_for(keys), remembered=memo is not None, in_memory=in_memory)
        if memo is not None:
            self._filters[memo] = found
            if len(self._filters) > _FILTER_MEMORY:
                self._filters.popitem(last=False)
        return found

    def _filtered_in_memory(self, part: Part, bound: dict | None, spec, loaded) -> np.ndarray | None:
        """A filter's keys from the index's row store, without a statement (None: the engine's)."""
        if part.condition is None or not part.self_contained:
            return None
        columns = {c.name.lower() for c in part.condition.find_all(exp.Column)}
        rows = self.indexes.rows(spec, loaded, columns)
        if rows is None:
            return None
        with loaded.lock:  # a commit on another connection updates the store in place
            return rows.where(part.condition, part.alias, bound)

    def _subset(self, filtered: Filtered | None, index, allowed: np.ndarray) -> Subset | None:
        """A remembered filter's rows gathered for brute force, kept while they fit the budget (the
        most recently used filters keep theirs). Gathering beats Faiss's scan through a bitmap of
        every slot up to a tenth of the rows (at 100k x 128: 0.08 against 0.26 ms for 100 rows, even
        at 10,000, 6.6 against 4.3 ms at 30,000): more only for a filter that repeats."""
        if filtered is None or not filtered.remembered or (filtered.uses < 2 and len(filtered.keys) * 10 > index.live):
            return None
        if filtered.subset is None:
            if len(filtered.keys) * index.dim * 4 > _SUBSET_BYTES:
                return None
            filtered.subset = index.subset(allowed)
            spent = 0
            for entry in reversed(self._filters.values()):
                if entry.subset is not None:
                    spent += entry.subset.vectors.nbytes
                    if spent > _SUBSET_BYTES:
                        entry.subset = None
        return filtered.subset

    def _query_vector(self, search: KnnSearch, statements: KnnStatements, params: Any) -> np.ndarray:
        """The query vector; a NULL one as NaN, which the index answers with no rows (see
        FaissIndex.answerable), so that the statement runs exactly and gives SQL's NULL distances."""
        if search.index.vtype == "bit":
            quantized = _constant(search.query.this) if isinstance(search.query, d.BinaryQuantize) else None
            value = params[quantized] if quantized is not None and not isinstance(quantized, np.ndarray) else quantized
            if value is not None:  # binary_quantize of a literal or a bound vector: 1 where an element is > 0
                return (np.asarray(value, np.float32) > 0).astype(np.float32)
            column = self._run(statements.query.sql, statements.query.bind(params)).column(0).combine_chunks()
            if column.null_count:
                return np.full(self.indexes.get(search.index).index.dim, np.nan, np.float32)
            return self.engine.bits(column)[0].astype(np.float32)
        constant = _constant(search.query)
        if isinstance(constant, np.ndarray):
            return constant
        if constant is not None:
            value = params[constant]
        else:
            value = self._run(statements.query.sql, statements.query.bind(params)).column(0)[0].as_py()
        if value is None:
            return np.full(search.query.meta_get("vdim") or 1, np.nan, np.float32)
        if constant is not None:  # a parameter, which binding validated (Session._bind)
            value = np.asarray(value, dtype=np.float32)
            # a halfvec's values are float16's, checked as pgvector checks them (a literal's were, by analysis)
            return vectors.to_half(value) if search.query.meta_get("vtype") == "halfvec" else value
        return vectors.coerce(np.asarray(value, dtype=np.float32))

    def _run(self, sql: str, params: Any) -> pa.Table:
        return self.engine.arrow(sql, params)

    def _fetch(self, sql: str, params: Any) -> Result:
        """A statement's rows as the engine gives the user's statements (`Engine.result`)."""
        return self.engine.result(self.engine.run(sql, params), True, False)


def _searchable(index, filtered: Filtered | None, pending: np.ndarray) -> np.ndarray | None:
    """The index slots a search may return: the filter's, less those of rows this transaction
    wrote (the index holds their committed state; the fetch reads them as they are now).
    None: every live slot."""
    allowed = None
    if filtered is not None:
        allowed = filtered.allowed
        if len(allowed) != len(index.keys):  # the index grew since the filter was read
            allowed = index.slots_for(filtered.keys)
    if len(pending):
        stale = index.slots_for(pending)
        if stale.any():
            allowed = ~stale if allowed is None else allowed & ~stale
    return allowed


def _engine_distances(distances, index, queries: np.ndarray, hits: list[Hits]) -> list[Hits]:
    """`hits` (one list per query) with the distances the engine computes (`distances`), bit for bit, from the rows'
    vectors the index holds, for an answer given from the index alone (Faiss's own differ in the
    last bits). Left as they are where the index holds the vectors changed (cosine)."""
    counts = [len(h.keys) for h in hits]
    rows = index.stored(np.concatenate([h.keys for h in hits])) if hits else None
    if rows is None:
        return hits
    exact = distances(index.metric, np.repeat(np.asarray(queries, np.float32), counts, axis=0), rows)
    return [Hits(h.keys, part) for h, part in zip(hits, np.split(exact.astype(np.float64), np.cumsum(counts)[:-1]))]


def _where(filtered: Filtered | None) -> str:
    if filtered is None:
        return "yes"
    return f"yes, evaluated {'on the index row store' if filtered.in_memory else 'by the engine'}"


def _selects_distance(search: KnnSearch) -> bool:
    """Whether the search's answer from the index shows its distances (its outputs name one): only
    then are DuckDB's computed, at about 0.5 ms a query (see `_engine_distances`)."""
    return any(kind == "distance" for _, kind, _ in search.outputs or ())


def _from_index(search: KnnSearch, key_type: pa.DataType, hits: Hits, loaded, query: np.ndarray,
                distances, rows) -> pa.Table | None:
    """The k nearest hits, ordered by distance (ties by key), as the statement's columns, the
    others taken from the index's row store `rows` (None: a row is not there, fetch instead). A
    statement that selects the distance gets the one DuckDB would compute, bit for bit; that
    costs about 0.5 ms per query (a float32 step per dimension), so one that selects only the key
    is ordered by the index's own distances, which differ from DuckDB's in the last bits only."""
    if _selects_distance(search):
        with loaded.lock:
            hits = _engine_distances(distances, loaded.index, query[None, :], [hits])[0]
    order = np.lexsort((hits.keys, hits.distances))[: search.k]
    keys = hits.keys[order]
    columns = {"key": pa.array(keys).cast(key_type), "distance": pa.array(hits.distances[order].astype(np.float32))}
    wanted = [column for _, kind, column in search.outputs if kind == "column"]
    if wanted:
        with loaded.lock:
            taken = rows.take(keys, wanted)
        if taken is None:
            return None
        columns.update(zip(wanted, taken.columns))
    return pa.table({name: columns[column if kind == "column" else kind] for name, kind, column in search.outputs})


def _candidates_parameter(params: Any) -> tuple[exp.Parameter, Any]:
    """The parameter that carries candidate keys, after the user's own."""
    if isinstance(params, dict):
        return exp.Parameter(this=exp.Var(this="__vsql_candidates")), "__vsql_candidates"
    count = len(params) if params else 0
    return exp.Parameter(this=exp.Literal.number(count + 1)), count


def _constant(query: exp.Expr | None):
    """A literal query vector as an array, a bound one as its parameter key, else None."""
    if isinstance(query, d.VectorConvert) and query.meta_get("vtype") == "halfvec":
        query = query.this  # a bound vector as a halfvec: rounded by `_query_vector`
    if isinstance(query, d.VectorLiteral):
        return np.asarray(query.values, dtype=np.float32)
    if isinstance(query, d.VectorCast) and param_key(query.this) is not None:
        return param_key(query.this)
    return None


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _with(params: Any, slot: Any, candidates: np.ndarray) -> Any:
    values = candidates.tolist()
    if isinstance(params, dict):
        return {**params, slot: values}
    return [*(params or []), values]


# -- LATERAL batches ----------------------------------------------------------------------------

BATCH_FUNCTION = "vsql_knn"
_HITS, _HIT = "__vsql_hits", "__vsql_hit"
# DuckDB keeps functions per database, shared by its connections: one `vsql_knn` serves every
# session, which its first argument names ("<session token>:<index>").
_EXECUTORS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_TOKENS = itertools.count(1)


def _batch(targets: pa.Array, queries: pa.Array, ks: pa.Array) -> pa.Array:
    """`vsql_knn(target, query, k)`: per query, its k nearest (key, distance) pairs."""
    token, _, name = targets[0].as_py().partition(":")
    return _EXECUTORS[int(token)].batch(name, queries, ks)


def batch_sql(tree: exp.Expr, batches: tuple[KnnSearch, ...], key_types: dict[str, str], token: int,
              lower: Lower) -> str:
    """The statement with each LATERAL search drawing its rows from one batched index call.

    The call returns, per outer row, at most k nearest keys with their distances, nearest first:
    a search that selects only those takes them as they are, any other joins them back to its
    table. Either way the search's own ORDER BY and LIMIT are left out, since the call already
    did their work, and DuckDB would pay for them with a window over every outer row. A
    quantized index's call returns k x refine candidates ranked by coded distances: they are
    joined back and the ORDER BY and LIMIT kept, so that DuckDB re-ranks them exactly.
    """
    swapped = []
    for search in batches:
        replacement = _batched_select(search, key_types[search.index.name], token)
        search.select.replace(replacement)
        swapped.append((replacement, search.select))
    try:
        return lower(tree)[-1]
    finally:
        for replacement, original in swapped:
            replacement.replace(original)


def _batched_select(search: KnnSearch, key_type: str, token: int) -> exp.Select:
    call = exp.Anonymous(this=BATCH_FUNCTION, expressions=[
        exp.Literal.string(f"{token}:{search.index.name}"), search.query.copy(), exp.Literal.number(search.k)])
    hits = exp.select(exp.alias_(exp.Unnest(expressions=[call]), _HIT)).subquery(_HITS)
    field = lambda name: exp.Dot(this=exp.column(_HIT, table=_HITS), expression=exp.to_identifier(name))  # noqa: E731
    if search.outputs and all(kind != "column" for _, kind, _ in search.outputs) and search.index.lossless:
        columns = {"key": exp.cast(field("key"), key_type), "distance": exp.cast(field("distance"), "FLOAT")}
        return exp.select(*[exp.alias_(columns[kind], name) for name, kind, _ in search.outputs]).from_(hits)
    select = search.select.copy()
    if not search.index.hashed and search.index.lossless:  # else identical rows share a key: the join may return more than k
        select.set("order", None)
        select.set("limit", None)
    table = select.args["from_"].this
    select.set("from_", exp.From(this=hits))
    on = exp.EQ(this=search.index.key_of(search.alias), expression=field("key"))
    return select.join(table, on=on, copy=False)


def batch_result(matrix_rows: list[tuple[np.ndarray, np.ndarray]]) -> pa.Array:
    """Per outer row, the (key, distance) pairs found, nearest first (ties by key), as DuckDB's
    LIST(STRUCT(key, distance)); distances None: NULL."""
    unknown = [np.full(len(keys), dists is None) for keys, dists in matrix_rows]
    unknown = np.concatenate(unknown) if unknown else np.empty(0, bool)
    matrix_rows = [(keys, np.zeros(len(keys)) if dists is None else dists) for keys, dists in matrix_rows]
    matrix_rows = [(keys[order], dists[order]) for keys, dists in matrix_rows
                   for order in [np.lexsort((keys, dists))]]
    lengths = np.array([len(keys) for keys, _ in matrix_rows], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    keys = np.concatenate([k for k, _ in matrix_rows]) if matrix_rows else np.empty(0, np.int64)
    dists = np.concatenate([d for _, d in matrix_rows]) if matrix_rows else np.empty(0)
    structs = pa.StructArray.from_arrays([pa.array(keys, pa.int64()), pa.array(dists, pa.float64(), mask=unknown)],
                                         names=["key", "distance"])
    return pa.ListArray.from_arrays(pa.array(offsets), structs)
