"""Parse vsql SQL into statements, numbering positional parameters on the way."""

from __future__ import annotations

import logging
import re

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError, UnsupportedError
from sqlglot.tokens import Token, TokenType

from vsql.errors import Error, NotSupportedError, ProgrammingError, register_translator
from vsql.sql.dialect import VSQL

_DIALECT = VSQL()

# Statements sqlglot does not know become `Command`s and run on the engine as written.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


def parse(sql: str) -> list[exp.Expr]:
    """The statements of `sql`; `?` and `%s` placeholders become `$1`, `$2`, ... in order.

    A statement sqlglot reads as a bare expression (DuckDB's `CHECKPOINT`, `INSTALL x`) is
    passed to the engine as written.
    """
    sql = _number_placeholders(sql)
    statements = []
    for start, end, line in _statement_spans(_DIALECT.tokenize(sql)):
        text = sql[start : end + 1]
        try:
            parsed = [s for s in _DIALECT.parse(text) if s is not None]
        except ParseError as error:
            for detail in error.errors:
                if detail.get("line") is not None:
                    detail["line"] += line - 1
            raise
        statements.extend(_statement(s, text) for s in parsed)
    return statements


def _statement(parsed: exp.Expr, text: str) -> exp.Expr:
    return exp.Command(this=text) if isinstance(parsed, (exp.Condition, exp.Alias)) else parsed


def _statement_spans(tokens: list[Token]) -> list[tuple[int, int, int]]:
    """(first char, last char, line) of each statement, split at top-level semicolons."""
    spans, first, previous = [], None, None
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if first is not None:
                spans.append((first.start, previous.end, first.line))
            first = None
        else:
            first = first or token
            previous = token
    if first is not None:
        spans.append((first.start, previous.end, first.line))
    return spans


def _number_placeholders(sql: str) -> str:
    tokens = _DIALECT.tokenize(sql)
    spans = []
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.PLACEHOLDER and token.text == "?":
            spans.append((token.start, token.end))
        elif (
            token.token_type == TokenType.MOD
            and i + 1 < len(tokens)
            and tokens[i + 1].text == "s"
            and tokens[i + 1].start == token.end + 1
        ):
            spans.append((token.start, tokens[i + 1].end))
    for number, (start, end) in reversed(list(enumerate(spans, 1))):
        sql = f"{sql[:start]}${number}{sql[end + 1:]}"
    return sql


def _translate(error: Exception) -> Error | None:
    """sqlglot's errors as PEP 249's: syntax errors, and constructs the engine cannot run."""
    if isinstance(error, ParseError):
        return ProgrammingError(_parse_message(error))
    if isinstance(error, TokenError):
        return ProgrammingError(f"syntax error: {error}")
    if isinstance(error, UnsupportedError):
        return NotSupportedError(f"cannot run on DuckDB: {error}")
    return None


def _parse_message(error: ParseError) -> str:
    if not error.errors:
        return f"syntax error: {error}"
    first = error.errors[0]
    near = first.get("highlight") or ""
    desc = first.get("description") or "syntax error"
    desc = re.sub(r"Required keyword: '(\w+)' missing for <class '[\w.]*?(\w+)'>", r"\2 is missing its \1", desc)
    return f"syntax error at line {first.get('line')}, column {first.get('col')} near {near!r}: {desc}"


register_translator(_translate)
