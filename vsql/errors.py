"""PEP 249's exception hierarchy, and the one place parser and (through the translators engines
register) engine errors become it."""

from __future__ import annotations




class Warning(Exception):  # noqa: A001 - the name PEP 249 requires
    pass


class Error(Exception):
    pass


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    pass


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


# Each part that raises exceptions of a library registers how to read them: the parser sqlglot's
# (vsql/sql/parse.py), each engine its own (vsql/engine/duckdb/errors.py). The front end and the
# planner raise these classes without loading an engine, and `import vsql` loads no library.
_ENGINE_TRANSLATORS: list = []


def register_translator(translator) -> None:
    """`translator(error)` gives the DB-API exception for an engine's error, or None if not its own."""
    _ENGINE_TRANSLATORS.append(translator)


class VectorError(DataError):
    """A vector value or operation that pgvector would reject (dimensions, NaN, range, syntax)."""


def translate(error: Exception) -> Error:
    """Return the DB-API exception for an engine, parser or analysis error, its cause attached."""
    if isinstance(error, Error):
        return error
    if isinstance(error, (OSError, MemoryError)):  # writing index files, building indexes
        result: Error = OperationalError(f"{type(error).__name__}: {error}")
    else:
        result = next((r for r in (translator(error) for translator in _ENGINE_TRANSLATORS) if r is not None), None)
        if result is None:
            return InternalError(f"{type(error).__name__}: {error}")
    result.__cause__ = error
    return result
