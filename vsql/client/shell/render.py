"""Results as text, as psql's `\\pset` sets them: aligned (psql's look, border 0, 1 or 2), unaligned,
CSV, JSON or Markdown; expanded one record at a time (on, off, or auto: when the table is wider
than the terminal); NULL shown as the `null` string.

Aligned tables and Markdown are for people, so long vectors are shortened to their first values
and their dimension; unaligned, CSV and JSON are for programs and keep every value.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from itertools import zip_longest
from typing import Any

import numpy as np
from prompt_toolkit.utils import get_cwidth

from vsql.client.shell.result import Result

_HEAD = 3  # values shown before the `…` of a shortened vector


@dataclass
class Settings:
    """What `\\pset` changes."""

    format: str = "aligned"
    expanded: str = "off"  # on, off or auto
    null: str = ""
    border: int = 1


def vector_text(vector: np.ndarray, short: bool = False) -> str:
    """pgvector's text form, `[1,0.5,2]`; `short` gives `[1,0.5,2,…,9] (128)` for long vectors."""
    values = [str(x).removesuffix(".0") for x in vector]
    if short and len(values) > _HEAD + 2:
        return f"[{','.join(values[:_HEAD])},…,{values[-1]}] ({len(values)})"
    return f"[{','.join(values)}]"


def size_text(size: int | None) -> str | None:
    """A size in bytes as PostgreSQL's pg_size_pretty writes it: `8192 bytes`, `16 kB`, `1229 kB`, `12 MB`."""
    if size is None or size < 10 * 1024:
        return None if size is None else f"{size} bytes"
    size >>= 9  # in half units, rounded half up at the end
    for unit in ("kB", "MB", "GB", "TB"):
        if size < 20 * 1024 - 1:
            return f"{(size + 1) // 2} {unit}"
        size >>= 10
    return f"{(size + 1) // 2} PB"


def render(result: Result, format: str = "aligned", expanded: bool | str = False, null: str = "",
           border: int = 1, width: int | None = None) -> str:
    """`result` as text in `format` (one of FORMATS or ALIASES); `expanded` (True, "on", "auto")
    shows one record at a time, "auto" when the table would be wider than `width` (None: never)."""
    p = Settings(ALIASES.get(format, format), {True: "on", False: "off"}.get(expanded, expanded), null, border)
    text = _body(result, p, width) if result.columns else ""
    if result.status:
        text += result.status + "\n"
    return text


def _body(result: Result, p: Settings, width: int | None) -> str:
    if p.format in EXPANDED and p.expanded == "on":
        return EXPANDED[p.format](result, p)
    text = FORMATS[p.format](result, p)
    if p.format in EXPANDED and p.expanded == "auto" and width and _width(text) > width:
        return EXPANDED[p.format](result, p)
    return text


def _text(value: Any, null: str = "", short: bool = False) -> str:
    if value is None:
        return null
    if isinstance(value, np.ndarray):
        return vector_text(value, short)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _right_aligned(result: Result) -> list[bool]:
    """Numeric columns, which are aligned right as psql does."""
    aligned = []
    for i in range(len(result.columns)):
        values = [row[i] for row in result.rows if row[i] is not None]
        aligned.append(bool(values) and all(map(_is_number, values)))
    return aligned


def _width(text: str) -> int:
    return max(get_cwidth(line) for line in text.split("\n"))


def _pad(text: str, width: int, align: str) -> str:
    gap = width - get_cwidth(text)
    if align == ">":
        return " " * gap + text
    if align == "^":
        return " " * (gap // 2) + text + " " * (gap - gap // 2)
    return text + " " * gap


def _widths(columns: list[str], cells: list[list[str]]) -> list[int]:
    return [max(_width(text) for text in texts) for texts in zip(columns, *cells)]


def _footer(result: Result, rows: int) -> list[str]:
    return [_count(rows)] if result.footer is None else result.footer


def _titled(title: str, width: int) -> list[str]:
    """psql's title line, centred over a table `width` wide."""
    return [" " * max((width - get_cwidth(title)) // 2, 0) + title] if title else []


# border -> a table row's left edge, separator and right edge; the rule's edges and crossing
_ROWS = {0: ("", " ", ""), 1: (" ", " | ", ""), 2: ("| ", " | ", " |")}
_RULES = {0: ("", " ", ""), 1: ("", "+", ""), 2: ("+", "+", "+")}


def _table(result: Result, p: Settings) -> str:
    cells = [[_text(v, p.null, short=True) for v in row] for row in result.rows]
    widths = _widths(result.columns, cells)
    aligns = [">" if right else "<" for right in _right_aligned(result)]
    (left, sep, right), (rule_left, cross, rule_right) = _ROWS[p.border], _RULES[p.border]
    pad = min(p.border, 1)
    rule = rule_left + cross.join("-" * (w + 2 * pad) for w in widths) + rule_right

    def line(texts, alignment) -> str:
        return (left + sep.join(_pad(t, w, a) for t, w, a in zip(texts, widths, alignment)) + right).rstrip()

    frame = [rule] if p.border == 2 else []
    lines = [*_titled(result.title, len(rule)), *frame, line(result.columns, ["^"] * len(widths)), rule]
    for row in cells:
        lines += [line(parts, aligns) for parts in zip_longest(*(c.split("\n") for c in row), fillvalue="")]
    lines += [*frame, *_footer(result, len(cells)), ""]
    return "\n".join(lines) + "\n"


def _expanded(result: Result, p: Settings) -> str:
    """psql's `\\x` display: one `column | value` line per column, a heading before each record."""
    key_width = max(get_cwidth(c) for c in result.columns)
    values = [[_text(v, p.null, short=True) for v in row] for row in result.rows]
    widest = max((_width(v) for row in values for v in row), default=0)
    left, sep, right = ("| ", " | ", " |") if p.border == 2 else ("", _ROWS[p.border][1], "")
    edge = "+" if p.border == 2 else ""
    lines = list(_titled(result.title, 0))
    for number, row in enumerate(values, 1):
        value_width = widest if p.border == 2 else max(_width(v) for v in row)  # a frame is as wide as its widest
        ruler = edge + "-" * (key_width + p.border) + "+" + "-" * (value_width + p.border) + edge
        head = f"* Record {number}" if p.border == 0 else f"{edge}-[ RECORD {number} ]"
        lines.append(head + ruler[len(head) :] if p.border else head)
        for name, value in zip(result.columns, row):
            for key, part in zip_longest([name], value.split("\n"), fillvalue=""):
                part = _pad(part, value_width, "<") if right else part
                lines.append(f"{left}{_pad(key, key_width, '<')}{sep}{part}{right}".rstrip())
    if p.border == 2 and values:
        lines.append(ruler)
    if not values:
        lines.append(_count(0))
    if result.footer:
        lines += result.footer
    return "\n".join(lines) + "\n\n"


def _count(rows: int) -> str:
    return f"({rows} row{'' if rows == 1 else 's'})"


def _unaligned(result: Result, p: Settings) -> str:
    """psql's `\\a`: values between `|`, whole vectors, the header first and the row count last."""
    rows = ["|".join(_text(v, p.null) for v in row) for row in result.rows]
    title = [result.title] if result.title else []
    return "\n".join([*title, "|".join(result.columns), *rows, *_footer(result, len(rows))]) + "\n"


def _unaligned_expanded(result: Result, p: Settings) -> str:
    """`\\a` with `\\x`: a `column|value` line per column, a blank line between records."""
    records = ["\n".join(f"{c}|{_text(v, p.null)}" for c, v in zip(result.columns, row)) for row in result.rows]
    return "\n\n".join(records or [_count(0)]) + "\n"


def _csv(result: Result, p: Settings) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([_text(v, p.null) for v in row] for row in result.rows)
    return out.getvalue()


def _json_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [float(str(x)) for x in value]  # float32's shortest form: 0.1, not 0.10000000149
    return value


def _json(result: Result, p: Settings) -> str:
    """A JSON array of one object per row, a row per line."""
    objects = [
        json.dumps(dict(zip(result.columns, map(_json_value, row))), ensure_ascii=False, default=str)
        for row in result.rows
    ]
    return "[" + ",\n".join(objects) + "]\n"


def _markdown(result: Result, p: Settings) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", "<br>")

    columns = [escape(c) for c in result.columns]
    cells = [[escape(_text(v, p.null, short=True)) for v in row] for row in result.rows]
    widths = [max(w, 3) for w in _widths(columns, cells)]
    aligns = [">" if right else "<" for right in _right_aligned(result)]

    def line(texts) -> str:
        return "| " + " | ".join(_pad(t, w, a) for t, w, a in zip(texts, widths, aligns)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if a == ">" else "-") for w, a in zip(widths, aligns)) + "|"
    return "\n".join([line(columns), rule, *map(line, cells)]) + "\n"


FORMATS: dict[str, Callable[[Result, Settings], str]] = {
    "aligned": _table,
    "unaligned": _unaligned,
    "csv": _csv,
    "json": _json,
    "markdown": _markdown,
}
EXPANDED = {"aligned": _expanded, "unaligned": _unaligned_expanded}  # the formats `\x` changes
ALIASES = {"table": "aligned", "list": "unaligned"}  # `--format table`, DuckDB's `.mode list`
