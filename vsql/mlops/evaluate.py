"""Measure vector indexes against exact search: evaluation, champion/challenger, tuning.

Every figure comes from real searches. Each query runs as a statement through the session, the
path users take, with the planner pinned to the index version being measured; the truth is brute
force in NumPy over the rows the filter keeps. A row counts as found when its exact distance is
within the k-th nearest one's, so ties never count as misses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ParseError

from vsql.errors import NotSupportedError, ProgrammingError
from vsql.sql import dialect as d
from vsql.sql.metrics import METRICS
from vsql.sql.parse import parse

_CHUNK = 64  # queries per exact-distance block
_DIALECT = d.VSQL()


@dataclass
class Truth:
    """The exact answer over the rows a filter keeps."""

    keys: np.ndarray  # the rows' keys, sorted
    vectors: np.ndarray  # their vectors, in `keys` order
    nearest: list[np.ndarray]  # per query, the exact k nearest keys
    limit: np.ndarray  # per query, the k-th nearest distance

    def recall(self, queries: np.ndarray, found: list[np.ndarray], metric: str) -> np.ndarray:
        """Per query, the share of the exact k nearest that `found` holds (ties count as found)."""
        out = np.ones(len(found))
        for i, keys in enumerate(found):
            want = len(self.nearest[i])
            if not want:
                continue
            rows = np.searchsorted(self.keys, keys)
            rows = rows[(rows < len(self.keys)) & (self.keys[np.minimum(rows, len(self.keys) - 1)] == keys)]
            distances = METRICS[metric].distances(queries[i : i + 1], self.vectors[rows])[0]
            # a k-th nearest without a distance (cosine's zero vectors): any row is as near
            close = (distances <= self.limit[i] + _tolerance(self.limit[i])) | np.isnan(self.limit[i])
            out[i] = min(int(close.sum()), want) / want
        return out


@dataclass
class Measured:
    """One index version's answers and latencies on a query set."""

    name: str
    version: int
    column: str
    recall: np.ndarray
    seconds: np.ndarray
    rows: np.ndarray
    wanted: int  # rows a query should return: min(k, matching rows)
    found: list[np.ndarray]

    def summary(self) -> dict:
        return {
            "index": self.name, "version": self.version, "column": self.column, "queries": len(self.rows),
            "recall": float(self.recall.mean()) if len(self.recall) else None,
            "p50_ms": _ms(self.seconds, 50), "p95_ms": _ms(self.seconds, 95),
            "mean_rows": float(self.rows.mean()) if len(self.rows) else None,
            "min_rows": int(self.rows.min()) if len(self.rows) else None,
            "rows_lost": int(np.maximum(self.wanted - self.rows, 0).sum()),
        }


def evaluate(session, index: str, queries: str, k: int = 10, filter: str | None = None,
             version: int | None = None) -> pa.Table:
    """`SELECT * FROM vsql_evaluate('idx', 'SELECT q FROM queries' [, k =>] [, filter =>] [, version =>])`."""
    spec = _measurable(session.indexes.version_spec(session.indexes.resolve(index), version))
    matrix = query_columns(session, queries, 1)[0]
    (measured,) = measure(session, [(spec, matrix)], _k(k), filter)
    session.indexes.set_recall(spec, float(measured.recall.mean()))
    row = {**measured.summary(), "k": _k(k), "filter": filter}
    return pa.Table.from_pylist([row])


def compare(session, champion: str, challenger: str, queries: str, k: int = 10, filter: str | None = None) -> pa.Table:
    """`SELECT * FROM vsql_compare('champion', 'challenger', 'SELECT q [, q2] FROM queries' [, k =>])`.

    With one query column both indexes answer the same vectors; with two, the first feeds the
    champion and the second the challenger (two columns filled by two embedding models).
    """
    specs = [_measurable(session.indexes.resolve(champion)), _measurable(session.indexes.resolve(challenger))]
    columns = query_columns(session, queries, None)
    if len(columns) > 2:
        raise ProgrammingError("vsql_compare: the query set has one vector column, or two (champion's, challenger's)")
    matrices = [columns[0], columns[-1]]
    if len(matrices[0]) != len(matrices[1]):
        raise ProgrammingError("vsql_compare: both query columns need a vector on every row")
    k = _k(k)
    sides = measure(session, list(zip(specs, matrices)), k, filter)
    overlap = float(np.mean([len(np.intersect1d(a, b)) / max(min(len(a), len(b)), 1)
                             for a, b in zip(sides[0].found, sides[1].found)])) if len(matrices[0]) else None
    summaries = [side.summary() for side in sides]
    verdict = _verdict(*summaries)
    rows = [{"role": role, **summary, "overlap": overlap, "verdict": verdict}
            for role, summary in zip(("champion", "challenger"), summaries)]
    return pa.Table.from_pylist(rows)


def tune(session, index: str, queries: str, target_recall: float = 0.95, k: int = 10) -> pa.Table:
    """`SELECT vsql_tune('idx', 'SELECT q FROM queries', target_recall => 0.95)`: the smallest
    ef_search / probes reaching the target on the query set, stored as the index version's default."""
    if not 0 < float(target_recall) <= 1:
        raise ProgrammingError(f"vsql_tune: target_recall must be in (0, 1], not {target_recall}")
    spec = _measurable(session.indexes.resolve(index))
    matrix = query_columns(session, queries, 1)[0]
    k = _k(k)
    truth = exact(session, spec, matrix, k, None)
    loaded = session.indexes.get(spec)
    with loaded.lock:
        steps = loaded.index.access.tuning_steps(loaded.index.index, k)
        for depth in steps:
            found = [h.keys for h in loaded.index.search(matrix, k, depth)]
            recall = float(truth.recall(matrix, found, spec.metric).mean())
            if recall >= float(target_recall):
                break
    stored = max(1, round(depth / max(1.0, k / 10)))  # defaults are kept for k = 10, scaled for larger k
    session.indexes.set_tuned(spec, stored, recall)
    setting = spec.access.depth_setting
    return pa.Table.from_pylist([{"depth": depth, "setting": setting, "recall": recall, "target_recall": float(target_recall),
                                  "reached": recall >= float(target_recall), "k": k, "index": spec.name,
                                  "version": spec.version}])


def _measurable(spec):
    """Recall is measured for indexes over a `vector` column; not yet over halfvec, bit or an expression."""
    if spec.vtype != "vector" or spec.expression:
        raise NotSupportedError(f'vsql measures the recall of indexes over a vector column; index "{spec.name}" is '
                                f"over {spec.expression or f'{spec.column} ({spec.vtype})'}")
    return spec


def measure(session, sides: list[tuple], k: int, filter: str | None) -> list[Measured]:
    """Run each side's queries through the session, each side pinned to its index version, and
    score them against exact search. Sides take turns query by query, the first rotating, so
    machine noise lands on all alike and a comparison's latencies stay paired."""
    truths = [exact(session, spec, queries, k, filter) for spec, queries in sides]
    statements = [_statement(session, spec, queries, k, filter) for spec, queries in sides]
    found: list[list[np.ndarray]] = [[] for _ in sides]
    seconds: list[list[float]] = [[] for _ in sides]
    for i in range(len(sides[0][1])):
        for side in np.roll(np.arange(len(sides)), -i):
            started = time.perf_counter()
            result = session.run(statements[side], [sides[side][1][i]])
            seconds[side].append(time.perf_counter() - started)
            rows = result.rows if result.rows is not None else [tuple(r.values()) for r in result.table.to_pylist()]
            found[side].append(np.array([r[0] for r in rows], np.int64))
    return [Measured(spec.name, spec.version, spec.column, truth.recall(queries, got, spec.metric), np.array(took),
                     np.array([len(f) for f in got]), min(k, len(truth.keys)), got)
            for (spec, queries), truth, got, took in zip(sides, truths, found, seconds)]


def _statement(session, spec, queries: np.ndarray, k: int, filter: str | None) -> list:
    """The k-NN statement planned with `spec` pinned, run once to load the index outside the timings."""
    distance = d.DISTANCES[spec.metric](
        this=exp.column(spec.column, quoted=True), expression=exp.Parameter(this=exp.Literal.number(1)))
    sql = _rows(spec, spec.key_of(), where=_condition(filter, spec)).order_by(
        distance).limit(k).sql(d.VSQL)
    if not len(queries):
        return []
    with session.indexes.pinned(spec):
        session._schema_changed()  # compiled statements chose their index before the pin
        try:
            statement = session.compile(sql, [queries[0]])
            session.run(statement, [queries[0]])
        finally:
            session._schema_changed()
    return statement


def exact(session, spec, queries: np.ndarray, k: int, filter: str | None) -> Truth:
    """Brute force over the rows of `spec`'s table that pass `filter`."""
    key, column = spec.key_of(), exp.column(spec.column, quoted=True)
    select = _rows(spec, key, column, where=exp.and_(exp.not_(column.is_(exp.null())), _condition(filter, spec)))
    result = session.execute(select.order_by(key).sql(d.VSQL))
    data = result.table
    keys = data.column(0).to_numpy().astype(np.int64)
    vectors = _matrix(data.column(1)) if len(keys) else np.empty((0, queries.shape[1]), np.float32)
    if vectors.shape[1] != queries.shape[1]:
        raise ProgrammingError(f"expected {vectors.shape[1]} dimensions, not {queries.shape[1]}: the query "
                               f"vectors do not fit {spec.table}.{spec.column}")
    nearest, limit = [], np.zeros(len(queries))
    for start in range(0, len(queries), _CHUNK):
        block = METRICS[spec.metric].distances(queries[start : start + _CHUNK], vectors)
        for i, row in enumerate(block):
            top = np.argsort(row, kind="stable")[:k] if len(row) <= k else np.argpartition(row, k - 1)[:k]
            top = top[np.argsort(row[top], kind="stable")]
            nearest.append(keys[top])
            limit[start + i] = row[top[-1]] if len(top) else np.inf
    return Truth(keys, vectors, nearest, limit)


def query_columns(session, sql: str, count: int | None) -> list[np.ndarray]:
    """The vector columns of a query set's rows, as float32 matrices (the first `count`). The query
    set is one SELECT, read by the vsql dialect: another statement never runs in its place."""
    statements = parse(sql) if isinstance(sql, str) else []
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ProgrammingError(f"the query set {sql!r} is not one SELECT")
    result = session.execute(statements[0].sql(d.VSQL))
    table = result.table
    if table is None:
        raise ProgrammingError(f"the query set {sql!r} returns no vector column")
    matrices = []
    for column in table.columns[:count]:
        if not (pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type)):
            raise ProgrammingError(f"the query set {sql!r}: column {table.column_names[len(matrices)]} is not a vector")
        if column.null_count:
            raise ProgrammingError(f"the query set {sql!r} has NULL query vectors")
        matrices.append(_matrix(column))
    if not matrices:
        raise ProgrammingError(f"the query set {sql!r} returns no vector column")
    return matrices


def _verdict(champion: dict, challenger: dict) -> str:
    """Promote a challenger that loses no rows and gains recall at a bearable cost, or matches
    recall faster; otherwise keep the champion. The reason is part of the verdict."""
    if challenger["recall"] is None or champion["recall"] is None:
        return "no queries: nothing to compare"
    gain = challenger["recall"] - champion["recall"]
    speed = challenger["p50_ms"] / champion["p50_ms"] if champion["p50_ms"] else 1.0
    facts = f"recall {challenger['recall']:.3f} vs {champion['recall']:.3f}, p50 latency {speed:.2f}x"
    if challenger["rows_lost"] > champion["rows_lost"]:
        return f"keep champion: the challenger returns fewer rows ({challenger['rows_lost']} lost); {facts}"
    if gain >= 0.01 and speed <= 1.5:
        return f"promote challenger: better recall; {facts}"
    if gain > -0.01 and speed <= 0.9:
        return f"promote challenger: as accurate and faster; {facts}"
    return f"keep champion: {facts}"


def _tolerance(limit: float) -> float:
    return 1e-5 * max(abs(limit), 1.0)  # float32 distances from the engine against float64 here


def _matrix(column) -> np.ndarray:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = array.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return values.reshape(len(array), -1)


def _ms(seconds: np.ndarray, pct: float) -> float | None:
    return float(np.percentile(seconds, pct) * 1000) if len(seconds) else None


def _rows(spec, *columns: exp.Expr, where: exp.Expr | None) -> exp.Select:
    return exp.select(*columns).from_(exp.table_(spec.table, quoted=True)).where(where)


def _condition(filter: str | None, spec) -> exp.Expr | None:
    """`filter`, read by the vsql dialect as one condition on the columns of `spec`'s table (it
    enters statements as a node, never as text, and reads no other table), and a partial index's
    own WHERE: an index is measured on the rows it holds."""
    own = spec.condition()
    if filter is None:
        return own
    try:
        (condition,) = _DIALECT.parse_into(exp.Condition, filter) if isinstance(filter, str) else (None,)
    except ParseError:
        condition = None
    if condition is None:
        raise ProgrammingError(f"the filter {filter!r} is not one condition (a WHERE clause, without WHERE)")
    if condition.find(exp.Query, exp.Table) or any(
            c.table and c.table.lower() != spec.table.lower() for c in condition.find_all(exp.Column)):
        raise ProgrammingError(f"the filter {filter!r} reads another table: it is a condition on the columns of "
                               f"{spec.table} alone, without subqueries")
    if condition.find(exp.Parameter, exp.Placeholder):
        raise ProgrammingError(f"the filter {filter!r} holds a parameter: bind the whole filter instead")
    return exp.and_(own, condition) if own is not None else condition


def _k(k) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 1000:
        raise ProgrammingError(f"k must be an integer from 1 to 1000, not {k!r}")
    return k
