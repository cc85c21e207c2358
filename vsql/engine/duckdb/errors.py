"""DuckDB's exceptions as PEP 249's, in PostgreSQL's style: without DuckDB's `Binder Error: `
kind of prefix, syntax errors as PostgreSQL words and positions them, vector problems as pgvector
states them. Registered with vsql.errors when the DuckDB engine loads."""

from __future__ import annotations

import re

import duckdb

from vsql.errors import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    SyntaxError,
    VectorError,
    register_translator,
)

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
        re.compile(r"^(array must not contain nulls|vector cannot have more than \d+ dimensions"
                   r"|vector must have at least 1 dimension)"),
        lambda m: m[1],
    ),
    (
        re.compile(r"Array arguments must be of the same size|array_\w+: Array arguments must be"),
        lambda m: "different vector dimensions",
    ),
]


_UDF_ERROR = re.compile(r"Python exception occurred while executing the UDF: VectorError: (.*)")
# DuckDB names the kind of every error first (`Catalog Error: `, `Out of Range Error: `); PostgreSQL
# does not, and the exception's class already says it.
_KIND = re.compile(r"^[A-Z][\w ]*? Error: ")
# DuckDB's parser is PostgreSQL's: its words, and psql's picture of the position (`LINE 2: ...` and
# a caret under the token; a long line is cut to `...` before the token, and then its column is unknown).
_SYNTAX = re.compile(r'^syntax error (?:at or near "(?P<near>.*?)"|at end of input)'
                     r"(?:\n\n(?P<picture>LINE (?P<line>\d+): (?P<text>[^\n]*)\n(?P<caret> *)\^+))?\s*\Z", re.S)


def translate(error: Exception) -> Error | None:
    """The DB-API exception for one of DuckDB's (or a VectorError raised inside a vsql UDF), its
    cause attached; None for an exception that is not DuckDB's."""
    from_udf = _UDF_ERROR.search(str(error))
    if from_udf:
        result: Error = VectorError(from_udf[1])
    else:
        kind = next((k for d, k in _DUCKDB_ERRORS if isinstance(error, d)), None)
        if kind is None:
            return None
        message = _KIND.sub("", str(error), count=1)
        syntax = _SYNTAX.match(message) if isinstance(error, duckdb.ParserException) else None
        if syntax:
            result = _syntax_error(syntax)
        else:
            for pattern, reword in _REWORDINGS:
                found = pattern.search(message)
                if found:
                    message = message if message.startswith(reword(found)) else f"{reword(found)}\n{message}"
                    kind = VectorError
                    break
            result = kind(message)
    result.__cause__ = error
    return result


def _syntax_error(found: re.Match) -> SyntaxError:
    """The position is the engine's statement's: the user's text for statements run as written."""
    line = column = None
    if found["picture"]:
        line = int(found["line"])
        column = None if found["text"].startswith("...") else len(found["caret"]) - len(f"LINE {line}: ") + 1
    return SyntaxError.at(found["near"], line, column, detail=found["picture"] or "")


register_translator(translate)
