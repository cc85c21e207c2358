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

import threading
import time
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
from sqlglot import exp

from vsql.errors import ProgrammingError
from vsql.index.spec import primary_key
from vsql.mlops import models

_CHUNK = 256


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

    def row(self, con: duckdb.DuckDBPyConnection) -> dict:
        done = None if self.state == "switched" else con.execute(f"SELECT count(*) FROM {self.shadow}").fetchall()[0][0]
        return {"table": self.table, "column": self.column, "model": self.model.label, "source": self.source,
                "state": self.state, "embedded": done, "rows": self.total, "error": self.error}

    def _pending(self) -> tuple[str, str]:
        """(drop stale shadow rows, embed missing ones): the catch-up both the thread and the switch run."""
        t, key, src = _q(self.table), _q(self.key), _q(self.source)
        stale = (f"DELETE FROM {self.shadow} s WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {t}.{key} = s.key "
                 f"AND {t}.{src} IS NOT DISTINCT FROM s.text)")
        fill = (f"INSERT INTO {self.shadow} SELECT {key}, CAST(vsql_embed(?, ?, {src}) AS FLOAT[{self.model.dim}]), {src} "
                f"FROM {t} WHERE {src} IS NOT NULL AND {key} NOT IN (SELECT key FROM {self.shadow}) LIMIT {_CHUNK}")
        return stale, fill

    def catch_up(self, con: duckdb.DuckDBPyConnection, stop: threading.Event | None = None) -> None:
        stale, fill = self._pending()
        con.execute(stale)
        while stop is None or not stop.is_set():
            added = con.execute(fill, [self.model.provider, self.model.source]).fetchall()[0][0]
            if not added:
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
    found = models.resolve(session.catalog, model)
    if found.dim != dim:
        raise ProgrammingError(f'model "{found.label}" makes {found.dim}-dimensional vectors; column "{column}" '
                               f'of "{table}" is vector({dim}): add a new column for a model of another dimension')
    running = session.reembeds.get((info.name.lower(), column.lower()))
    if running is not None and running.state in ("running", "ready"):
        raise ProgrammingError(f"{info.name}.{column} is already being re-embedded with {running.model.label}")
    key = primary_key(info)
    shadow = f"vsql.{_q(shadow_table(info.name, column))}"
    session.con.execute("CREATE SCHEMA IF NOT EXISTS vsql")
    session.con.execute(f"CREATE OR REPLACE TABLE {shadow} (key BIGINT PRIMARY KEY, vector FLOAT[{dim}], text VARCHAR)")
    total = session.con.execute(f"SELECT count({_q(source)}) FROM {_q(info.name)}").fetchall()[0][0]
    job = Job(info.name, column.lower(), source.lower(), key, found, shadow, total)
    session.reembeds[(info.name.lower(), column.lower())] = job
    job.thread = threading.Thread(target=_fill, args=(job, session.con.cursor()), daemon=True,
                                  name=f"vsql re-embed {info.name}.{column}")
    job.thread.start()
    if wait:
        job.thread.join()
        switch_ready(session)
    return pa.Table.from_pylist([job.row(session.con) if job.state != "switched" else
                                 {**job.row(session.con), "embedded": total}])


def _fill(job: Job, con: duckdb.DuckDBPyConnection) -> None:
    """The background part, in its own connection; a write conflict with the user's writes retries."""
    try:
        for attempt in range(100):
            try:
                job.catch_up(con, job.stop)
                break
            except duckdb.TransactionException:
                time.sleep(0.05 * (attempt + 1))
        job.state = "failed" if job.stop.is_set() else "ready"
        job.error = "stopped: the connection closed" if job.stop.is_set() else None
    except Exception as error:  # noqa: BLE001 - reported by vsql_jobs(), never lost
        job.state, job.error = "failed", f"{type(error).__name__}: {error}"
    finally:
        con.close()


def switch_ready(session) -> None:
    """Switch every column whose shadow is complete, unless a transaction is open (its own
    statements must not change under it)."""
    if session.in_transaction:
        return
    for job in [j for j in session.reembeds.values() if j.state == "ready"]:
        with session._atomic():
            job.catch_up(session.con)  # rows written since the thread finished
            t, key, col, src = _q(job.table), _q(job.key), _q(job.column), _q(job.source)
            session.con.execute(f"UPDATE {t} SET {col} = s.vector FROM {job.shadow} s WHERE {t}.{key} = s.key")
            session.con.execute(f"UPDATE {t} SET {col} = NULL WHERE {src} IS NULL")
            models.bind(session.con, session.catalog, job.table, job.column, job.model.label)
            specs = [s for s in session.indexes.for_table(session.catalog.table(job.table)) if s.column == job.column]
            for spec in specs:
                session.indexes.reindex(spec.name, reason="reembed")
            session.con.execute(f"DROP TABLE {job.shadow}")
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
    rows = [job.row(session.con) for job in session.reembeds.values()]
    if not rows:
        return pa.table({"table": pa.array([], pa.string()), "state": pa.array([], pa.string())})
    return pa.Table.from_pylist(rows)


def shadow_table(table: str, column: str) -> str:
    """The shadow table's name, one per column: the table's name is prefixed with its length, so
    `a_b`.`c` and `a`.`b_c` cannot share one."""
    table, column = table.lower(), column.lower()
    return f"reembed_{len(table)}_{table}_{column}"


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")
