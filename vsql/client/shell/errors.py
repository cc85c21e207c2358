"""Errors as people read them: one short red line, and a caret under a syntax error; in full
(every line of the message, the exception's class and cause, the statement) for `\\errverbose`."""

from __future__ import annotations

import os
import re
import sys
import traceback
from typing import TextIO

from sqlglot.errors import ParseError

import vsql

_RED, _RESET = "\x1b[31m", "\x1b[0m"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # sqlglot underlines the token in its messages


def describe(error: BaseException, sql: str = "") -> list[str]:
    """`ERROR: ...` with the message's first line; for a syntax error in `sql`, the line and a caret.

    Errors vsql raises speak for themselves; anything else is named, since it is likely a bug.
    """
    message = _message(error)
    return [f"ERROR: {message.splitlines()[0] if message else type(error).__name__}", *_caret(error, sql)]


def verbose(error: BaseException, sql: str = "") -> list[str]:
    """The error in full: its whole message, the caret, its class, what caused it and the statement."""
    lines = [f"ERROR: {_message(error) or type(error).__name__}", *_caret(error, sql), f"CLASS: {_name(error)}"]
    if error.__cause__ is not None:
        cause = _ANSI.sub("", str(error.__cause__)).strip().splitlines()
        lines.append(f"CAUSE: {_name(error.__cause__)}" + (f": {cause[0]}" if cause else ""))
    return lines + ([f"STATEMENT: {sql}"] if sql else [])


def _name(error: BaseException) -> str:
    module = type(error).__module__.split(".")[0].lstrip("_")  # duckdb's classes live in _duckdb
    return f"{module}.{type(error).__name__}" if module != "builtins" else type(error).__name__


def _message(error: BaseException) -> str:
    return str(error).strip() if isinstance(error, vsql.Error) else f"{type(error).__name__}: {error}"


def _caret(error: BaseException, sql: str) -> list[str]:
    """For a syntax error in `sql`, its line and a caret under the token."""
    lines: list[str] = []
    cause = error.__cause__
    if isinstance(cause, ParseError) and cause.errors and sql:
        where = cause.errors[0]
        source = sql.splitlines()
        line, col = where.get("line") or 1, where.get("col") or 1
        if line <= len(source):
            width = max(len(where.get("highlight") or ""), 1)
            prefix = f"LINE {line}: "
            lines += [prefix + source[line - 1], " " * (len(prefix) + max(col - width, 0)) + "^" * width]
    return lines


def report(error: BaseException, sql: str = "", *, debug: bool = False, stream: TextIO | None = None,
           where: str = "") -> None:
    """Write `error` to stderr, red on a terminal, after `where` (psql's `file:line: `); `debug`
    adds the traceback."""
    stream = stream or sys.stderr
    if debug:
        traceback.print_exception(error, file=stream)
    first, *rest = describe(error, sql)
    first = where + first  # psql's `psql:file.sql:3: ERROR: ...`
    if stream.isatty() and "NO_COLOR" not in os.environ:
        first = _RED + first + _RESET
    stream.write("\n".join([first, *rest]) + "\n")
    stream.flush()
