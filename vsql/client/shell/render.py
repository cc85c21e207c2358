"""Results as text: an aligned table (psql's look), expanded records, CSV, JSON or Markdown.

Tables and Markdown are for people, so long vectors are shortened to their first values and
their dimension; CSV and JSON are for programs and keep every value.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from decimal import Decimal
from itertools import zip_longest
from typing import Any

import numpy as np
from prompt_toolkit.utils import get_cwidth

from vsql.client.shell.result import Result

_HEAD = 3  # values shown before the `…` of a shortened vector


def vector_text(vector: np.ndarray, short: bool = False) -> str:
    """pgvector's text form, `[1,0.5,2]`; `short` gives `[1,0.5,2,…,9] (128)` for long vectors."""
    values = [str(x).removesuffix(".0") for x in vector]
    if short and len(values) > _HEAD + 2:
        return f"[{','.join(values[:_HEAD])},…,{values[-1]}] ({len(values)})"
    return f"[{','.join(values)}]"


def render(result: Result, format: str = "table", expanded: bool = False) -> str:
    """`result` as text in `format` (one of FORMATS); `expanded` shows tables one record at a time."""
    text = ""
    if result.columns:
        text = _expanded(result) if expanded and format == "table" else FORMATS[format](result)
    if result.status:
        text += result.status + "\n"
    return text


def _text(value: Any, short: bool) -> str:
    if value is None:
        return ""
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


def _table(result: Result) -> str:
    cells = [[_text(v, short=True) for v in row] for row in result.rows]
    widths = _widths(result.columns, cells)
    aligns = [">" if right else "<" for right in _right_aligned(result)]

    def line(texts, alignment) -> str:
        return (" " + " | ".join(_pad(t, w, a) for t, w, a in zip(texts, widths, alignment))).rstrip()

    lines = [line(result.columns, ["^"] * len(widths)), "+".join("-" * (w + 2) for w in widths)]
    for row in cells:
        lines += [line(parts, aligns) for parts in zip_longest(*(c.split("\n") for c in row), fillvalue="")]
    lines += [_count(len(cells)), ""]
    return "\n".join(lines) + "\n"


def _expanded(result: Result) -> str:
    """psql's `\\x` display: one `column | value` line per column, a ruler between records."""
    key_width = max(get_cwidth(c) for c in result.columns)
    lines = []
    for number, row in enumerate(result.rows, 1):
        values = [_text(v, short=True) for v in row]
        value_width = max(_width(v) for v in values)
        ruler = "-" * (key_width + 1) + "+" + "-" * (value_width + 1)
        head = f"-[ RECORD {number} ]"
        lines.append(head + ruler[len(head) :])
        for name, value in zip(result.columns, values):
            for key, part in zip_longest([name], value.split("\n"), fillvalue=""):
                lines.append(f"{_pad(key, key_width, '<')} | {part}".rstrip())
    if not result.rows:
        lines.append(_count(0))
    return "\n".join(lines) + "\n\n"


def _count(rows: int) -> str:
    return f"({rows} row{'' if rows == 1 else 's'})"


def _csv(result: Result) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([_text(v, short=False) for v in row] for row in result.rows)
    return out.getvalue()


def _json_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [float(str(x)) for x in value]  # float32's shortest form: 0.1, not 0.10000000149
    return value


def _json(result: Result) -> str:
    """A JSON array of one object per row, a row per line."""
    objects = [
        json.dumps(dict(zip(result.columns, map(_json_value, row))), ensure_ascii=False, default=str)
        for row in result.rows
    ]
    return "[" + ",\n".join(objects) + "]\n"


def _markdown(result: Result) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", "<br>")

    columns = [escape(c) for c in result.columns]
    cells = [[escape(_text(v, short=True)) for v in row] for row in result.rows]
    widths = [max(w, 3) for w in _widths(columns, cells)]
    aligns = [">" if right else "<" for right in _right_aligned(result)]

    def line(texts) -> str:
        return "| " + " | ".join(_pad(t, w, a) for t, w, a in zip(texts, widths, aligns)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if a == ">" else "-") for w, a in zip(widths, aligns)) + "|"
    return "\n".join([line(columns), rule, *map(line, cells)]) + "\n"


FORMATS: dict[str, Callable[[Result], str]] = {
    "table": _table,
    "csv": _csv,
    "json": _json,
    "markdown": _markdown,
}
