"""PEP 249's exception hierarchy, and the one place parser and (through the translators engines
register) engine errors become it."""

from __future__ import annotations




class Warning(Exception):  # noqa: A001 - the name PEP 249 requires
    pass


class Error(Exception):
    sqlstate: str | None = None  # PostgreSQL's code for the condition, where vsql raises PostgreSQL's error


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


class SyntaxError(ProgrammingError):  # noqa: A001 - psycopg's name for SQLSTATE 42601
    """PostgreSQL's syntax error, whichever parser (sqlglot's, the engine's) found it.

    `near` is the token, None at the end of the input; `line` and `column` (from 1) are where it
    starts in the SQL text, None when unknown: what psql draws its `LINE n:` and caret from.
    """

    sqlstate = "42601"
    near: str | None = None
    line: int | None = None
    column: int | None = None

    @classmethod
    def at(cls, near: str | None, line: int | None = None, column: int | None = None, *,
           what: str = "syntax error", detail: str = "") -> SyntaxError:
        """`what at or near "near"` or `what at end of input`, PostgreSQL's words; `detail` follows
        on the next lines (an engine's own picture of the position)."""
        where = "at end of input" if near is None else f'at or near "{near}"'
        error = cls(f"{what} {where}" + (f"\n{detail}" if detail else ""))
        error.near, error.line, error.column = near, line, column
        return error


class InFailedSqlTransaction(InternalError):
    """A statement in a transaction block that an earlier error aborted: PostgreSQL (and psycopg)
    refuse everything but its end until ROLLBACK, so a transaction never commits half its work."""

    sqlstate = "25P02"

    def __init__(self, message: str = "current transaction is aborted, commands ignored until end of "
                                      "transaction block"):
        super().__init__(message)


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
