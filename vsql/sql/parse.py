"""Parse vsql SQL into statements, numbering positional parameters on the way."""

from __future__ import annotations

import logging
import re

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError, UnsupportedError
from sqlglot.tokens import Token, TokenType

from vsql.errors import Error, NotSupportedError, SyntaxError, register_translator
from vsql.sql.dialect import VSQL

_DIALECT = VSQL()

# Statements sqlglot does not know become `Command`s and run on the engine as written.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


def parse(sql: str) -> list[exp.Expr]:
    """The statements of `sql`; `?` and `%s` placeholders become `$1`, `$2`, ... in order.

    A statement sqlglot reads as a bare expression (DuckDB's `CHECKPOINT`, `INSTALL x`) is
    passed to the engine as written. A syntax error is PostgreSQL's, positioned in `sql`.
    """
    sql = _number_placeholders(sql)
    statements = []
    for tokens in _statement_tokens(_tokenize(sql)):
        parser = _DIALECT.parser()
        try:  # parsed from the whole text's tokens, so positions are the text's, not the statement's
            parsed = [s for s in parser.parse(tokens, sql) if s is not None]
        except ParseError as error:
            raise _syntax_error(error, at_end=not parser._curr) from error  # sqlglot's sentinel past the last token
        text = sql[tokens[0].start : tokens[-1].end + 1]
        statements.extend(_statement(s, text) for s in parsed)
    return statements


def _statement(parsed: exp.Expr, text: str) -> exp.Expr:
    savepoint = isinstance(parsed, exp.Rollback) and parsed.args.get("savepoint") or isinstance(
        parsed, exp.Command) and parsed.name.upper() in ("SAVEPOINT", "RELEASE")
    if savepoint:  # a ROLLBACK TO taken as a plain ROLLBACK would undo the whole transaction
        raise NotSupportedError("savepoints are not supported: DuckDB has none (SAVEPOINT, RELEASE, ROLLBACK TO)")
    return exp.Command(this=text) if isinstance(parsed, (exp.Condition, exp.Alias)) else parsed


def _statement_tokens(tokens: list[Token]) -> list[list[Token]]:
    """The tokens of each statement, split at top-level semicolons."""
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    return [s for s in statements if s]


def _tokenize(sql: str) -> list[Token]:
    try:
        return _DIALECT.tokenize(sql)
    except TokenError as error:
        raise _unterminated(sql, error) from error


def _number_placeholders(sql: str) -> str:
    tokens = _tokenize(sql)
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


# What PostgreSQL calls a token sqlglot's tokenizer found no end for, by its missing delimiter.
_UNTERMINATED = {"'": "unterminated quoted string", '"': "unterminated quoted identifier",
                 "*/": "unterminated /* comment"}
_MISSING = re.compile(r"Missing (\S+) from \d+:(\d+)")


def _unterminated(sql: str, error: TokenError) -> SyntaxError:
    """PostgreSQL's `unterminated quoted string at or near "'abc"`, from the tokenizer's
    `Missing ' from line:offset` (its only readable report); else a syntax error at end of input."""
    missing = _MISSING.fullmatch(str(error.__cause__ or ""))
    if missing is None:
        return SyntaxError.at(None)
    delimiter, start = missing[1], int(missing[2])
    what = _UNTERMINATED.get(delimiter, "unterminated dollar-quoted string" if delimiter.startswith("$") else
                             "syntax error")
    line = sql.count("\n", 0, start) + 1
    return SyntaxError.at(sql[start:], line, start - (sql.rfind("\n", 0, start) + 1) + 1, what=what)


def _syntax_error(error: ParseError, at_end: bool = False) -> SyntaxError:
    """PostgreSQL's words for sqlglot's error: the token it stopped at, or the end of the input.

    sqlglot's own description (`Where is missing its this`, `Expected table name ...`) names its
    classes, not the user's SQL, and is left to the cause. Its position (line, and the column a
    token *ends* at) is restated as where the token starts; at the end of the input, just past the
    last token, which the cause's details are moved to as well, for the shell's caret.
    """
    if not error.errors:
        return SyntaxError.at(None)
    where = error.errors[0]
    near, line, end = where.get("highlight") or "", where.get("line"), where.get("col")
    hint = where.get("description") if _raised_by_vsql(error) else None
    detail = f"HINT:  {hint}" if hint else ""
    if at_end and end is not None:
        where.update(highlight="", col=end + 1)
        return SyntaxError.at(None, line, end + 1, detail=detail)
    column = end - len(near) + 1 if end is not None and "\n" not in near else None
    return SyntaxError.at(near, line, column, detail=detail)


def _raised_by_vsql(error: ParseError) -> bool:
    """Whether vsql's own statement parsers (vsql.sql.statements) raised `error`: their words say
    what the statement takes (`REINDEX takes INDEX name or TABLE name`), sqlglot's name its classes."""
    frames, tb = [], error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    raiser = next((i for i, f in enumerate(frames) if f.f_code.co_name == "raise_error"), 0)
    return raiser > 0 and frames[raiser - 1].f_globals.get("__name__", "").startswith("vsql.")


def _translate(error: Exception) -> Error | None:
    """sqlglot's errors from parsing outside `parse` (filters given as text), and constructs the
    engine cannot run, as PEP 249's."""
    if isinstance(error, ParseError):
        return _syntax_error(error)
    if isinstance(error, TokenError):
        return SyntaxError.at(None)
    if isinstance(error, UnsupportedError):
        return NotSupportedError(f"cannot run on DuckDB: {error}")
    return None


register_translator(_translate)
