"""A SQLAlchemy 2 dialect for vsql: `create_engine("vsql:///items.duckdb")`, or `"vsql://"` in memory.

vsql speaks pgvector's PostgreSQL, so the dialect is PostgreSQL's: its compilers write the SQL
(DDL, `RETURNING`, `ON CONFLICT`, pgvector's `<->` operators and `USING hnsw` indexes from
`postgresql_using` / `postgresql_with` / `postgresql_ops`), and vsql transpiles it to DuckDB. What
differs is below: the DB-API (`vsql`, `qmark`), the catalog (reflection reads DuckDB's
`duckdb_columns()`, `duckdb_constraints()`, `duckdb_indexes()` and vsql's `vsql.indexes`, not
`pg_catalog`), transactions (snapshot isolation and autocommit; no savepoints), and vectors, which
come back as float32 NumPy arrays (`FLOAT[n]` columns reflect as pgvector's `Vector(n)`).

    >>> from sqlalchemy import create_engine, text
    >>> engine = create_engine("vsql://")
    >>> with engine.begin() as conn:
    ...     _ = conn.execute(text("CREATE TABLE items (id BIGSERIAL PRIMARY KEY, embedding VECTOR(3))"))
    ...     _ = conn.execute(text("INSERT INTO items (embedding) VALUES ('[1,2,3]'), ('[4,5,6]')"))
    ...     conn.execute(text("SELECT id FROM items ORDER BY embedding <-> '[3,1,2]' LIMIT 1")).all()
    [(1,)]
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import sqlglot
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import exc, pool, text, util
from sqlalchemy.dialects.postgresql import base as pg
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import json as pg_json
from sqlalchemy.engine import default, reflection
from sqlalchemy.sql import sqltypes
from sqlglot import exp

# -- vectors ----------------------------------------------------------------------------------


class Vector(VECTOR):
    """pgvector's `Vector` as this dialect binds and returns it: NumPy float32 arrays both ways.

    vsql returns vector columns as float32 arrays, which pgvector's own result processor (it parses
    text) cannot read; binding arrays rather than `'[..]'` text keeps `executemany` one Arrow batch
    of floats. Users never name this class: the dialect swaps it in for pgvector's (`colspecs`).
    """

    cache_ok = True

    def bind_processor(self, dialect):
        return _vector_param

    def result_processor(self, dialect, coltype):
        return _vector_result


def _vector_param(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value  # '[1,2,3]' is read by vsql, as by pgvector
    if hasattr(value, "to_numpy"):  # pgvector.Vector
        value = value.to_numpy()
    array = np.asarray(value, dtype=np.float32)
    if array.ndim != 1:
        raise ValueError(f"expected a vector (ndim 1), not an array of {array.ndim} dimensions")
    return array


def _vector_result(value: Any) -> np.ndarray | None:
    if value is None or isinstance(value, np.ndarray):
        return value
    if isinstance(value, str):  # a vector cast to text
        return np.array(json.loads(value), dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


# -- compilers --------------------------------------------------------------------------------


class VsqlTypeCompiler(pg.PGTypeCompiler):
    def visit_FLOAT(self, type_, **kw):
        # PostgreSQL reads FLOAT(1..24) as real and FLOAT(25..53) as double precision; vsql
        # refuses FLOAT(p) (issue: it becomes DuckDB's DOUBLE(p)), so write the type it means.
        return "REAL" if type_.precision is not None and type_.precision <= 24 else "DOUBLE PRECISION"


class VsqlExecutionContext(pg.PGExecutionContext):
    def post_exec(self):
        # SQLAlchemy closes an INSERT's cursor before it reads its rowcount (psycopg's survives
        # close); vsql's cursor forgets it on close, so keep it here.
        if self.isinsert and self._rowcount is None and self.cursor.description is None:
            self._rowcount = self.cursor.rowcount


# -- reflection tables --------------------------------------------------------------------------

# DuckDB's type names (duckdb_columns().data_type) -> the PostgreSQL types that write them back
_TYPES: dict[str, Any] = {
    "BOOLEAN": pg.BOOLEAN,
    "TINYINT": pg.SMALLINT, "UTINYINT": pg.SMALLINT, "SMALLINT": pg.SMALLINT,
    "USMALLINT": pg.INTEGER, "INTEGER": pg.INTEGER,
    "UINTEGER": pg.BIGINT, "BIGINT": pg.BIGINT,
    "UBIGINT": lambda: pg.NUMERIC(20, 0), "HUGEINT": lambda: pg.NUMERIC(38, 0),
    "UHUGEINT": lambda: pg.NUMERIC(39, 0), "BIGNUM": pg.NUMERIC, "VARINT": pg.NUMERIC,
    "FLOAT": pg.REAL, "DOUBLE": pg.DOUBLE_PRECISION,
    "VARCHAR": pg.VARCHAR, "BLOB": pg.BYTEA, "BIT": pg.BIT, "UUID": pg.UUID,
    "JSON": pg_json.JSON,
    "DATE": pg.DATE, "INTERVAL": pg.INTERVAL,
    "TIME": pg.TIME, "TIME WITH TIME ZONE": lambda: pg.TIME(timezone=True),
    "TIMESTAMP": pg.TIMESTAMP, "TIMESTAMP_S": pg.TIMESTAMP, "TIMESTAMP_MS": pg.TIMESTAMP,
    "TIMESTAMP_NS": pg.TIMESTAMP, "TIMESTAMP WITH TIME ZONE": lambda: pg.TIMESTAMP(timezone=True),
}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
_ARRAY = re.compile(r"(.+)\[(\d*)\]")
_NEXTVAL = re.compile(r"nextval\('([^']+)'", re.IGNORECASE)

# the schemas of catalogs rather than data: DuckDB's, PostgreSQL's views of it, and vsql's own
_SYSTEM_SCHEMAS = ("information_schema", "pg_catalog", "vsql")

# The catalog queries, all over DuckDB's catalog functions with bound values. A relation is found
# first (`relation`: in the default schema a temporary table shadows the database's, as DuckDB
# resolves names); the others then read it by :database, :schema and :name.
_RELATIONS = """(
    SELECT database_name, schema_name, table_name AS name, 'table' AS kind, temporary, comment, NULL AS sql
    FROM duckdb_tables()
    UNION ALL SELECT database_name, schema_name, view_name, 'view', temporary, comment, sql
    FROM duckdb_views() WHERE NOT internal
    UNION ALL SELECT database_name, schema_name, sequence_name, 'sequence', temporary, comment, NULL
    FROM duckdb_sequences()
) AS relations"""
_THIS = "database_name = :database AND schema_name = :schema AND table_name = :name"
_QUERIES = {
    "schemas": """
        SELECT DISTINCT schema_name FROM duckdb_schemas()
        WHERE database_name = current_database() ORDER BY schema_name""",
    "names": f"""
        SELECT name FROM {_RELATIONS}
        WHERE kind = :kind AND schema_name = :schema AND temporary = :temporary
        AND database_name = CASE WHEN :temporary THEN 'temp' ELSE current_database() END
        ORDER BY name""",
    "relation": f"""
        SELECT database_name, kind, comment, sql FROM {_RELATIONS}
        WHERE name = :name AND kind <> 'sequence' AND schema_name = :schema
        AND (database_name = current_database() OR (:default AND database_name = 'temp'))
        ORDER BY temporary DESC LIMIT 1""",
    "columns": f"""
        SELECT column_name, data_type, is_nullable, column_default, comment
        FROM duckdb_columns() WHERE {_THIS} ORDER BY column_index""",
    "constraints": f"""
        SELECT constraint_name, constraint_column_names AS columns, referenced_table,
               referenced_column_names AS referenced_columns, expression
        FROM duckdb_constraints() WHERE constraint_type = :kind AND {_THIS} ORDER BY constraint_index""",
    "indexes": f"SELECT index_name, is_unique, sql FROM duckdb_indexes() WHERE {_THIS} ORDER BY index_name",
    # vsql makes its schema with the database's first vector index
    "has_vector_indexes": """
        SELECT 1 FROM duckdb_tables()
        WHERE database_name = current_database() AND schema_name = 'vsql' AND table_name = 'indexes'""",
    "vector_indexes": """
        SELECT name, column_name, method, opclass, options FROM vsql.indexes
        WHERE table_name = :name AND schema_name = :schema ORDER BY name""",
    "type": "SELECT 1 FROM duckdb_types() WHERE type_name = :name AND schema_name = :schema",
}


class VsqlDialect(pg.PGDialect):
    """SQLAlchemy's dialect for vsql (the `vsql://` URL scheme)."""

    name = "vsql"
    driver = "vsql"
    default_paramstyle = "qmark"
    supports_statement_cache = True
    type_compiler_cls = VsqlTypeCompiler  # PostgreSQL's statement and DDL compilers as they are
    execution_ctx_cls = VsqlExecutionContext
    inspector = reflection.Inspector  # PostgreSQL's adds enums and domains from pg_catalog
    colspecs = util.update_copy(pg.PGDialect.colspecs, {VECTOR: Vector})

    supports_native_enum = False  # DuckDB's ENUM types are not PostgreSQL's; VARCHAR instead
    supports_identity_columns = False  # no GENERATED ... AS IDENTITY: SERIAL, as PostgreSQL < 10
    supports_virtual_generated_columns = False
    supports_server_side_cursors = False
    supports_comments = False  # vsql reads COMMENT ON ... IS 'text' but not IS NULL (dropping one)
    _supports_create_index_concurrently = False  # an embedded index build blocks nobody
    _supports_drop_index_concurrently = False
    _supports_jsonb_subscripting = False  # JSON as `->` operators, which DuckDB has too

    # PostgreSQL's reflection reads pg_catalog; these take DefaultDialect's back, which call the
    # one-table methods below once per table.
    get_multi_table_options = default.DefaultDialect.get_multi_table_options
    get_multi_columns = default.DefaultDialect.get_multi_columns
    get_multi_pk_constraint = default.DefaultDialect.get_multi_pk_constraint
    get_multi_foreign_keys = default.DefaultDialect.get_multi_foreign_keys
    get_multi_indexes = default.DefaultDialect.get_multi_indexes
    get_multi_unique_constraints = default.DefaultDialect.get_multi_unique_constraints
    get_multi_check_constraints = default.DefaultDialect.get_multi_check_constraints
    get_multi_table_comment = default.DefaultDialect.get_multi_table_comment
    has_multi_table = default.DefaultDialect.has_multi_table

    @classmethod
    def import_dbapi(cls):
        import vsql

        return vsql

    @classmethod
    def get_pool_class(cls, url):
        # each connection to ':memory:' would be a database of its own: share one connection
        return pool.StaticPool if _database(url) == ":memory:" else pool.QueuePool

    def create_connect_args(self, url):
        options = dict(url.query)
        if "read_only" in options:
            options["read_only"] = util.asbool(options["read_only"])
        unknown = set(options) - {"read_only"}
        if unknown:
            raise exc.ArgumentError(f"unknown vsql URL option(s): {', '.join(sorted(unknown))} (known: read_only)")
        return [_database(url)], options

    def initialize(self, connection):
        # PostgreSQL's asks the server for its settings (standard_conforming_strings, the
        # version that enables features); vsql's answers are the class attributes above.
        default.DefaultDialect.initialize(self, connection)

    def _get_server_version_info(self, connection):
        import vsql

        return tuple(int(part) for part in re.findall(r"\d+", vsql.__version__))

    # -- transactions ---------------------------------------------------------------------------

    def get_isolation_level_values(self, dbapi_connection):
        # DuckDB gives each transaction a snapshot (optimistic, write conflicts abort): what
        # PostgreSQL calls REPEATABLE READ. There is no other level to choose.
        return ("REPEATABLE READ", "AUTOCOMMIT")

    def get_default_isolation_level(self, dbapi_connection):
        return "REPEATABLE READ"

    def get_isolation_level(self, dbapi_connection):
        return "AUTOCOMMIT" if dbapi_connection.autocommit else "REPEATABLE READ"

    def set_isolation_level(self, dbapi_connection, level):
        dbapi_connection.autocommit = level == "AUTOCOMMIT"

    def detect_autocommit_setting(self, dbapi_connection):
        return bool(dbapi_connection.autocommit)

    def do_savepoint(self, connection, name):
        raise exc.NotSupportedError(
            "SAVEPOINT", None, _dbapi_error("NotSupportedError", "vsql has no savepoints (DuckDB has none): "
                                            "use a transaction of its own instead of begin_nested()"))

    def do_begin_twophase(self, connection, xid):
        raise exc.NotSupportedError(
            "BEGIN", None, _dbapi_error("NotSupportedError", "vsql has no two-phase transactions"))

    # -- reflection -----------------------------------------------------------------------------

    def _rows(self, connection, query: str, **params):
        return connection.execute(text(_QUERIES[query]), params).mappings().all()

    @reflection.cache
    def _relation(self, connection, name: str, schema: str | None = None, **kw) -> dict:
        """Where a table or view is, and what: the parameters of the queries that read it."""
        if not isinstance(name, str):
            # pandas' read_sql asks has_table(<its query>) and takes an error for "no"; raised here,
            # since a statement failing on its parameter would abort the transaction
            raise exc.ArgumentError(f"a table name is a string, not {type(name).__name__}")
        found = self._rows(connection, "relation", name=name, schema=schema or self.default_schema_name,
                           default=schema is None)
        if not found:
            raise exc.NoSuchTableError(f"{schema}.{name}" if schema else name)
        return {"name": name, "schema": schema or self.default_schema_name, **found[0]}

    def _reads(self, connection, query: str, name: str, schema: str | None, kw: dict, **params):
        relation = self._relation(connection, name, schema, **kw)
        return self._rows(connection, query, database=relation["database_name"], schema=relation["schema"],
                          name=name, **params)

    @reflection.cache
    def get_schema_names(self, connection, **kw):
        return [row["schema_name"] for row in self._rows(connection, "schemas")
                if row["schema_name"] not in _SYSTEM_SCHEMAS]

    def has_schema(self, connection, schema_name, **kw):
        return schema_name in [row["schema_name"] for row in self._rows(connection, "schemas")]

    def _names(self, connection, kind: str, schema: str | None, temporary: bool = False) -> list[str]:
        rows = self._rows(connection, "names", kind=kind, schema=schema or self.default_schema_name,
                          temporary=temporary)
        return [row["name"] for row in rows]

    @reflection.cache
    def get_table_names(self, connection, schema=None, **kw):
        return self._names(connection, "table", schema)

    @reflection.cache
    def get_temp_table_names(self, connection, schema=None, **kw):
        return self._names(connection, "table", None, temporary=True)

    @reflection.cache
    def get_view_names(self, connection, schema=None, **kw):
        return self._names(connection, "view", schema)

    @reflection.cache
    def get_temp_view_names(self, connection, schema=None, **kw):
        return self._names(connection, "view", None, temporary=True)

    def get_materialized_view_names(self, connection, schema=None, **kw):
        return []

    @reflection.cache
    def get_sequence_names(self, connection, schema=None, **kw):
        return self._names(connection, "sequence", schema)

    def has_table(self, connection, table_name, schema=None, **kw):
        self._ensure_has_table_connection(connection)
        try:
            self._relation(connection, table_name, schema)
        except exc.NoSuchTableError:
            return False
        return True

    def has_sequence(self, connection, sequence_name, schema=None, **kw):
        return sequence_name in self.get_sequence_names(connection, schema)

    def has_type(self, connection, type_name, schema=None, **kw):
        return bool(self._rows(connection, "type", name=type_name, schema=schema or self.default_schema_name))

    @reflection.cache
    def get_view_definition(self, connection, view_name, schema=None, **kw):
        relation = self._relation(connection, view_name, schema, **kw)
        if relation["kind"] != "view":
            raise exc.NoSuchTableError(view_name)
        return relation["sql"]

    @reflection.cache
    def get_table_comment(self, connection, table_name, schema=None, **kw):
        return {"text": self._relation(connection, table_name, schema, **kw)["comment"]}

    @reflection.cache
    def get_table_options(self, connection, table_name, schema=None, **kw):
        return {}

    @reflection.cache
    def get_columns(self, connection, table_name, schema=None, **kw):
        columns = []
        for row in self._reads(connection, "columns", table_name, schema, kw):
            kind = _reflect_type(row["data_type"], row["column_name"])
            default_sql = row["column_default"]
            columns.append({
                "name": row["column_name"],
                "type": kind,
                "nullable": row["is_nullable"],
                "default": default_sql,
                # SERIAL is a sequence and its nextval() default, as in PostgreSQL
                "autoincrement": bool(default_sql and _NEXTVAL.match(default_sql)
                                      and isinstance(kind, sqltypes.Integer)),
                "comment": row["comment"],
            })
        return columns

    def _constraints(self, connection, table_name, schema, kw, kind: str):
        return self._reads(connection, "constraints", table_name, schema, kw, kind=kind)

    @reflection.cache
    def get_pk_constraint(self, connection, table_name, schema=None, **kw):
        for row in self._constraints(connection, table_name, schema, kw, "PRIMARY KEY"):
            return {"constrained_columns": list(row["columns"]), "name": row["constraint_name"]}
        return {"constrained_columns": [], "name": None}

    @reflection.cache
    def get_foreign_keys(self, connection, table_name, schema=None, **kw):
        return [
            {
                "name": row["constraint_name"],
                "constrained_columns": list(row["columns"]),
                "referred_schema": schema,  # DuckDB's foreign keys stay inside a schema
                "referred_table": row["referenced_table"],
                "referred_columns": list(row["referenced_columns"]),
                "options": {},
            }
            for row in self._constraints(connection, table_name, schema, kw, "FOREIGN KEY")
        ]

    @reflection.cache
    def get_unique_constraints(self, connection, table_name, schema=None, **kw):
        return [{"name": row["constraint_name"], "column_names": list(row["columns"])}
                for row in self._constraints(connection, table_name, schema, kw, "UNIQUE")]

    @reflection.cache
    def get_check_constraints(self, connection, table_name, schema=None, **kw):
        return [{"name": row["constraint_name"], "sqltext": _unparen(row["expression"])}
                for row in self._constraints(connection, table_name, schema, kw, "CHECK")]

    @reflection.cache
    def get_indexes(self, connection, table_name, schema=None, **kw):
        """DuckDB's indexes, then vsql's vector indexes (`vsql.indexes`) with the dialect options
        that create them again: `postgresql_using`, `postgresql_ops`, `postgresql_with`."""
        indexes = [_duckdb_index(row) for row in self._reads(connection, "indexes", table_name, schema, kw)]
        relation = self._relation(connection, table_name, schema, **kw)
        if relation["database_name"] == "temp" or not self._rows(connection, "has_vector_indexes"):
            return indexes  # vsql indexes no temporary table
        for row in self._rows(connection, "vector_indexes", name=table_name, schema=relation["schema"]):
            options = json.loads(row["options"] or "{}")
            indexes.append({
                "name": row["name"],
                "column_names": [row["column_name"]],
                "unique": False,
                "dialect_options": {
                    "postgresql_using": row["method"],
                    "postgresql_ops": {row["column_name"]: row["opclass"]},
                    # as PostgreSQL's reflection gives reloptions: text values
                    "postgresql_with": {key: str(value) for key, value in options.items()},
                },
            })
        return indexes


def _database(url) -> str:
    return url.database or ":memory:"


def _dbapi_error(name: str, message: str) -> Exception:
    import vsql

    return getattr(vsql, name)(message)


def _reflect_type(name: str, column: str):
    """A DuckDB type name as a SQLAlchemy type: `FLOAT[n]` is pgvector's `Vector(n)`."""
    if found := _ARRAY.fullmatch(name):
        element, size = found.groups()
        if element == "FLOAT" and size:
            return VECTOR(int(size))
        return ARRAY(_reflect_type(element, column))
    if found := _DECIMAL.fullmatch(name):
        return pg.NUMERIC(int(found[1]), int(found[2]))
    kind = _TYPES.get(name)
    if kind is None:
        util.warn(f"Did not recognize type '{name}' of column '{column}'")
        return sqltypes.NULLTYPE
    return kind()


def _duckdb_index(row) -> dict:
    """One of DuckDB's indexes, its columns read from its CREATE INDEX statement."""
    create = sqlglot.parse_one(row["sql"], read="duckdb")
    names, expressions = [], []
    for item in create.this.args["params"].args.get("columns") or []:
        item = item.this if isinstance(item, exp.Ordered) else item
        names.append(item.name if isinstance(item, exp.Column) else None)
        expressions.append(item.sql("postgres"))
    index = {"name": row["index_name"], "column_names": names, "unique": bool(row["is_unique"])}
    if None in names:
        index["expressions"] = expressions
    return index


def _unparen(sql: str) -> str:
    """A CHECK constraint's expression without DuckDB's outer parentheses."""
    expression = sqlglot.parse_one(sql, read="duckdb")
    return (expression.this if isinstance(expression, exp.Paren) else expression).sql("postgres")


dialect = VsqlDialect
