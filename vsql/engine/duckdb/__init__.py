"""The DuckDB engine: lowering of vsql's trees, execution, catalog, and its errors as PEP 249's."""

from vsql.engine.duckdb import errors  # noqa: F401 - registers the translation of DuckDB's errors
from vsql.engine.duckdb.engine import DuckDBEngine

__all__ = ["DuckDBEngine"]
