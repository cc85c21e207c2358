"""vsql's own statements as typed nodes: how the dialect reads and writes them.

`CREATE / ALTER / DROP VECTOR ALIAS`, `ALTER TABLE ... ALTER COLUMN ... SET MODEL`, `REINDEX` and
`EXPLAIN [ANALYZE]`, plus PostgreSQL's `ABORT`, `START TRANSACTION` and `CREATE EXTENSION`, which
sqlglot's PostgreSQL leaves as raw `Command` text. Each statement has a parser entry keyed by its
first token, as sqlglot's own dialects add theirs; the entry falls back to PostgreSQL's for the rest.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.parser import Parser
from sqlglot.tokens import TokenType

from vsql.errors import OperationalError

# TokenType is a closed enum: REINDEX reuses REFRESH, which PostgreSQL's tokenizer never emits
# (it reads REFRESH as a raw command); PostgreSQL's own REINDEX token swallows the rest as text.
REINDEX = TokenType.REFRESH

KEYWORDS = {
    "ABORT": TokenType.ROLLBACK,
    "EXPLAIN": TokenType.DESCRIBE,  # as sqlglot's MySQL reads it; DESCRIBE keeps its own parser
    "REINDEX": REINDEX,
    "START": TokenType.BEGIN,  # START TRANSACTION, as sqlglot's MySQL reads it
}


# What CREATE EXTENSION finds installed: pgvector's, which vsql always is.
EXTENSIONS = frozenset({"vector"})


class CreateExtension(exp.Expression):
    """CREATE EXTENSION [IF NOT EXISTS] vector [WITH] [SCHEMA s] [VERSION v] [CASCADE]: a script
    written for pgvector starts with it; vsql has the extension built in, so it changes nothing."""

    arg_types = {"this": True, "exists": False}


class CreateVectorAlias(exp.Expression):
    """CREATE VECTOR ALIAS name FOR index."""

    arg_types = {"this": True, "expression": True}


class AlterVectorAlias(exp.Expression):
    """ALTER VECTOR ALIAS name SET index: points the alias at another index in one statement."""

    arg_types = {"this": True, "expression": True}


class DropVectorAlias(exp.Expression):
    arg_types = {"this": True, "exists": False}


class SetModel(exp.Expression):
    """ALTER TABLE t ALTER [COLUMN] c SET MODEL 'name' (no `model`: DROP MODEL)."""

    arg_types = {"this": True, "column": True, "model": False}


class Reindex(exp.Expression):
    """REINDEX INDEX name | TABLE name; `kind` is INDEX or TABLE."""

    arg_types = {"this": True, "kind": True}


class Explain(exp.Expression):
    """EXPLAIN [ANALYZE] of a statement vsql rewrites (sqlglot keeps EXPLAIN as raw text)."""

    arg_types = {"this": True, "analyze": False}


_ALIASES = {  # node: the word before the index (none for DROP), the error when it is malformed
    CreateVectorAlias: ("FOR", "expected CREATE VECTOR ALIAS name FOR index"),
    AlterVectorAlias: ("SET", "expected ALTER VECTOR ALIAS name SET index"),
    DropVectorAlias: (None, "expected DROP VECTOR ALIAS [IF EXISTS] name"),
}
_MODEL_ERROR = "expected ALTER TABLE t ALTER COLUMN c SET MODEL 'name' (or DROP MODEL)"


def _end(self: Parser, found, error: str):
    """`found`, if it is there and the statement ends after it; else `error`, which says what the
    statement takes."""
    if not found or self._curr and self._curr.token_type != TokenType.SEMICOLON:
        self.raise_error(error)
    return found


def _alias(self: Parser, node: type[exp.Expression]) -> exp.Expression:
    word, error = _ALIASES[node]
    exists = word is None and self._parse_exists()
    name = self._parse_id_var(any_token=False)
    if word is None:
        return self.expression(node(this=_end(self, name, error), exists=exists))
    target = self._match_text_seq(word) and self._parse_id_var(any_token=False)
    return self.expression(node(this=name, expression=_end(self, name and target, error)))


def _extension(self: Parser) -> CreateExtension:
    exists = self._parse_exists(not_=True)
    name = self._parse_id_var(any_token=False)
    if name is None:
        self.raise_error("expected CREATE EXTENSION [IF NOT EXISTS] name")
    if name.name.lower() not in EXTENSIONS:  # PostgreSQL's words, whether or not IF NOT EXISTS
        error = OperationalError(f'extension "{name.name}" is not available\n'
                                 "HINT:  The extension must first be installed on the system where PostgreSQL is running.")
        error.sqlstate = "58P01"  # undefined_file: its control file is not there
        raise error
    self._match(TokenType.WITH)
    if self._match(TokenType.SCHEMA):
        self._parse_id_var(any_token=False)
    if self._match_text_seq("VERSION"):
        self._parse_string() or self._parse_id_var(any_token=False)
    self._match_text_seq("CASCADE")
    return self.expression(CreateExtension(this=_end(self, name, "expected CREATE EXTENSION [IF NOT EXISTS] name "
                                                     "[WITH] [SCHEMA schema] [VERSION version] [CASCADE]"),
                                           exists=exists))


def _create(self: Parser) -> exp.Expr:
    if self._match_text_seq("VECTOR", "ALIAS"):
        return _alias(self, CreateVectorAlias)
    if self._match_text_seq("EXTENSION"):
        return _extension(self)
    return Postgres.Parser.STATEMENT_PARSERS[TokenType.CREATE](self)


def _drop(self: Parser) -> exp.Expr:
    if self._match_text_seq("VECTOR", "ALIAS"):
        return _alias(self, DropVectorAlias)
    return Postgres.Parser.STATEMENT_PARSERS[TokenType.DROP](self)


def _alter(self: Parser) -> exp.Expr:
    if self._match_text_seq("VECTOR", "ALIAS"):
        return _alias(self, AlterVectorAlias)
    start = self._index
    if self._match(TokenType.TABLE):
        table = self._parse_table_parts()
        if self._match(TokenType.ALTER):
            self._match(TokenType.COLUMN)
            column = self._parse_id_var()
            if self._match_text_seq("SET", "MODEL"):
                model = _end(self, self._parse_string(), _MODEL_ERROR)
                return self.expression(SetModel(this=table, column=column, model=model))
            if self._match_text_seq("DROP", "MODEL"):
                _end(self, True, _MODEL_ERROR)
                return self.expression(SetModel(this=table, column=column))
    self._retreat(start)
    return Postgres.Parser.STATEMENT_PARSERS[TokenType.ALTER](self)


def _reindex(self: Parser) -> Reindex:
    kind = self._match_set((TokenType.INDEX, TokenType.TABLE)) and self._prev.text.upper()
    table = kind and self._curr and self._parse_table_parts()
    return self.expression(Reindex(this=_end(self, table, "REINDEX takes INDEX name or TABLE name"), kind=kind))


def _explain(self: Parser) -> exp.Expr:
    if self._prev.text.upper() != "EXPLAIN":
        return Postgres.Parser.STATEMENT_PARSERS[TokenType.DESCRIBE](self)
    analyze = self._match_text_seq("ANALYZE")
    statement = self._parse_statement()
    return self.expression(Explain(this=_end(self, statement, "EXPLAIN takes one statement"), analyze=analyze))


STATEMENT_PARSERS = {
    TokenType.CREATE: _create,
    TokenType.DROP: _drop,
    TokenType.ALTER: _alter,
    TokenType.DESCRIBE: _explain,
    REINDEX: _reindex,
}


def _set_model_sql(self, e: SetModel) -> str:
    model = e.args.get("model")
    action = f"SET MODEL {self.sql(model)}" if model else "DROP MODEL"
    return f"ALTER TABLE {self.sql(e, 'this')} ALTER COLUMN {self.sql(e, 'column')} {action}"


TRANSFORMS = {
    CreateExtension: lambda self, e: f"CREATE EXTENSION {'IF NOT EXISTS ' if e.args.get('exists') else ''}{self.sql(e, 'this')}",
    CreateVectorAlias: lambda self, e: f"CREATE VECTOR ALIAS {self.sql(e, 'this')} FOR {self.sql(e, 'expression')}",
    AlterVectorAlias: lambda self, e: f"ALTER VECTOR ALIAS {self.sql(e, 'this')} SET {self.sql(e, 'expression')}",
    DropVectorAlias: lambda self, e: f"DROP VECTOR ALIAS {'IF EXISTS ' if e.args.get('exists') else ''}{self.sql(e, 'this')}",
    SetModel: _set_model_sql,
    Reindex: lambda self, e: f"REINDEX {e.args['kind']} {self.sql(e, 'this')}",
    Explain: lambda self, e: f"EXPLAIN {'ANALYZE ' if e.args.get('analyze') else ''}{self.sql(e.this)}",
}
