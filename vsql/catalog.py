"""What vsql knows of the database's tables: their columns and which of them hold vectors.

Read from DuckDB's own catalog and cached until a statement may have changed a schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from .models import registry

_ARRAY = re.compile(r"FLOAT\[(\d+)\]\Z")


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: dict[str, str]  # lower-cased name -> DuckDB type
    is_view: bool = False

    def vector_dim(self, column: str) -> int | None:
        """The vector dimension of a column, None when it is not a vector column."""
        found = _ARRAY.match(self.columns.get(column.lower(), ""))
        return int(found[1]) if found else None


@dataclass
class Catalog:
    con: duckdb.DuckDBPyConnection
    version: int = 0
    _tables: dict[str, TableInfo] | None = field(default=None, repr=False)
    _models: tuple | None = field(default=None, repr=False)

    def invalidate(self) -> None:
        self.version += 1
        self._tables = self._models = None

    def models(self) -> tuple[dict, dict]:
        """Embedding models by label and name, and which model each vector column is bound to."""
        if self._models is None:
            self._models = registry(self.con)
        return self._models

    def column_model(self, table: str, column: str) -> str | None:
        """The label (name@version) of the model bound to `table.column`, if any."""
        return self.models()[1].get((table.lower(), column.lower()))

    def table(self, name: str, schema: str | None = None) -> TableInfo | None:
        tables = self._load()
        key = f"{schema}.{name}".lower() if schema else name.lower()
        return tables.get(key)

    def tables(self) -> list[TableInfo]:
        return [t for key, t in self._load().items() if "." not in key]

    def _load(self) -> dict[str, TableInfo]:
        if self._tables is None:
            rows = self.con.execute(
                "SELECT c.schema_name, c.table_name, c.column_name, c.data_type, t.table_name IS NULL "
                "FROM duckdb_columns() c LEFT JOIN duckdb_tables() t "
                "ON c.database_oid = t.database_oid AND c.table_oid = t.table_oid "
                "WHERE NOT c.internal AND c.database_name = current_database() "
                "ORDER BY c.schema_name, c.table_name, c.column_index"
            ).fetchall()
            grouped: dict[tuple[str, str], tuple[dict[str, str], bool]] = {}
            for schema, table, column, dtype, is_view in rows:
                grouped.setdefault((schema, table), ({}, is_view))[0][column.lower()] = dtype
            tables: dict[str, TableInfo] = {}
            for (schema, table), (columns, is_view) in grouped.items():
                info = TableInfo(table, columns, is_view)
                tables[f"{schema}.{table}".lower()] = info
                if schema == "main":
                    tables.setdefault(table.lower(), info)
            self._tables = tables
        return self._tables
