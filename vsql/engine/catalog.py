"""What vsql knows of the database's tables: their columns, which of them hold vectors, their keys.

Read from the engine's own catalog (`Engine.tables`) and cached until a statement may have changed
a schema. Names resolve as DuckDB resolves them: a temporary table shadows the database's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlglot import exp

if TYPE_CHECKING:
    from vsql.engine.base import Engine


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: dict[str, str]  # lower-cased name -> the engine's type
    is_view: bool = False
    schema: str = "main"
    temporary: bool = False  # in the engine's temporary catalog, which shadows the database's tables
    key: tuple[str, ...] = ()  # the primary key's columns, lower-cased, in the key's order
    dims: dict[str, int] = field(default_factory=dict)  # vector column (lower-cased) -> its dimension
    row_id: str | None = None  # the engine's implicit row identity, if it has one (DuckDB's rowid)
    # unsized `vector` columns (lower-cased): vectors of any dimension, one per row; not in `dims`,
    # so that what needs one dimension (indexes, models, bulk loads as matrices) passes them by
    unsized: frozenset[str] = frozenset()
    # columns of pgvector's other types (lower-cased) -> (type, dimension): ("halfvec", 3), ("bit", 0).
    # Not in `dims` nor `unsized`: indexes, models and bulk loads know only `vector` columns yet.
    kinds: dict[str, tuple[str, int]] = field(default_factory=dict)

    def vector_dim(self, column: str) -> int | None:
        """The vector dimension of a column, None when it is not a vector column of one dimension."""
        return self.dims.get(column.lower())

    def vector_kind(self, column: str) -> tuple[str, int] | None:
        """(pgvector type, dimension) of a halfvec or bit column, None for any other column."""
        return self.kinds.get(column.lower())

    def is_vector(self, column: str) -> bool:
        """Whether a column holds vectors, of one dimension or (unsized) of any."""
        return column.lower() in self.dims or column.lower() in self.unsized

    @property
    def order_key(self) -> tuple[str, ...]:
        """The columns that break ties between rows at equal distance: the primary key, else the
        engine's row identity."""
        return self.key or ((self.row_id,) if self.row_id else ())


TEMP = "temp"


@dataclass
class Catalog:
    engine: Engine
    load_models: Callable[[], tuple[dict, dict]]  # mlops.models.registry over this engine
    version: int = 0
    _tables: dict[tuple[str, str, str], TableInfo] | None = field(default=None, repr=False)
    _models: tuple | None = field(default=None, repr=False)

    @property
    def database(self) -> str:
        return self.engine.database

    def invalidate(self) -> None:
        self.version += 1
        self._tables = self._models = None

    def models(self) -> tuple[dict, dict]:
        """Embedding models by label and name, and which model each vector column is bound to."""
        if self._models is None:
            self._models = self.load_models()
        return self._models

    def model(self, reference: str):
        """The registered model `name` (newest version) or `name@version` (mlops.models.Model)."""
        found = self.models()[0].get(reference.lower())
        if found is None:
            from vsql.errors import ProgrammingError

            raise ProgrammingError(f'embedding model "{reference}" is not registered (see vsql_register_model)')
        return found

    def reproduces(self, metric: str) -> bool:
        """Whether vsql computes `metric`'s distances bit for bit as this engine does, so that an
        index can answer with them alone."""
        return self.engine.reproduces(metric)

    def column_model(self, table: str, column: str) -> str | None:
        """The label (name@version) of the model bound to `table.column`, if any."""
        return self.models()[1].get((table.lower(), column.lower()))

    def table(self, name: str, schema: str | None = None, database: str | None = None) -> TableInfo | None:
        """The table or view a (possibly qualified) name means: a temporary table shadows the
        database's own of the same name, even when written `main.name`."""
        tables = self._load()
        name, schema, database = name.lower(), (schema or "").lower(), (database or "").lower()
        if database:
            if database == TEMP:
                return tables.get((TEMP, schema or "main", name))
            return tables.get(("", schema or "main", name)) if database == self.database.lower() else None
        if schema == TEMP:
            return tables.get((TEMP, "main", name))
        if schema in ("", "main", "public"):
            return tables.get((TEMP, "main", name)) or tables.get(("", "main", name))
        return tables.get(("", schema, name)) or (
            tables.get(("", "main", name)) if schema == self.database.lower() else None)

    def of(self, table: exp.Table) -> TableInfo | None:
        """The table a sqlglot table reference means."""
        return self.table(table.name, table.db or None, table.catalog or None)

    def tables(self) -> list[TableInfo]:
        """The database's tables and views in its main schema."""
        return [t for (db, schema, _), t in self._load().items() if not db and schema == "main"]

    def _load(self) -> dict[tuple[str, str, str], TableInfo]:
        if self._tables is None:
            self._tables = {(TEMP if t.temporary else "", t.schema.lower(), t.name.lower()): t
                            for t in self.engine.tables()}
        return self._tables
