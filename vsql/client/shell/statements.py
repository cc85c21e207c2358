"""Split typed or scripted text into SQL statements and backslash commands.

The shell needs this before anything is parsed: to know whether Enter ends the input (a
statement is complete at its `;`), and to run and report a script one statement at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Whitespace, comments and empty statements between statements.
_GAP = re.compile(r"(?:\s+|;|--[^\n]*|/\*.*?(?:\*/|\Z))*", re.S)
# What may hide a `;`: strings, quoted names, comments, dollar quotes (unterminated ones run to the end).
_TOKEN = re.compile(
    r"""'(?:[^']|'')*(?:'|\Z)
    |"(?:[^"]|"")*(?:"|\Z)
    |--[^\n]*
    |/\*.*?(?:\*/|\Z)
    |\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?(?:\$(?P=tag)\$|\Z)
    |;""",
    re.S | re.X,
)
_FIRST_WORDS = re.compile(r"(\w+)(?:\s+(?:OR\s+REPLACE\s+|UNIQUE\s+|TEMP\w*\s+)*(\w+))?", re.I)
_SCHEMA_VERBS = {"CREATE", "DROP", "ALTER", "ATTACH", "DETACH", "IMPORT", "USE"}


@dataclass(frozen=True)
class Item:
    """One thing to run: a SQL statement (without its `;`) or a command line such as `\\d items`
    (as typed, up to the end of its line), and the line of the text it starts on, for errors."""

    text: str
    is_command: bool = False
    line: int = field(default=1, compare=False)


def split(text: str) -> tuple[list[Item], str]:
    """The complete items of `text`, and the statement still waiting for its `;` ('' if none).

    A line that starts with `\\` or `.` where a statement could start is a command (psql's and
    DuckDB's spellings); it ends at the end of the line.
    """
    items: list[Item] = []
    start = counted = 0
    line = 1
    while True:
        start = _GAP.match(text, start).end()
        if start == len(text):
            return items, ""
        line, counted = line + text.count("\n", counted, start), start
        if text[start] in "\\.":
            end = text.find("\n", start)
            end = len(text) if end < 0 else end
            items.append(Item(text[start:end], is_command=True, line=line))
            start = end
            continue
        semicolon = next((m for m in _TOKEN.finditer(text, start) if m[0] == ";"), None)
        if semicolon is None:
            return items, text[start:]
        items.append(Item(text[start : semicolon.start()].rstrip(), line=line))
        start = semicolon.end()


def is_complete(text: str) -> bool:
    """Whether Enter should run `text`: nothing is left waiting for a `;`."""
    return not split(text)[1]


def command_tag(sql: str, rowcount: int) -> str:
    """What a statement without rows reports, as psql does: `CREATE TABLE`, `INSERT 3`."""
    verb, noun = _first_words(sql)
    if verb in {"CREATE", "DROP", "ALTER"} and noun:
        return f"{verb} {noun}"
    return f"{verb} {rowcount}" if rowcount >= 0 else verb


def changes_schema(sql: str) -> bool:
    """Whether a statement may add, drop or change tables, so completion must reread them."""
    return _first_words(sql)[0] in _SCHEMA_VERBS


def _first_words(sql: str) -> tuple[str, str]:
    found = _FIRST_WORDS.match(sql.lstrip())
    return (found[1].upper(), (found[2] or "").upper()) if found else ("", "")
