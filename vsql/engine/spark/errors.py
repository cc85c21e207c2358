"""Spark's exceptions as PEP 249's: Spark's message without its error class, SQLSTATE and JVM
stack; vector problems in pgvector's words. Registered with vsql.errors when the engine loads."""

from __future__ import annotations

import re

from py4j.protocol import Py4JJavaError
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
    if isinstance(error, Py4JJavaError):  # a Java failure pyspark left unconverted (a file it could not read ...)
        result = DatabaseError(_java_text(error))
        result.__cause__ = error
        return result
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


def _java_text(error: Py4JJavaError) -> str:
    """The message of the Java exception (or of its first cause with a Spark error class, past
    wrappers such as "Exception thrown in awaitResult"), its first line, without class names."""
    try:
        chain, cause = [], error.java_exception
        while cause is not None and len(chain) < 10:
            chain.append(str(cause.getMessage() or cause.toString()).strip())
            cause = cause.getCause()
    except Exception:  # noqa: BLE001 - the JVM is gone: py4j's own text
        chain = [str(error)]
    message = next((m for m in chain if _CLASSED.match(m)), chain[0] if chain else str(error))
    message = re.sub(r"^\s*([\w$.]+(Exception|Error): )+", "", message.split("\n")[0])
    return _FRAME.sub("", message).strip()


_CLASSED = re.compile(r"^\s*\[[A-Z_.]+\]")  # a message with Spark's error class: the one that says what failed


def _text(error: PySparkException) -> str:
    """Spark's message, its first line: without the error class, SQLSTATE, plan or stack."""
    message = (error.getMessage() or str(error)).strip()
    return _FRAME.sub("", message.split("\n")[0]).strip()


register_translator(translate)
