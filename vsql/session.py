"""The one execution path every surface calls: parse, analyze, plan, execute.

The shell and the notebook magics run SQL through the DB-API cursor, whose `execute` calls
`Session.compile` and then `Session.run` (it starts the DB-API's implicit transaction before
them); `executemany` and the connection's commit and rollback call `Session.execute`, which is
those two steps together, and bulk loads call `Session.insert_arrow`.
Compiled statements are cached per SQL text and parameter shape until the schema changes. The
session also owns the transaction: writes to indexed tables are remembered until COMMIT, when the
indexes learn of them, or ROLLBACK, when they are forgotten.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from vsql.engine.base import Engine, Result
from vsql.engine.catalog import Catalog
from vsql.engine.knn import KnnExecutor, KnnStatements, batch_sql, filter_part, prepare
from vsql.errors import Error, InFailedSqlTransaction, ProgrammingError, translate
from vsql.index.store import IndexManager
from vsql.mlops import functions, models, reembed
from vsql.plan.planner import Plan, plan
from vsql.settings import Settings
from vsql.sql import statements as st
from vsql.sql import vectors
from vsql.sql.analyze import analyze
from vsql.sql.dialect import Explain
from vsql.sql.parse import parse

_CACHE_SIZE = 512
_RETURNS_ROWS = (
    exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Describe, exp.Pragma, exp.Show, exp.Command, Explain,
)
_KEY_COLUMN = "__vsql_key"
# statements the engine runs as written (sqlglot could not parse them) that may write tables
_WRITING_COMMANDS = {"INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "TRUNCATE", "IMPORT", "ALTER", "UPSERT", "REPLACE"}


@dataclass(frozen=True)
class Compiled:
    """A statement ready for the engine: its SQL statements (run in order) and its plan."""

    sql: tuple[str, ...]
    plan: Plan
    knn: KnnStatements | None = None
    batch_sql: str | None = None  # the statement with its LATERAL searches batched through indexes
    batch_filters: dict | None = None


class Session:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.catalog = Catalog(engine, lambda: models.registry(engine))
        models.register_udf(engine)
        self.settings = Settings()
        self.indexes = (getattr(engine, "index_catalog", None) or IndexManager)(engine, self.settings)
        self.knn = KnnExecutor(engine, self.indexes, self.settings)
        self.lock = threading.RLock()
        self.in_transaction = False
        self.aborted = False  # an error ended the transaction block's work: only its end may run
        self._began_at = self.indexes.shared.generation
        self._epoch = self.indexes.shared.schema_epoch
        self._pending: dict[str, list] = defaultdict(list)  # index -> keys written in this transaction
        self._compiled: OrderedDict[tuple, list[Compiled]] = OrderedDict()
        self.reembeds: dict[tuple[str, str], reembed.Job] = {}  # background re-embeddings by (table, column)

    # -- the path ---------------------------------------------------------------------------

    def execute(self, sql: str, params: Any = None) -> Result:
        """Run every statement of `sql`; the result is the last statement's."""
        return self.run(self.compile(sql, params), params)

    def compile(self, sql: str, params: Any = None) -> list[Compiled | exp.Expr]:
        """Parse, analyze and plan `sql` for parameters shaped like `params`; statements after
        one that changes tables stay parsed trees, planned by `run` in their turn."""
        with self.lock, _translated(self):
            if self.aborted:  # before the catalog, which the engine's aborted transaction would refuse
                self._check_aborted(parse(sql))
            if self.reembeds:  # before planning: a switch changes the indexes statements use
                reembed.switch_ready(self)
            if self._epoch != self.indexes.shared.schema_epoch:  # another connection changed tables or indexes
                self._epoch = self.indexes.shared.schema_epoch
                self.catalog.invalidate()
                self.indexes.invalidate()
            key = (sql, _signature(params), self.catalog.version)
            cached = self._compiled.get(key)
            if cached is not None:
                self._compiled.move_to_end(key)
                return cached
            compiled = []
            for statement in parse(sql):
                # after a statement that changes tables, the next ones are planned once it has run
                later = any(isinstance(c, exp.Expr) or c.plan.changes_schema for c in compiled)
                compiled.append(statement if later else self._compile(statement, params))
            if not compiled:
                raise ProgrammingError("no statement to run: the SQL text is empty")
            if len(compiled) > 1 and params:
                raise ProgrammingError("parameters can be bound to one statement at a time")
            self._compiled[key] = compiled
            if len(self._compiled) > _CACHE_SIZE:
                self._compiled.popitem(last=False)
            return compiled

    def run(self, statements: list[Compiled | exp.Expr], params: Any = None) -> Result:
        """Run compiled statements in order; a statement left as a tree (`compile`) is planned
        when its turn comes, over the tables the statements before it made."""
        with self.lock, _translated(self):
            self.indexes.notices.clear()
            result = Result(None, -1)
            for statement in statements:
                if isinstance(statement, exp.Expr):
                    self._check_aborted([statement])
                    statement = self._compile(statement, params)
                self._check_aborted([statement.plan.tree])
                result = self._run(statement, params)
            return result

    def _compile(self, statement: exp.Expr, params: Any) -> Compiled:
        the_plan = plan(analyze(statement, self.catalog, params), self.catalog, self.indexes, functions.FUNCTIONS)
        if the_plan.action == "index" and getattr(self.engine, "index_catalog", None):
            the_plan = replace(the_plan, action="sql")  # an engine keeping vsql's indexes itself (Spark) lowers their DDL
        if the_plan.action == "setting" or the_plan.action == "index" and _key(the_plan.tree) not in _ENGINE_FIRST \
                or isinstance(the_plan.tree, st.CreateExtension):
            return Compiled((), the_plan)  # vsql's own: nothing for the engine to run
        tree = _returning_key(the_plan) if the_plan.action == "write" else the_plan.tree
        key_type = lambda spec: self.catalog.table(
            spec.table, spec.schema, self.catalog.database).columns.get(spec.key, "BIGINT")
        top = the_plan.tree.this if isinstance(the_plan.tree, Explain) else the_plan.tree
        knn = prepare(the_plan.ann, params, key_type(the_plan.ann.index), self.engine.lower, top) \
            if the_plan.action == "knn" else None
        batched = filters = None
        if the_plan.batches and the_plan.action == "sql":
            types = {s.index.name: key_type(s.index) for s in the_plan.batches}
            filters = {s.index.name: filter_part(s, self.engine.lower) for s in the_plan.batches}
            batched = batch_sql(the_plan.tree, the_plan.batches, types, self.knn.token, self.engine.lower)
        return Compiled(tuple(self.engine.lower(tree)), the_plan, knn, batched, filters)

    def _run(self, statement: Compiled, params: Any) -> Result:
        action = statement.plan.action
        if action == "setting":
            return self._setting(statement.plan.command)
        if action == "index":
            return self._index_command(statement)
        if action == "write":
            return self._write(statement, params)
        if action == "knn":
            return self._knn(statement, params)
        if action == "transaction":
            {exp.Transaction: self.begin, exp.Commit: self.commit, exp.Rollback: self.rollback}[
                type(statement.plan.tree)]()
            return Result(None, -1)
        if not statement.sql:  # CREATE EXTENSION vector: vsql has it built in
            return Result(None, -1)
        calls = self._calls(statement.plan, params)
        try:
            *prelude, sql = statement.sql
            for setup in prelude:
                self.engine.run(setup)
            bound = _bind(params, statement.plan.vector_params)
            if statement.plan.calls and not statement.plan.tree.find(exp.Parameter, exp.Placeholder):
                bound = None  # the parameters were all the calls' own
            if statement.batch_sql and self._index_current([s.index for s in statement.plan.batches]):
                self.knn.set_batches(statement.plan, statement.batch_filters, bound)
                sql = statement.batch_sql
            cursor = self.engine.run(sql, bound)
        finally:
            if statement.plan.changes_schema:
                self._schema_changed()
        if isinstance(statement.plan.tree, exp.Command):
            word = statement.plan.tree.name.split()[0].upper() if statement.plan.tree.name.strip() else ""
            if word == "CHECKPOINT":
                self.indexes.checkpoint()
            elif word in _WRITING_COMMANDS:  # a write sqlglot could not read: any table may have changed
                for spec in self.indexes.specs().values():
                    self._rewritten(spec)
        result = self._result(statement.plan.tree, cursor)
        for relation in calls:  # once the engine has read them (a failed statement leaves them to be replaced)
            self.engine.unregister(relation)
        if isinstance(statement.plan.tree, Explain) and statement.plan.searches and result.rows is not None:
            result.rows.insert(0, ("vsql_plan", _exact_plan(statement.plan)))
        return result

    def _calls(self, the_plan: Plan, params: Any) -> list[str]:
        """Compute the statement's vsql function calls and hand their results to the engine."""
        relations = []
        for call in the_plan.calls:
            if functions.FUNCTIONS[call.name].writes:
                with self._atomic():
                    table = functions.call(self, call.name, call.args, call.options, params)
                self._schema_changed()
            else:
                table = functions.call(self, call.name, call.args, call.options, params)
            self.engine.register(call.relation, table.select([0]) if call.scalar else table)
            relations.append(call.relation)
        return relations

    # -- transactions -----------------------------------------------------------------------

    def begin(self) -> None:
        """BEGIN; inside a transaction it changes nothing (PostgreSQL only warns)."""
        if self.in_transaction:
            return
        self.engine.begin()
        self._transaction(exp.Transaction())

    def commit(self) -> None:
        self._finish("COMMIT")

    def rollback(self) -> None:
        self._finish("ROLLBACK")

    def _check_aborted(self, statements: list[exp.Expr]) -> None:
        """PostgreSQL's rule: after an error, a transaction block runs nothing but its end
        (ROLLBACK, ABORT, or COMMIT, which rolls back), so none of its work can be committed."""
        if self.aborted and not (statements and isinstance(statements[0], (exp.Commit, exp.Rollback))):
            raise InFailedSqlTransaction()

    def _finish(self, sql: str) -> None:
        """COMMIT or ROLLBACK; outside a transaction it changes nothing (PostgreSQL only warns)."""
        if not self.in_transaction:
            return
        if self.aborted:
            sql = "ROLLBACK"  # PostgreSQL's COMMIT of an aborted transaction rolls it back
        with self.indexes.shared.committing() if sql == "COMMIT" and self._pending else nullcontext():
            try:
                (self.engine.commit if sql == "COMMIT" else self.engine.rollback)()
            except Exception:
                self._transaction(exp.Rollback())  # a COMMIT that fails rolls the transaction back
                raise
            self._transaction(exp.Commit() if sql == "COMMIT" else exp.Rollback())
        if self.reembeds:
            reembed.switch_ready(self)

    def _transaction(self, statement: exp.Expr) -> None:
        if isinstance(statement, exp.Transaction):
            self.in_transaction = True
            self._began_at = self.indexes.shared.generation
            self.settings.begin()
            return
        committed = isinstance(statement, exp.Commit)
        self.in_transaction = self.aborted = False
        self.settings.end(committed)
        pending, self._pending = self._pending, defaultdict(list)
        if committed:
            for name, parts in pending.items():
                spec = self.indexes.specs().get(name)
                if spec is not None:
                    self.indexes.apply(spec, None if any(p is None for p in parts) else np.concatenate(parts))
        else:
            self._schema_changed()

    # -- statements vsql carries out --------------------------------------------------------

    def _setting(self, command: tuple) -> Result:
        action, name, *rest = command
        if action == "set":
            value, local = rest
            self.settings.set(name, value, local)
        elif action == "reset":
            self.settings.reset(name)
        else:
            return Result(pa.table({name: [self.settings.show(name)]}), 1)
        return Result(None, -1)

    def _index_command(self, statement: Compiled) -> Result:
        handler = _COMMANDS[_key(statement.plan.tree)]
        before = self.indexes.shared.generation
        with self.indexes.shared.committing():  # other connections ask the table until the index is in place
            with self._atomic():
                for sql in statement.sql:  # DROP TABLE, ALTER TABLE: the engine's part first
                    self.engine.run(sql)
                rewritten = handler(self, *statement.plan.command) or ()
            if not self.in_transaction:  # else the build read this transaction's own view
                self.indexes.catch_up()
            for spec in rewritten:
                self._rewritten(spec)
        if self.in_transaction and self._began_at == before and self.indexes.shared.generation == before + 2:
            # Only this statement moved the generation (committing's two steps): the indexes still
            # hold what this transaction sees, a new one built from its own view, so it may use them.
            self._began_at = self.indexes.shared.generation
        self._schema_changed()
        return Result(None, -1)

    def _write(self, statement: Compiled, params: Any) -> Result:
        """Run a write to an indexed table and note the keys it touched for its indexes."""
        the_plan = statement.plan
        *prelude, sql = statement.sql
        table = self._tracked(sql, _bind(params, the_plan.vector_params), the_plan.writes, prelude)
        returning = the_plan.tree.args.get("returning") is not None
        if _KEY_COLUMN not in table.schema.names:  # run as written (COPY, TRUNCATE, keys rewritten)
            if returning:
                return Result(table, table.num_rows)
            return Result(None, table.column(0)[0].as_py() if table.num_rows else -1)  # DuckDB's count
        if returning:
            return Result(table.drop_columns([_KEY_COLUMN]), table.num_rows)
        return Result(None, table.num_rows)

    def insert_arrow(self, table: exp.Table, data: pa.Table | pa.RecordBatchReader) -> int:
        """Append Arrow data by column name, keeping the table's indexes current."""
        names = data.schema.names
        batch = "__vsql_batch"
        statement = exp.insert(
            exp.select(*[exp.column(n, quoted=True) for n in names]).from_(batch),
            table, columns=[exp.to_identifier(n, quoted=True) for n in names],
        )
        specs = tuple(self.indexes.for_table(self.catalog.of(table)))
        with self.lock, _translated():
            self.engine.register(batch, data)  # an aborted transaction drops it on ROLLBACK
            if specs and _one_key(specs):
                statement.set("returning", exp.Returning(expressions=[exp.alias_(specs[0].key_of(), _KEY_COLUMN)]))
                count = self._tracked(statement, None, specs).num_rows
            else:
                count = self.engine.rows(statement)[0][0]
                for spec in specs:
                    self._rewritten(spec)
            self.engine.unregister(batch)
            return count

    def _knn(self, statement: Compiled, params: Any) -> Result:
        the_plan = statement.plan
        spec = the_plan.ann.index
        pending = self._pending.get(spec.name, [])
        began = self.indexes.shared.generation
        if any(p is None for p in pending) or not self._index_usable(began):
            # this transaction rewrote the table wholesale, or the shared index and this
            # transaction disagree on another connection's commit: the table answers
            result = self._result(the_plan.tree, self.engine.run(statement.sql[-1], _bind(params, the_plan.vector_params)))
            if isinstance(the_plan.tree, Explain) and result.rows is not None:
                why = "this transaction wrote the table in ways vsql follows only by comparing it with the index" \
                    if any(p is None for p in pending) else "the index and this transaction see different commits"
                result.rows.insert(0, ("vsql_plan", f"vsql k-NN search on {spec.table}.{the_plan.ann.column}: "
                                                    f"exact search on the engine: {why}"))
            return result
        keys = np.unique(np.concatenate(pending)) if pending else np.empty(0, np.int64)
        bound = _bind(params, the_plan.vector_params)
        exact = statement.sql[-1]
        current = self._index_current([spec])
        index_only = bool(the_plan.ann.outputs) and current
        if isinstance(the_plan.tree, Explain):
            exact = self.engine.lower(the_plan.tree.this)[-1]
            table = self.knn.explain(the_plan, statement.knn, exact, bound, keys, current, index_only,
                                     the_plan.tree.args.get("analyze"))
        else:
            result = self.knn.run(the_plan, statement.knn, exact, bound, keys, current, index_only).result
            if self.indexes.shared.generation != began:  # a commit reached the index during the search
                return self._result(the_plan.tree, self.engine.run(exact, bound))
            return result
        return Result(table, table.num_rows)

    # -- helpers ----------------------------------------------------------------------------

    def _atomic(self):
        """The statement's own transaction, unless one is open (then it is the caller's)."""
        return _Atomic(self)

    def _index_current(self, specs) -> bool:
        """Whether the indexes hold exactly the rows this transaction sees: none of its own
        writes are pending, and no other commit reached them since it began."""
        if any(self._pending.get(spec.name) for spec in specs):
            return False
        return self._index_usable(self.indexes.shared.generation)

    def _index_usable(self, now: int) -> bool:
        """Whether the shared indexes hold what this transaction sees, but for its own pending
        writes: no commit (or index build) is on its way to them, and none reached them since
        the transaction began."""
        return self.indexes.shared.settled() and (not self.in_transaction or self._began_at == now)

    def _tracked(self, sql, params: Any, specs, prelude=()) -> pa.Table:
        """Run a write that returns the keys it touched, and let the indexes `specs` learn them at
        its commit (until then, this transaction's searches read those rows from the table)."""
        with self.indexes.shared.committing() if not self.in_transaction else nullcontext():
            with self._atomic() as own:
                for setup in prelude:
                    self.engine.run(setup)
                table = self.engine.arrow(sql, params)
                keys = _written_keys(table)
            for spec in specs:
                if own:
                    self.indexes.apply(spec, keys)
                else:
                    self._pending[spec.name].append(keys)
        return table

    def _result(self, tree: exp.Expr, cursor) -> Result:
        return self.engine.result(cursor, isinstance(tree, _RETURNS_ROWS), _counts_rows(tree))

    def _rewritten(self, spec) -> None:
        """A statement changed the index's table in ways vsql cannot follow row by row: the rest of
        the transaction searches the table exactly, and its commit compares the table with the
        index (`IndexManager.sync`)."""
        if self.in_transaction:
            self._pending[spec.name].append(None)
        else:
            self.indexes.apply(spec, None)

    def _schema_changed(self) -> None:
        self.catalog.invalidate()
        self.indexes.invalidate()
        self.indexes.shared.schema_changed()

    def close(self) -> None:
        reembed.stop_all(self)
        with self.lock:
            if self.in_transaction:
                self.rollback()
            try:
                self.indexes.close()
            finally:
                self.engine.close()


def _key(tree: exp.Expr) -> tuple[type, str | None]:
    """A statement's node class and kind: sqlglot's CREATE, DROP and ALTER name what they act on
    in `kind`, as does REINDEX."""
    return type(tree), tree.args.get("kind")


def _drop_indexes(session: Session, names: list[str], if_exists: bool) -> None:
    for name in names:
        session.indexes.drop(name, if_exists)


def _drop_indexes_of(session: Session, tables: list) -> None:
    for table in tables:
        session.indexes.drop_for_table(table)


def _reindex(session: Session, names: list[str]) -> None:
    for name in names:
        session.indexes.reindex(name)


# What vsql does for the statements it carries out, by `_key`: handler(session, *the plan's
# command) -> the indexes whose rows the statement may have rewritten, if any.
_COMMANDS = {
    (exp.Create, "INDEX"): lambda session, *args: session.indexes.create(*args),
    (exp.Create, "TABLE"): _drop_indexes_of,  # CREATE OR REPLACE TABLE
    (exp.Drop, "INDEX"): _drop_indexes,
    (exp.Drop, "TABLE"): _drop_indexes_of,
    (exp.Alter, "INDEX"): lambda session, name, options: session.indexes.reindex(name, options),
    (exp.Alter, "TABLE"): lambda session, *args: session.indexes.table_altered(*args),  # TYPE ... USING rewrites rows
    (st.CreateVectorAlias, None): lambda session, name, index: session.indexes.alias("create", name, index),
    (st.AlterVectorAlias, None): lambda session, name, index: session.indexes.alias("alter", name, index),
    (st.DropVectorAlias, None): lambda session, name, if_exists: session.indexes.alias("drop", name, None, if_exists),
    (st.SetModel, None): lambda session, *args: models.bind(session.engine, session.catalog, *args),
    (st.Reindex, "INDEX"): _reindex,
    (st.Reindex, "TABLE"): _reindex,
}
# the table DDL among them the engine runs first; vsql then follows it
_ENGINE_FIRST = {(exp.Create, "TABLE"), (exp.Drop, "TABLE"), (exp.Alter, "TABLE")}


class _Atomic:
    def __init__(self, session: Session):
        self.session = session
        self.own = False

    def __enter__(self) -> bool:
        if not self.session.in_transaction:
            self.session.engine.begin()
            self.own = True
        return self.own

    def __exit__(self, kind, value, traceback) -> None:
        if not self.own:
            return
        if kind is None:
            self.session.engine.commit()
        else:
            self.session.engine.rollback()
            self.session._schema_changed()


class _translated:
    """Every failure leaves the session as a DB-API error, its cause attached; inside a transaction
    block of `session`, it aborts the transaction (PostgreSQL's rule, whatever raised it)."""

    def __init__(self, session: Session | None = None):
        self.session = session

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if value is None or not isinstance(value, Exception):
            return False
        if self.session is not None and self.session.in_transaction:
            self.session.aborted = True
        if isinstance(value, Error):
            return False  # vsql's own, with its cause
        raise translate(value) from value


def _returning_key(the_plan: Plan) -> exp.Expr:
    """The write, made to return the primary keys it touched (after the user's RETURNING)."""
    tree = the_plan.tree
    if isinstance(tree, (exp.Copy, exp.TruncateTable)):
        return tree
    spec = the_plan.writes[0]
    if not _one_key(the_plan.writes) or set(spec.identity) & _assigned(tree):
        return tree  # keys themselves change: the indexes compare themselves with the table (see _written_keys)
    tree = tree.copy()
    key = exp.alias_(spec.key_of(), _KEY_COLUMN)
    returning = tree.args.get("returning")
    if returning is None:
        tree.set("returning", exp.Returning(expressions=[key]))
    else:
        returning.append("expressions", key)
    return tree


def _one_key(specs) -> bool:
    """Whether the indexes `specs` name rows alike (a table's indexes built before and after a
    column was added hash different columns when the table has no key)."""
    return len({spec.key for spec in specs}) == 1


def _assigned(tree: exp.Expr) -> set[str]:
    """The columns a write assigns with SET: in UPDATE, ON CONFLICT DO UPDATE and MERGE's
    WHEN ... THEN UPDATE, one column or a tuple of them at a time."""
    names = set()
    for assignment in tree.find_all(exp.EQ):
        if isinstance(assignment.parent, (exp.Update, exp.OnConflict)):
            target = assignment.this
            columns = target.expressions if isinstance(target, exp.Tuple) else [target]
            names.update(c.name.lower() for c in columns if isinstance(c, exp.Column))
    return names


def _written_keys(table: pa.Table) -> np.ndarray | None:
    if _KEY_COLUMN not in table.schema.names:
        return None  # COPY, TRUNCATE, or keys rewritten: follow by rebuilding
    return table.column(_KEY_COLUMN).to_numpy().astype(np.int64)


def _exact_plan(the_plan: Plan) -> str:
    """What EXPLAIN says of k-NN searches that run exactly on the engine, and why."""
    lines = []
    for search in the_plan.searches:
        how = "index batch (one call per chunk of outer rows)" if search in the_plan.batches else \
            f"exact search on the engine: {search.why_exact or 'an index answers it'}"
        lines.append(f"vsql k-NN search on {search.table}.{search.column} ({search.metric}), k = {search.k}: {how}")
    return "\n".join(lines)


def _counts_rows(tree: exp.Expr) -> bool:
    """A write without RETURNING: DuckDB answers with the count of rows it wrote."""
    return isinstance(tree, (exp.Insert, exp.Update, exp.Delete, exp.Copy)) and not tree.args.get("returning")


def _signature(params: Any) -> tuple:
    """What about the parameters changes the compiled statement: which are vectors, of what size."""
    if not params:
        return ()
    items = params.items() if isinstance(params, dict) else enumerate(params)
    return tuple((key, _shape(value)) for key, value in items)


def _shape(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return ("ndarray", value.shape, value.dtype.kind)
    if isinstance(value, (list, tuple)):
        return ("seq", len(value))
    if isinstance(value, str):
        return ("str", value.count(","))
    return type(value).__name__


def _bind(params: Any, vector_keys: frozenset) -> Any:
    """Parameters as DuckDB binds them: vectors as float32-exact lists, cast to FLOAT[n] in SQL."""
    if not params:
        return None
    if isinstance(params, dict):
        return {k: vectors.coerce(v).tolist() if k in vector_keys else _plain(v) for k, v in params.items()}
    return [vectors.coerce(v).tolist() if i in vector_keys else _plain(v) for i, v in enumerate(params)]


def _plain(value: Any) -> Any:
    if vectors.is_sparse_value(value):  # a sparsevec binds as the engine's struct (lowering's _sparse_cast)
        return vectors.sparse_struct(vectors.coerce_sparse(value))
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value

