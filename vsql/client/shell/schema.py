"""What the shell asks the database about its tables, always through a DB-API cursor.

`\\d`, `\\dt`, `\\di`, `\\l` ... and completion read DuckDB's catalog (and vsql's own, the `vsql`
schema, where it exists) with plain SQL run by vsql, as any statement is, names bound as
parameters; vector columns, which DuckDB stores as FLOAT[n], are shown as pgvector's vector(n).
Sizes are written as psql writes them (`8192 bytes`, `16 kB`).
"""

from __future__ import annotations

import json
import re

from vsql import Cursor, ProgrammingError
from vsql.client.shell.render import size_text
from vsql.client.shell.result import Result

_HERE = "database_name = current_database() AND schema_name = current_schema()"
_RELATIONS = f"""
SELECT table_name AS name, 'table' AS type, estimated_size AS rows, comment, schema_name FROM duckdb_tables()
WHERE {_HERE}
UNION ALL
SELECT view_name, 'view', NULL, comment, schema_name FROM duckdb_views() WHERE NOT internal AND {_HERE}
ORDER BY name
"""
_COLUMNS = """
SELECT table_name, column_name, data_type, is_nullable = 'YES', column_default
FROM information_schema.columns
WHERE table_catalog = current_database() AND table_schema = current_schema()
ORDER BY table_name, ordinal_position
"""
_RELATION = f"""
SELECT table_name, 'Table', schema_name FROM duckdb_tables() WHERE {_HERE} AND lower(table_name) = lower(?)
UNION ALL
SELECT view_name, 'View', schema_name FROM duckdb_views() WHERE NOT internal AND {_HERE} AND lower(view_name) = lower(?)
"""
_DESCRIBE = f"""
SELECT column_name, data_type, is_nullable, column_default, comment FROM duckdb_columns()
WHERE {_HERE} AND table_name = ? ORDER BY column_index
"""
# the footer of `\d TABLE`: its keys, DuckDB's indexes, vsql's vector indexes and the columns' models
_KEYS = f"""
SELECT constraint_name, constraint_type, constraint_column_names FROM duckdb_constraints()
WHERE {_HERE} AND table_name = ? AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')
ORDER BY constraint_type = 'UNIQUE', constraint_index
"""
_TABLE_INDEXES = f"""
SELECT index_name, is_unique, expressions FROM duckdb_indexes() WHERE {_HERE} AND table_name = ? ORDER BY index_name
"""
_TABLE_VECTOR_INDEXES = """
SELECT name, method, column_name, opclass, options FROM vsql.indexes
WHERE lower(table_name) = lower(?) AND schema_name = current_schema() ORDER BY name
"""
_TABLE_MODELS = """
SELECT column_name, model, version FROM vsql.column_models WHERE lower(table_name) = lower(?) ORDER BY column_name
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
_VSQL_TABLE = """
SELECT count(*) FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'vsql' AND table_name = ?
"""
# checkpointed blocks: the size on disk, as of the last checkpoint; none in memory
_BLOCK_SIZE = "SELECT nullif(block_size, 0) FROM pragma_database_size() WHERE database_name = current_database()"
_BLOCKS = "SELECT count(DISTINCT block_id) FILTER (WHERE block_id >= 0) FROM pragma_storage_info(?)"
_DATABASES = """
SELECT d.database_name AS name, coalesce(d.path, 'in memory') AS path, d.type, d.readonly,
       nullif(s.block_size, 0) * s.used_blocks AS size
FROM duckdb_databases() d JOIN pragma_database_size() s USING (database_name)
WHERE NOT d.internal ORDER BY name
"""
_CONNECTION = "SELECT database_name, path, readonly FROM duckdb_databases() WHERE database_name = current_database()"
LISTINGS = {  # the listings that are a query and nothing more
    "schemas": "SELECT schema_name AS name, comment AS description FROM duckdb_schemas() "
               "WHERE database_name = current_database() ORDER BY name",
    "extensions": "SELECT extension_name AS name, extension_version AS version, description FROM duckdb_extensions() "
                  "WHERE loaded ORDER BY name",
}
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


def relations(cursor: Cursor, views: bool = True, plus: bool = False) -> Result:
    """`\\d` and `\\dt`: the tables (with their estimated row counts) and, if asked, the views;
    `plus` adds each table's size on disk and the comments."""
    rows = [row for row in cursor.execute(_RELATIONS).fetchall() if views or row[1] == "table"]
    if not plus:
        return Result(["name", "type", "rows"], [row[:3] for row in rows])
    block_size = cursor.execute(_BLOCK_SIZE).fetchone()[0]

    def size(kind: str, *name: str) -> str | None:
        if block_size is None or kind != "table":
            return None
        quoted = ".".join('"' + part.replace('"', '""') + '"' for part in name)  # a name, bound as a value
        return size_text(cursor.execute(_BLOCKS, [quoted]).fetchone()[0] * block_size)

    return Result(["name", "type", "rows", "size", "description"],
                  [(name, kind, n, size(kind, schema, name), comment) for name, kind, n, comment, schema in rows])


def describe(cursor: Cursor, table: str, plus: bool = False) -> Result:
    """`\\d TABLE`: its columns, their types, whether they take NULL, their defaults (`plus`: and
    comments); under them its keys, indexes (DuckDB's and vsql's) and the columns' embedding models."""
    found = cursor.execute(_RELATION, [table, table]).fetchall()
    if not found:
        raise ProgrammingError(f"no table or view named {table!r}: \\d lists them")
    name, kind, schema = found[0]
    rows = [(column, type_name(dtype), nullable, default, *([comment] if plus else []))
            for column, dtype, nullable, default, comment in cursor.execute(_DESCRIBE, [name]).fetchall()]
    models = cursor.execute(_TABLE_MODELS, [name]).fetchall() if _has(cursor, "column_models") else []
    footer = [*_footer("Indexes:", _index_lines(cursor, name)),
              *_footer("Embedding models:", [f'"{column}" {model}@{version}' for column, model, version in models])]
    return Result(["column", "type", "nullable", "default", *(["description"] if plus else [])], rows,
                  title=f'{kind} "{schema}.{name}"', footer=footer)


def _index_lines(cursor: Cursor, table: str) -> list[str]:
    """psql's lines for a table's indexes: `"items_pkey" PRIMARY KEY (id)`, `"items_cat" art (cat)`,
    `"idx" hnsw (embedding OPCLASS) WITH (m = 16)`."""
    lines = [f'"{name}" {kind} ({", ".join(names)})' for name, kind, names in cursor.execute(_KEYS, [table]).fetchall()]
    lines += [f'"{name}" {"UNIQUE, " if unique else ""}art ({expressions.strip("[]")})'
              for name, unique, expressions in cursor.execute(_TABLE_INDEXES, [table]).fetchall()]
    if _has(cursor, "indexes"):
        for name, method, column, opclass, options in cursor.execute(_TABLE_VECTOR_INDEXES, [table]).fetchall():
            settings = ", ".join(f"{key} = {value}" for key, value in json.loads(options or "{}").items())
            lines.append(f'"{name}" {method} ({column} {opclass})' + (f" WITH ({settings})" if settings else ""))
    return lines


def _footer(heading: str, lines: list[str]) -> list[str]:
    return [heading, *("    " + line for line in lines)] if lines else []


def _has(cursor: Cursor, table: str) -> bool:
    """Whether vsql's catalog table `vsql.<table>` exists in this database."""
    return bool(cursor.execute(_VSQL_TABLE, [table]).fetchone()[0])


def _sizes_readable(result: Result, column: str) -> Result:
    i = result.columns.index(column)
    result.rows = [(*row[:i], size_text(row[i]), *row[i + 1 :]) for row in result.rows]
    return result


def index_versions(cursor: Cursor) -> Result:
    """`\\di+`: every version of each vector index (the active one marked), its size, and the
    aliases pointing at it."""
    if not _has(cursor, "indexes"):
        return Result()
    return _sizes_readable(Result.of(cursor.execute(_INDEX_VERSIONS), _INDEX_VERSIONS), "size")


def indexes(cursor: Cursor) -> Result:
    """`\\di`: every index with its table, type, options, rows, size and state (None when unknown):
    DuckDB's own and vsql's vector indexes."""
    query = _INDEXES
    if _has(cursor, "indexes"):
        query += " UNION ALL " + _VECTOR_INDEXES
    query += " ORDER BY name"
    return _sizes_readable(Result.of(cursor.execute(query), query), "size")


def databases(cursor: Cursor, plus: bool = False) -> Result:
    """`\\l`: the attached databases, their files (`plus`: and sizes)."""
    result = _sizes_readable(Result.of(cursor.execute(_DATABASES), _DATABASES), "size")
    if not plus:
        result.columns, result.rows = result.columns[:-1], [row[:-1] for row in result.rows]
    return result


def connection(cursor: Cursor) -> str:
    """`\\conninfo`: the database this shell is connected to, and its file."""
    name, path, read_only = cursor.execute(_CONNECTION).fetchone()
    where = f'database "{name}" in file "{path}"' if path else f'an in-memory database "{name}"'
    return f"You are connected to {where}{' (read only)' if read_only else ''}."
