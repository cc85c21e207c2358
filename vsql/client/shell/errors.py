"""Errors as people read them: one short red line, and a caret under a syntax error."""

from __future__ import annotations

import os
import sys
import traceback
from typing import TextIO

from sqlglot.errors import ParseError

import vsql

_RED, _RESET = "\x1b[31m", "\x1b[0m"


def describe(error: BaseException, sql: str = "") -> list[str]:
    """`ERROR: ...` with the message's first line; for a syntax error in `sql`, the line and a caret.

    Errors vsql raises speak for themselves; anything else is named, since it is likely a bug.
    """
    message = str(error).strip() if isinstance(error, vsql.Error) else f"{type(error).__name__}: {error}"
    lines = [f"ERROR: {message.splitlines()[0] if message else type(error).__name__}"]
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


def report(error: BaseException, sql: str = "", *, debug: bool = False, stream: TextIO | None = None) -> None:
    """Write `error` to stderr, red on a terminal; `debug` adds the traceback."""
    stream = stream or sys.stderr
    if debug:
        traceback.print_exception(error, file=stream)
    first, *rest = describe(error, sql)
    if stream.isatty() and "NO_COLOR" not in os.environ:
        first = _RED + first + _RESET
    stream.write("\n".join([first, *rest]) + "\n")
    stream.flush()
