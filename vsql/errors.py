"""PEP 249's exception hierarchy, and the one place engine and parser errors are translated."""

from __future__ import annotations

import re

import duckdb
from sqlglot.errors import ParseError, TokenError, UnsupportedError


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


_DUCKDB_ERRORS: list[tuple[type[Exception], type[Error]]] = [
    (duckdb.ConstraintException, IntegrityError),
    (duckdb.ConversionException, DataError),
    (duckdb.OutOfRangeException, DataError),
    (duckdb.InvalidInputException, DataError),
    (duckdb.DataError, DataError),
    (duckdb.IntegrityError, IntegrityError),
    (duckdb.CatalogException, ProgrammingError),
    (duckdb.BinderException, ProgrammingError),
    (duckdb.ParserException, ProgrammingError),
    (duckdb.ProgrammingError, ProgrammingError),
    (duckdb.NotImplementedException, NotSupportedError),
    (duckdb.NotSupportedError, NotSupportedError),
    (duckdb.InterruptException, OperationalError),
    (duckdb.OperationalError, OperationalError),
    (duckdb.TransactionException, OperationalError),
    (duckdb.InternalError, InternalError),
    (duckdb.Error, DatabaseError),
]

# DuckDB's wording for vector problems, restated as pgvector states them.
_REWORDINGS = [
    (
        re.compile(r"Cannot cast list with length (\d+) to array with length (\d+)"),
        lambda m: f"expected {m[2]} dimensions, not {m[1]}",
    ),
    (
        re.compile(r"Cannot cast array of size (\d+) to array of size (\d+)"),
        lambda m: f"expected {m[2]} dimensions, not {m[1]}",
    ),
    (
        re.compile(r"value '\[.*\]' can't be cast to the destination type FLOAT\[(\d+)\]", re.S),
        lambda m: f"expected {m[1]} dimensions, or a malformed vector literal",
    ),
    (
        re.compile(r"CHECK constraint failed on table (\S+) with expression CHECK\(isfinite\(list_sum\((.+?)\)\)\)"),
        lambda m: f"NaN or infinite value not allowed in vector column {m[2]} of table {m[1].strip(chr(34))}",
    ),
    (  # vsql's run-time checks of values cast to vectors (duckdb_executor._cast)
        re.compile(r"Invalid Input Error: (array must not contain nulls|vector cannot have more than \d+ dimensions"
                   r"|vector must have at least 1 dimension)"),
        lambda m: m[1],
    ),
    (
        re.compile(r"Array arguments must be of the same size|array_\w+: Array arguments must be"),
        lambda m: "different vector dimensions",
    ),
]


_UDF_ERROR = re.compile(r"Python exception occurred while executing the UDF: VectorError: (.*)")


class VectorError(DataError):
    """A vector value or operation that pgvector would reject (dimensions, NaN, range, syntax)."""


def translate(error: Exception) -> Error:
    """Return the DB-API exception for an engine, parser or analysis error, its cause attached."""
    if isinstance(error, Error):
        return error
    if isinstance(error, ParseError):
        result: Error = ProgrammingError(_parse_message(error))
    elif isinstance(error, TokenError):
        result = ProgrammingError(f"syntax error: {error}")
    elif isinstance(error, UnsupportedError):
        result = NotSupportedError(f"cannot run on DuckDB: {error}")
    elif isinstance(error, (OSError, MemoryError)):  # writing index files, building indexes
        result = OperationalError(f"{type(error).__name__}: {error}")
    else:
        from_udf = _UDF_ERROR.search(str(error))
        if from_udf:  # a VectorError raised inside one of vsql's UDFs
            result = VectorError(from_udf[1])
            result.__cause__ = error
            return result
        kind = next((k for d, k in _DUCKDB_ERRORS if isinstance(error, d)), None)
        if kind is None:
            return InternalError(f"{type(error).__name__}: {error}")
        message = str(error)
        for pattern, reword in _REWORDINGS:
            found = pattern.search(message)
            if found:
                message = f"{reword(found)}\n{message}"
                kind = VectorError
                break
        result = kind(message)
    result.__cause__ = error
    return result


def _parse_message(error: ParseError) -> str:
    if not error.errors:
        return f"syntax error: {error}"
    first = error.errors[0]
    near = first.get("highlight") or ""
    desc = first.get("description") or "syntax error"
    desc = re.sub(r"Required keyword: '(\w+)' missing for <class '[\w.]*?(\w+)'>", r"\2 is missing its \1", desc)
    return f"syntax error at line {first.get('line')}, column {first.get('col')} near {near!r}: {desc}"
