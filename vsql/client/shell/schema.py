"""What the shell asks the database about its tables, always through a DB-API cursor.

`\\d`, `\\dt`, `\\di` and completion read DuckDB's catalog with plain SQL run by vsql, as any
statement is; vector columns, which DuckDB stores as FLOAT[n], are shown as pgvector's vector(n).
"""

from __future__ import annotations

import re

from vsql import Cursor, ProgrammingError
from vsql.client.shell.result import Result

_RELATIONS = """
SELECT table_name AS name, 'table' AS type, estimated_size AS rows FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = current_schema()
UNION ALL
SELECT view_name, 'view', NULL FROM duckdb_views()
WHERE NOT internal AND database_name = current_database() AND schema_name = current_schema()
ORDER BY name
"""
_COLUMNS = """
SELECT table_name, column_name, data_type, is_nullable = 'YES', column_default
FROM information_schema.columns
WHERE table_catalog = current_database() AND table_schema = current_schema()
ORDER BY table_name, ordinal_position
"""
_INDEXES = """
SELECT i.index_name AS name, i.table_name AS "table", 'art' AS type, i.expressions AS options,
       t.estimated_size AS rows, NULL AS size, 'ready' AS state
FROM duckdb_indexes() i JOIN duckdb_tables() t ON i.table_oid = t.table_oid
WHERE i.database_name = current_database() AND i.schema_name = current_schema()
"""
_VECTOR_INDEXES = """
SELECT name, table_name, method || ' (' || opclass || ')', options, rows, size_bytes,
       'ready, version ' || version || ', search depth ' || coalesce(tuned::VARCHAR, 'auto')
FROM vsql.indexes
"""
_INDEX_VERSIONS = """
SELECT v.name, v.version, v.version = i.version AS active, v.options, v.reason, v.created_at, v.rows,
       v.size_bytes AS size, round(v.build_seconds, 2) AS build_s, v.tuned, round(v.recall, 3) AS recall,
       v.file_kept, (SELECT string_agg(a.name, ', ') FROM vsql.aliases a WHERE a.index_name = v.name) AS aliases
FROM vsql.index_versions v JOIN vsql.indexes i ON i.name = v.name
ORDER BY v.name, v.version
"""
_HAS_VECTOR_INDEXES = """
SELECT count(*) FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'vsql' AND table_name = 'indexes'
"""
_VECTOR = re.compile(r"FLOAT\[(\d+)\]")


def type_name(duckdb_type: str) -> str:
    """A column type as pgvector users write it: `vector(16)` for FLOAT[16], `bigint` for BIGINT."""
    return _VECTOR.sub(r"vector(\1)", duckdb_type).lower()


def columns(cursor: Cursor) -> dict[str, list[str]]:
    """Each table's and view's column names, for completion."""
    tables: dict[str, list[str]] = {}
    for table, column, *_ in cursor.execute(_COLUMNS).fetchall():
        tables.setdefault(table, []).append(column)
    return tables


def relations(cursor: Cursor, views: bool = True) -> Result:
    """`\\d` and `\\dt`: the tables (with their estimated row counts) and, if asked, the views."""
    rows = [row for row in cursor.execute(_RELATIONS).fetchall() if views or row[1] == "table"]
    return Result(["name", "type", "rows"], rows)


def describe(cursor: Cursor, table: str) -> Result:
    """`\\d TABLE`: its columns, their types, whether they take NULL, their defaults."""
    rows = [
        (column, type_name(dtype), nullable, default)
        for name, column, dtype, nullable, default in cursor.execute(_COLUMNS).fetchall()
        if name.lower() == table.lower()
    ]
    if not rows:
        raise ProgrammingError(f"no table or view named {table!r}: \\d lists them")
    return Result(["column", "type", "nullable", "default"], rows)


def index_versions(cursor: Cursor) -> Result:
    """`\\di+`: every version of each vector index (the active one marked) and the aliases
    pointing at it."""
    if not cursor.execute(_HAS_VECTOR_INDEXES).fetchone()[0]:
        return Result(["name"], [])
    return Result.of(cursor.execute(_INDEX_VERSIONS), _INDEX_VERSIONS)


def indexes(cursor: Cursor) -> Result:
    """`\\di`: every index with its table, type, options, rows, size and state (None when unknown):
    DuckDB's own and vsql's vector indexes."""
    query = _INDEXES
    if cursor.execute(_HAS_VECTOR_INDEXES).fetchone()[0]:
        query += " UNION ALL " + _VECTOR_INDEXES
    query += " ORDER BY name"
    return Result.of(cursor.execute(query), query)
