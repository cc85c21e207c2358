"""Re-embed a vector column with another model (version): the slow part in the background, the
switch in one transaction.

`SELECT vsql_reembed('docs', 'e', 'minilm@2', 'body')` starts a thread that embeds the `body` of
every row into a shadow table keyed by the primary key (the user's table keeps its shape, so
writes go on meanwhile), a chunk at a time, in its own DuckDB connection. Rows written in the
meantime are caught up: a shadow row remembers the text it was made from. When the shadow is
complete, the session's next statement (or `wait => true`) switches over in one transaction:
the column takes the new vectors, is bound to the new model, and each index on it is rebuilt as
a new version. Until then the column keeps its old model, and queries name the old version.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field

import pyarrow as pa
import sqlglot
from sqlglot import exp

from vsql.errors import ProgrammingError
from vsql.index.spec import key_expression, row_key
from vsql.mlops import models

# The statements a re-embedding runs, over the names in _underscores_ (`_statement`).
_COUNT = "SELECT count(*) FROM vsql._shadow_"
_STALE = ("DELETE FROM vsql._shadow_ AS s WHERE NOT EXISTS (SELECT 1 FROM _table_ AS t WHERE t._key_ = s.key "
          "AND t._source_ IS NOT DISTINCT FROM s.text)")
_FILL = ("INSERT INTO vsql._shadow_ SELECT key, vsql_embed(?, ?, text), text FROM (SELECT DISTINCT _key_ AS key, "
         "_source_ AS text FROM _table_ WHERE _source_ IS NOT NULL AND _key_ NOT IN (SELECT key FROM vsql._shadow_) "
         "LIMIT 256)")  # DISTINCT: identical rows of a table without a key share their key
_CREATE = "CREATE OR REPLACE TABLE vsql._shadow_ (key BIGINT PRIMARY KEY, vector _vector_, text VARCHAR)"
_TOTAL = "SELECT count(_source_) FROM _table_"
_SWITCH = ["UPDATE _table_ SET _column_ = s.vector FROM vsql._shadow_ AS s WHERE _table_._key_ = s.key",
           "UPDATE _table_ SET _column_ = NULL WHERE _source_ IS NULL",
           "DROP TABLE vsql._shadow_"]


@dataclass
class Job:
    table: str
    column: str
    source: str
    key: str
    model: models.Model
    shadow: str
    total: int
    state: str = "running"  # running | ready | switched | failed
    error: str | None = None
    thread: threading.Thread | None = field(default=None, repr=False)
    stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def row(self, engine) -> dict:
        done = None if self.state == "switched" else engine.rows(self.statement(_COUNT))[0][0]
        return {"table": self.table, "column": self.column, "model": self.model.label, "source": self.source,
                "state": self.state, "embedded": done, "rows": self.total, "error": self.error}

    def statement(self, template: str) -> exp.Expr:
        vector = exp.DataType.build(f"FLOAT[{self.model.dim}]", dialect="duckdb")
        return _statement(template, _table_=self.table, _key_=self.key, _source_=self.source,
                          _column_=self.column, _shadow_=self.shadow, _vector_=vector)

    def catch_up(self, engine, stop: threading.Event | None = None) -> None:
        """Drop stale shadow rows, then embed missing ones a chunk at a time: the thread's work,
        and the switch's last catch-up."""
        engine.run(self.statement(_STALE))
        fill = self.statement(_FILL)
        while stop is None or not stop.is_set():
            if not engine.rows(fill, [self.model.provider, self.model.source])[0][0]:
                return


def start(session, table: str, column: str, model: str, source: str, wait: bool = False) -> pa.Table:
    """`SELECT vsql_reembed('docs', 'e', 'minilm@2', 'body' [, wait => true])`."""
    if session.in_transaction:
        raise ProgrammingError("vsql_reembed cannot run inside a transaction block: its background connection "
                               "must see the shadow table (use autocommit, as for CREATE INDEX CONCURRENTLY)")
    info = session.catalog.table(table)
    if info is None:
        raise ProgrammingError(f'relation "{table}" does not exist')
    dim = info.vector_dim(column)
    if dim is None:
        raise ProgrammingError(f'column "{column}" of "{table}" is not a vector column')
    if source.lower() not in info.columns:
        raise ProgrammingError(f'column "{source}" of "{table}" does not exist')
    found = session.catalog.model(model)
    if found.dim != dim:
        raise ProgrammingError(f'model "{found.label}" makes {found.dim}-dimensional vectors; column "{column}" '
                               f'of "{table}" is vector({dim}): add a new column for a model of another dimension')
    running = session.reembeds.get((info.name.lower(), column.lower()))
    if running is not None and running.state in ("running", "ready"):
        raise ProgrammingError(f"{info.name}.{column} is already being re-embedded with {running.model.label}")
    key = row_key(info)
    job = Job(info.name, column.lower(), source.lower(), key, found, shadow_table(info.name, column), 0)
    session.engine.run("CREATE SCHEMA IF NOT EXISTS vsql")
    session.engine.run(job.statement(_CREATE))
    job.total = session.engine.rows(job.statement(_TOTAL))[0][0]
    session.reembeds[(info.name.lower(), column.lower())] = job
    job.thread = threading.Thread(target=_fill, args=(job, session.engine.fork()), daemon=True,
                                  name=f"vsql re-embed {info.name}.{column}")
    job.thread.start()
    if wait:
        job.thread.join()
        switch_ready(session)
    return pa.Table.from_pylist([job.row(session.engine) if job.state != "switched" else
                                 {**job.row(session.engine), "embedded": job.total}])


def _fill(job: Job, engine) -> None:
    """The background part, in its own connection; a write conflict with the user's writes retries."""
    try:
        for attempt in range(100):
            try:
                job.catch_up(engine, job.stop)
                break
            except engine.conflict:
                time.sleep(0.05 * (attempt + 1))
        job.state = "failed" if job.stop.is_set() else "ready"
        job.error = "stopped: the connection closed" if job.stop.is_set() else None
    except Exception as error:  # noqa: BLE001 - reported by vsql_jobs(), never lost
        job.state, job.error = "failed", f"{type(error).__name__}: {error}"
    finally:
        engine.close()


def switch_ready(session) -> None:
    """Switch every column whose shadow is complete, unless a transaction is open (its own
    statements must not change under it)."""
    if session.in_transaction:
        return
    for job in [j for j in session.reembeds.values() if j.state == "ready"]:
        with session._atomic():
            job.catch_up(session.engine)  # rows written since the thread finished
            *update, drop = [job.statement(template) for template in _SWITCH]
            for statement in update:
                session.engine.run(statement)
            models.bind(session.engine, session.catalog, job.table, job.column, job.model.label)
            specs = [s for s in session.indexes.for_table(session.catalog.table(job.table)) if s.column == job.column]
            for spec in specs:
                session.indexes.reindex(spec.name, reason="reembed")
            session.engine.run(drop)
        job.state = "switched"
        session._schema_changed()


def stop_all(session) -> None:
    """At close: stop the threads; an unfinished re-embedding leaves the column as it was."""
    for job in session.reembeds.values():
        job.stop.set()
        if job.thread is not None:
            job.thread.join()


def listing(session) -> pa.Table:
    """`SELECT * FROM vsql_jobs()`: background re-embeddings and how far they are."""
    rows = [job.row(session.engine) for job in session.reembeds.values()]
    if not rows:
        return pa.table({"table": pa.array([], pa.string()), "state": pa.array([], pa.string())})
    return pa.Table.from_pylist(rows)


def shadow_table(table: str, column: str) -> str:
    """The shadow table's name, one per column: the table's name is prefixed with its length, so
    `a_b`.`c` and `a`.`b_c` cannot share one."""
    table, column = table.lower(), column.lower()
    return f"reembed_{len(table)}_{table}_{column}"


def _statement(template: str, **names) -> exp.Expr:
    """A fixed statement with the job's names (and its vector type) in place of the template's
    `_name_`s: built from nodes, never pasted."""
    def put(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and node.name == "_key_":  # the row's index key, an expression
            return key_expression(names["_key_"], exp.to_identifier(names["_table_"], quoted=True)
                                  if node.table == "_table_" else node.args.get("table"))
        if isinstance(node, exp.Identifier) and node.name in names:
            return exp.to_identifier(names[node.name], quoted=True)
        if isinstance(node, exp.DataType) and node.args.get("kind") in names:
            return names[node.args["kind"]].copy()
        return node

    return _template(template).transform(put)


@functools.cache
def _template(template: str) -> exp.Expr:
    return sqlglot.parse_one(template, dialect="duckdb")
