"""What vsql knows of the database's tables: their columns and which of them hold vectors.

Read from DuckDB's own catalog and cached until a statement may have changed a schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb
from sqlglot import exp

from vsql.engine.duckdb.executor import reproduces
from vsql.mlops.models import registry, resolve

_ARRAY = re.compile(r"FLOAT\[(\d+)\]\Z")


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: dict[str, str]  # lower-cased name -> DuckDB type
    is_view: bool = False
    schema: str = "main"
    temporary: bool = False  # in DuckDB's `temp` catalog, which shadows the database's tables
    key: tuple[str, ...] = ()  # the primary key's columns, lower-cased, in the key's order

    def vector_dim(self, column: str) -> int | None:
        """The vector dimension of a column, None when it is not a vector column."""
        found = _ARRAY.match(self.columns.get(column.lower(), ""))
        return int(found[1]) if found else None


_TEMP = "temp"


@dataclass
class Catalog:
    con: duckdb.DuckDBPyConnection
    version: int = 0
    _tables: dict[tuple[str, str, str], TableInfo] | None = field(default=None, repr=False)
    _models: tuple | None = field(default=None, repr=False)
    database: str = ""  # DuckDB's name of the database (current_database())

    def invalidate(self) -> None:
        self.version += 1
        self._tables = self._models = None

    def models(self) -> tuple[dict, dict]:
        """Embedding models by label and name, and which model each vector column is bound to."""
        if self._models is None:
            self._models = registry(self.con)
        return self._models

    def model(self, reference: str):
        """The registered model `name` (newest version) or `name@version` (mlops.models.Model)."""
        return resolve(self, reference)

    @staticmethod
    def reproduces(metric: str) -> bool:
        """Whether vsql computes `metric`'s distances bit for bit as this engine does, so that an
        index can answer with them alone."""
        return reproduces(metric)

    def column_model(self, table: str, column: str) -> str | None:
        """The label (name@version) of the model bound to `table.column`, if any."""
        return self.models()[1].get((table.lower(), column.lower()))

    def table(self, name: str, schema: str | None = None, database: str | None = None) -> TableInfo | None:
        """The table or view a (possibly qualified) name means, as DuckDB resolves it: a temporary
        table shadows the database's own of the same name, even when written `main.name`."""
        tables = self._load()
        name, schema, database = name.lower(), (schema or "").lower(), (database or "").lower()
        if database:
            if database == _TEMP:
                return tables.get((_TEMP, schema or "main", name))
            return tables.get(("", schema or "main", name)) if database == self.database.lower() else None
        if schema == _TEMP:
            return tables.get((_TEMP, "main", name))
        if schema in ("", "main", "public"):
            return tables.get((_TEMP, "main", name)) or tables.get(("", "main", name))
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
            self.database = self.con.execute("SELECT current_database()").fetchall()[0][0]
            rows = self.con.execute(
                "SELECT c.database_name = 'temp', c.schema_name, c.table_name, c.column_name, c.data_type, "
                "t.table_name IS NULL FROM duckdb_columns() c LEFT JOIN duckdb_tables() t "
                "ON c.database_oid = t.database_oid AND c.table_oid = t.table_oid "
                "WHERE NOT c.internal AND c.database_name IN (current_database(), 'temp') "
                "ORDER BY c.schema_name, c.table_name, c.column_index"
            ).fetchall()
            grouped: dict[tuple[bool, str, str], tuple[dict[str, str], bool]] = {}
            for temporary, schema, table, column, dtype, is_view in rows:
                grouped.setdefault((temporary, schema, table), ({}, is_view))[0][column.lower()] = dtype
            keys = {(temporary, schema, table): tuple(c.lower() for c in columns) for temporary, schema, table, columns in
                    self.con.execute(
                        "SELECT database_name = 'temp', schema_name, table_name, constraint_column_names "
                        "FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
                        "AND database_name IN (current_database(), 'temp')").fetchall()}
            self._tables = {
                (_TEMP if temporary else "", schema.lower(), table.lower()):
                    TableInfo(table, columns, is_view, schema, temporary, keys.get((temporary, schema, table), ()))
                for (temporary, schema, table), (columns, is_view) in grouped.items()
            }
        return self._tables
