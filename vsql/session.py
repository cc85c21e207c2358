"""The one execution path every surface calls: parse, analyze, plan, execute.

The DB-API cursor, the shell and the notebook magics all run SQL through `Session.execute`.
Compiled statements are cached per SQL text and parameter shape until the schema changes.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from sqlglot import exp

from . import vectors
from .analyze import analyze
from .catalog import Catalog
from .duckdb_executor import DuckDBExecutor, to_sql
from .dialect import Explain
from .errors import ProgrammingError, translate
from .parse import parse
from .plan import Plan, plan

_CACHE_SIZE = 512
_RETURNS_ROWS = (
    exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Describe, exp.Pragma, exp.Show, exp.Command, Explain,
)



@dataclass(frozen=True)
class Compiled:
    """A statement ready for the engine: its SQL statements (run in order) and its plan."""

    sql: tuple[str, ...]
    plan: Plan


@dataclass
class Result:
    table: pa.Table | None  # None for statements that return no rows
    rowcount: int


class Session:
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.catalog = Catalog(con)
        self.executor = DuckDBExecutor(con)
        self.lock = threading.RLock()
        self._compiled: OrderedDict[tuple, list[Compiled]] = OrderedDict()

    def execute(self, sql: str, params: Any = None) -> Result:
        """Run every statement of `sql`; the result is the last statement's."""
        return self.run(self.compile(sql, params), params)

    def compile(self, sql: str, params: Any = None) -> list[Compiled]:
        """Parse, analyze and plan `sql` for parameters shaped like `params`."""
        with self.lock:
            try:
                return self._compile(sql, params)
            except Exception as error:  # noqa: BLE001 - every failure leaves as a DB-API error
                raise translate(error) from error

    def run(self, statements: list[Compiled], params: Any = None) -> Result:
        with self.lock:
            try:
                result = Result(None, -1)
                for statement in statements:
                    result = self._run(statement, params)
                return result
            except Exception as error:  # noqa: BLE001
                raise translate(error) from error

    def _compile(self, sql: str, params: Any) -> list[Compiled]:
        key = (sql, _signature(params), self.catalog.version)
        cached = self._compiled.get(key)
        if cached is not None:
            self._compiled.move_to_end(key)
            return cached
        compiled = []
        for statement in parse(sql):
            the_plan = plan(analyze(statement, self.catalog, params), self.catalog)
            compiled.append(Compiled(tuple(to_sql(the_plan.tree)), the_plan))
        if not compiled:
            raise ProgrammingError("no statement to run: the SQL text is empty")
        if len(compiled) > 1 and params:
            raise ProgrammingError("parameters can be bound to one statement at a time")
        self._compiled[key] = compiled
        if len(self._compiled) > _CACHE_SIZE:
            self._compiled.popitem(last=False)
        return compiled

    def _run(self, statement: Compiled, params: Any) -> Result:
        try:
            *prelude, sql = statement.sql
            for setup in prelude:
                self.executor.run(setup)
            cursor = self.executor.run(sql, _bind(params, statement.plan.vector_params))
        finally:
            if statement.plan.changes_schema:
                self.catalog.invalidate()
        tree = statement.plan.tree
        if cursor.description is None:
            return Result(None, -1)
        with warnings.catch_warnings():
            # DuckDB warns that Arrow output from execute() copies: a k-NN result is a few rows.
            warnings.simplefilter("ignore")
            table = cursor.to_arrow_table()
        if isinstance(tree, (exp.Insert, exp.Update, exp.Delete, exp.Copy)) and not tree.args.get("returning"):
            return Result(None, table.column(0)[0].as_py() if table.num_rows else 0)
        if not isinstance(tree, _RETURNS_ROWS):
            return Result(None, -1)
        return Result(table, table.num_rows)


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
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value
