"""Syntax highlighting: PostgreSQL's Pygments lexer, which already reads pgvector's operators
(`<->`, `<#>`, `<=>`, `<+>`) as operators, plus vsql's functions, `vector` and shell commands.
"""

import re

from pygments.lexer import inherit, words
from pygments.lexers.sql import PostgresLexer
from pygments.token import Keyword, Name

from vsql.client.shell.vocabulary import FUNCTIONS


class VsqlLexer(PostgresLexer):
    name = "vsql"
    aliases = ["vsql"]
    flags = PostgresLexer.flags | re.MULTILINE

    tokens = {
        "root": [
            (r"\\[a-z?]+\+?", Keyword.Pseudo),  # \d, \d+, \timing
            (r"^\.[a-z]+", Keyword.Pseudo),  # .tables
            (words(FUNCTIONS, suffix=r"\b"), Name.Function),
            (r"vector\b", Name.Builtin),
            inherit,
        ],
    }
