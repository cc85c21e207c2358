"""Completion: `suggest` is a pure function of the text before the cursor and the schema, so it
is tested without a terminal; `SqlCompleter` only adapts it to prompt_toolkit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from vsql.client.shell.commands import NAMES, PSET
from vsql.client.shell.render import ALIASES, FORMATS
from vsql.client.shell.sqlhelp import HELP
from vsql.client.shell.statements import split
from vsql.client.shell.vocabulary import (
    FUNCTIONS,
    INDEX_METHODS,
    INDEX_OPTIONS,
    KEYWORDS,
    OPERATOR_CLASSES,
    OPERATORS,
    SETTINGS,
)

Schema = dict[str, list[str]]

# a beginning of one of the operators (`<`, `<-`, `<->` ...), longest first
_OPERATOR = re.compile("(?:" + "|".join(sorted({re.escape(op[:n]) for op in OPERATORS for n in range(1, len(op) + 1)},
                                                key=len, reverse=True)) + r")\Z")
_WORD = re.compile(r"\\[\w.?]*\+?\Z|[\w.?]*\Z")  # commands (\d, \d+, \?, .tables), and names
_TOKENS = re.compile(r"\w+|[^\w\s]")
_CREATE_INDEX = re.compile(r"CREATE\s+(?:UNIQUE\s+)?INDEX\b", re.I)
_TABLE_BEFORE = {"FROM", "JOIN", "INTO", "UPDATE", "TABLE", "DESCRIBE"}
_KEYWORD_SET = set(KEYWORDS)
# what a command takes, by Command.argument: phrases, whose next word completion offers
ARGUMENTS: dict[str, Callable[[Schema], Iterable[str]]] = {
    "table": sorted,
    "switch": lambda schema: ["on", "off"],
    "expanded": lambda schema: ["on", "off", "auto"],
    "format": lambda schema: [*FORMATS, *ALIASES],
    "pset": lambda schema: [f"{name} {value}" for name, option in PSET.items() for value in option.choices or [""]],
    "help": lambda schema: HELP,
}


def typed_word(text: str) -> str:
    """The part of `text` a completion replaces: an operator begun with `<`, a (dotted) name, or a
    command's name."""
    return (_OPERATOR.search(text) or _WORD.search(text))[0]


def suggest(text_before_cursor: str, schema: Schema) -> list[str]:
    """What may come next at the cursor, each a replacement for `typed_word(text_before_cursor)`."""
    items, statement = split(text_before_cursor)
    word = typed_word(text_before_cursor)
    if not statement and items and items[-1].is_command and text_before_cursor.endswith(items[-1].text):
        candidates = _command_words(items[-1].text, schema)
    else:
        candidates = _sql_words(statement[: len(statement) - len(word)], word, schema)
    return [c for c in dict.fromkeys(candidates) if c.lower().startswith(word.lower())]


def _command_words(line: str, schema: Schema) -> Iterable[str]:
    name, space, rest = line.partition(" ")
    if not space:
        return sorted(NAMES)
    argument = NAMES[name].argument if name in NAMES else ""
    before = rest.upper().split()
    if before and not rest.endswith(" "):
        before.pop()  # the word being typed, which `suggest` matches
    phrases = [phrase.split() for phrase in ARGUMENTS[argument](schema)] if argument else []
    n = len(before)
    return [words[n] for words in phrases if len(words) > n and [w.upper() for w in words[:n]] == before]


def _sql_words(before: str, word: str, schema: Schema) -> Iterable[str]:
    if word.startswith("<"):
        return OPERATORS
    tokens = _TOKENS.findall(before)
    upper = [t.upper() for t in tokens]
    tables = _named_tables(tokens, {name.lower(): name for name in schema})
    if "." in word:
        qualifier = word.rpartition(".")[0]
        if qualifier.lower() in INDEX_METHODS:
            return SETTINGS
        return [f"{qualifier}.{column}" for column in schema.get(tables.get(qualifier.lower()), [])]
    if upper in (["SET"], ["SHOW"], ["RESET"]):
        return SETTINGS
    if _CREATE_INDEX.match(before):
        in_index = _index_words(tokens, upper, schema, tables)
        if in_index is not None:
            return in_index
    if upper and upper[-1] in _TABLE_BEFORE:
        return sorted(schema)
    columns = sorted({c for table in (set(tables.values()) or schema) for c in schema[table]})
    keywords = [k.lower() for k in KEYWORDS] if word.islower() else KEYWORDS
    return [*columns, *FUNCTIONS, *keywords]


def _named_tables(tokens: list[str], tables: dict[str, str]) -> dict[str, str]:
    """The tables a statement names, by lower-cased name and alias (`items i`, `items AS i`)."""
    found = {}
    for i, token in enumerate(tokens):
        table = tables.get(token.lower())
        if table is None:
            continue
        found[token.lower()] = table
        rest = [t for t in tokens[i + 1 : i + 3] if t.upper() != "AS"]
        if rest and rest[0].isidentifier() and rest[0].upper() not in _KEYWORD_SET:
            found[rest[0].lower()] = table
    return found


def _index_words(tokens: list[str], upper: list[str], schema: Schema, tables: dict[str, str]) -> list[str] | None:
    """Words of `CREATE INDEX ON t USING method (column opclass) WITH (option = ...)`; None elsewhere."""
    if upper[-1] == "ON":
        return sorted(schema)
    if upper[-1] == "USING":
        return INDEX_METHODS
    opened = _open_parenthesis(tokens)
    if opened is None:
        return None
    new_item = upper[-1] in ("(", ",")
    if upper[opened - 1] == "WITH":
        return INDEX_OPTIONS if new_item else []
    if not new_item:
        method = upper[upper.index("USING") + 1].lower() if "USING" in upper[:-1] else ""
        return OPERATOR_CLASSES.get(method, [])  # those of the method named
    return schema.get(next(iter(tables.values()), ""), [])  # the columns of the table after ON


def _open_parenthesis(tokens: list[str]) -> int | None:
    """The position of the last `(` not yet closed, None when all are."""
    opened: list[int] = []
    for i, token in enumerate(tokens):
        if token == "(":
            opened.append(i)
        elif token == ")" and opened:
            opened.pop()
    return opened[-1] if opened else None


class SqlCompleter(Completer):
    """prompt_toolkit's side of `suggest`; `schema` is called for the current tables each time."""

    def __init__(self, schema: Callable[[], Schema]):
        self._schema = schema

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        word = typed_word(text)
        if not word and not complete_event.completion_requested:
            return  # no menu while typing `;` or a space: only Tab asks for every possibility
        for candidate in suggest(text, self._schema()):
            yield Completion(candidate, start_position=-len(word))
