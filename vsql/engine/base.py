"""The engine boundary: everything vsql asks of the engine that holds its tables.

The front end, the planner and the k-NN loop speak SQL as sqlglot trees in vsql's dialect; an
engine lowers them to its own SQL (`lower`), runs them, hands back rows as Arrow or Python rows,
and answers the few catalog questions vsql has. Index upkeep, the model registry, re-embedding
and evaluation reach the database only through this protocol, so a second engine (Spark) is one
new package under `vsql/engine/` and one entry in `vsql.engine.ENGINES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
from sqlglot import exp

from vsql.engine.catalog import TableInfo

Statement = str | exp.Expr  # engine SQL text, or a vsql tree the engine lowers first


@dataclass
class Result:
    """A statement's rows: as Arrow, or, where no column is nested (no vectors), as the engine's
    Python rows, which cost less to take than Arrow for the few rows a query usually returns."""

    table: pa.Table | None  # None for statements that return no rows (or that gave `rows`)
    rowcount: int
    rows: list[tuple] | None = None
    columns: list[tuple[str, str]] | None = None  # (name, engine type) of the columns, when the engine said

    @property
    def returns_rows(self) -> bool:
        return self.table is not None or self.rows is not None


class Engine(Protocol):
    """One connection to one database of an engine."""

    database: str  # the engine's name of the database
    path: str | None  # the file the database lives in; None in memory
    read_only: bool
    conflict: type[Exception]  # what the engine raises when two transactions write the same rows
    # an engine that keeps vsql's indexes itself (Spark): its catalog class, given vsql's index DDL
    # lowered; absent: vsql.index.store.IndexManager keeps them in the engine's tables
    index_catalog: type | None

    # -- statements
    def lower(self, tree: exp.Expr) -> list[str]:
        """The engine's statements for an analysed vsql tree, run in order; what the engine
        cannot run raises UnsupportedError."""

    def run(self, statement: Statement, params: Any = None) -> Any:
        """Run one statement; the engine's cursor (see `result`)."""

    def result(self, cursor: Any, rows: bool, counts: bool) -> Result:
        """A cursor's result: rows (the statement returns them), or the count of rows written."""

    def rows(self, statement: Statement, params: Any = None) -> list[tuple]: ...

    def arrow(self, statement: Statement, params: Any = None) -> pa.Table: ...

    def keys(self, statement: Statement, params: Any = None) -> np.ndarray:
        """A statement selecting one integer column, as a NumPy array (a filter's matching keys)."""

    def bits(self, column: pa.Array) -> np.ndarray:
        """A column of bit strings of one length, as the engine's Arrow results hold them, as a
        bool matrix (an index over `bit` reads them so)."""

    # -- data and functions handed to the engine
    def register(self, name: str, data: pa.Table | pa.RecordBatchReader) -> None:
        """Make Arrow data readable by statements as the relation `name`."""

    def unregister(self, name: str) -> None: ...

    def register_function(self, name: str, function: Callable, params: Sequence[str], returns: str) -> None:
        """A vectorised scalar function over Arrow arrays, its types in the engine's SQL, once per
        database."""

    def register_batch(self, name: str, function: Callable) -> None:
        """The batched k-NN call `name(target, query, k)` -> list of (key, distance) per row."""

    # -- transactions and connections
    def begin(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def fork(self) -> Engine:
        """Another connection to the same database: it sees only committed rows, and may run in
        another thread."""

    def interrupt(self) -> None:
        """Stop the statement running on this connection (from another thread)."""

    def close(self) -> None: ...

    # -- catalog
    def tables(self) -> list[TableInfo]:
        """Every table and view of the database (and of the temporary catalog), with their
        columns, vector dimensions and primary keys."""

    def has_table(self, schema: str, name: str, column: str | None = None) -> bool:
        """Whether the database holds `schema.name` (with a column `column`)."""

    def has_index(self, name: str) -> bool:
        """Whether the engine itself has an index (not vsql's) of that name."""

    def type_names(self, schema: pa.Schema) -> list[str]:
        """The engine's names for the types of an Arrow schema, as its own results describe theirs."""

    def arrow_types(self, names: tuple[str, ...]) -> list[pa.DataType]:
        """The Arrow types the engine gives columns of these types (its names), as in its own Arrow results."""

    # -- distances
    def reproduces(self, metric: str) -> bool:
        """Whether `distances` gives the engine's own distances bit for bit for `metric`."""

    def distances(self, metric: str, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The engine's distance for each (query, row) pair, bit for bit."""
