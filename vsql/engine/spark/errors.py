"""Spark's exceptions as PEP 249's: Spark's message without its error class, SQLSTATE and JVM
stack; vector problems in pgvector's words. Registered with vsql.errors when the engine loads."""

from __future__ import annotations

import re

from pyspark.errors import (
    AnalysisException,
    ArithmeticException,
    IllegalArgumentException,
    ParseException,
    PySparkException,
    UnsupportedOperationException,
)

from vsql.errors import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    NotSupportedError,
    ProgrammingError,
    VectorError,
    register_translator,
)

_SPARK_ERRORS: list[tuple[type[Exception], type[Error]]] = [
    (ParseException, ProgrammingError),
    (UnsupportedOperationException, NotSupportedError),
    (AnalysisException, ProgrammingError),
    (ArithmeticException, DataError),
    (IllegalArgumentException, DataError),
    (PySparkException, DatabaseError),
]
# Spark's error class, then its text: `[TABLE_OR_VIEW_NOT_FOUND] The table ... SQLSTATE: 42P01`
_FRAME = re.compile(r"^\s*\[[A-Z_.]+\]\s*|\s*SQLSTATE: \w+.*\Z", re.S)


def translate(error: Exception) -> Error | None:
    if not isinstance(error, PySparkException):
        return None
    condition = error.getCondition() or ""
    parameters = error.getMessageParameters() or {}
    if condition == "USER_RAISED_EXCEPTION":  # vsql's own checks (lowering's raise_error)
        message = parameters.get("errorMessage") or _text(error)
        result: Error = (IntegrityError if "violates not-null constraint" in message else VectorError)(message)
    elif condition == "VECTOR_DIMENSION_MISMATCH":
        numbers = re.findall(r"\d+", _text(error).split("got", 1)[-1])
        result = VectorError(f"different vector dimensions {' and '.join(numbers[:2])}")
    elif condition == "TABLE_OR_VIEW_NOT_FOUND":  # PostgreSQL's words
        name = parameters.get("relationName", "").replace("`", "")
        result = ProgrammingError(f'relation "{name}" does not exist')
    elif condition.startswith("UNSUPPORTED_FEATURE"):
        result = NotSupportedError(_text(error))
    else:
        kind = next((k for s, k in _SPARK_ERRORS if isinstance(error, s)), DatabaseError)
        result = kind(_text(error))
    result.__cause__ = error
    return result


def _text(error: PySparkException) -> str:
    """Spark's message, its first line: without the error class, SQLSTATE, plan or stack."""
    message = (error.getMessage() or str(error)).strip()
    return _FRAME.sub("", message.split("\n")[0]).strip()


register_translator(translate)
