"""The %vsql and %%vsql notebook magics, over the DB-API cursor like every other surface.

    %load_ext vsql
    %vsql connect docs.duckdb --alias docs
    %%vsql -o nearest
    SELECT id FROM items ORDER BY embedding <-> :q LIMIT 3

`:q` binds the notebook variable `q` as a parameter; values are never pasted into SQL text.
"""

from __future__ import annotations

import re
import sys
from collections import ChainMap
from collections.abc import Mapping
from functools import partial
from html import escape
from typing import Any

import numpy as np
from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from traitlets import Bool, Int, Unicode

from vsql.client.dbapi import Connection, Cursor, connect
from vsql.client.shell.render import render, vector_text
from vsql.client.shell.result import Result
from vsql.errors import Error
from vsql.sql.analyze import param_key
from vsql.sql.parse import parse

try:
    import pandas as pd
    from pandas.io.formats.format import get_dataframe_repr_params
except ImportError:  # results are then lists of rows, and the magic says so once
    pd = None

# `-o name`, `--out name` or `name <<` before the SQL: where to store the result.
_OUT = re.compile(r"\s*(?:(?:-o|--out)(?:\s+|=)(?P<out>\w+)|(?P<into>\w+)\s*<<)?\s*")
_CONNECT = re.compile(r"connect\s+(?P<path>\S+)(?:\s+--alias(?:\s+|=)(?P<alias>\S+))?", re.I)
_IS_CONNECT = re.compile(r"connect\b", re.I)
_RED, _RESET = "\x1b[31m", "\x1b[0m"
_NO_PANDAS = ("vsql: pandas is not installed, so results are lists of tuples; "
              "`pip install pandas` (or `pip install vsql`, which requires it) gives DataFrames")


@magics_class
class VsqlMagic(Magics):
    """Runs SQL on named vsql connections; `Magics` is a traitlets `Configurable`, so
    `%config VsqlMagic.<option> = value` sets the options below."""

    autopandas = Bool(True, config=True, help="Return rows as a pandas DataFrame (lists of tuples if False "
                                              "or if pandas is not installed).")
    displaylimit = Int(10, config=True, help="Rows a result shows (it keeps all); 0: pandas' setting.")
    null = Unicode("", config=True, help="How a NULL shows in a result's table, as psql's \\pset null "
                                         "(the data keep None / NaN).")
    short_errors = Bool(True, config=True, help="Show a vsql error as one red line, not a traceback.")

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.connections: dict[str, Connection] = {}
        self.current: str | None = None
        self._said_no_pandas = False

    @no_var_expand  # IPython would otherwise paste {x} and $x into the SQL text
    @needs_local_scope
    @line_cell_magic
    def vsql(self, line: str, cell: str | None = None, local_ns: Mapping | None = None) -> Any:
        """Run SQL on the current vsql connection and return its result.

        %vsql connect PATH [--alias NAME]   open a database (or ':memory:') and make it current;
                                            NAME (default PATH) switches back to it later
        %vsql [-o NAME] SQL                 run SQL; -o (or `NAME <<`) also stores the result
        %%vsql [-o NAME]                    the cell's SQL, as above

        `:name` and `$name` bind the notebook variable `name` (a NumPy array is a vector).
        Rows come back as a pandas DataFrame (a list of tuples without pandas), shown as a table
        with long vectors shortened; EXPLAIN as its plan's text; other statements print how many
        rows they changed. With no connection yet, an in-memory one is opened.
        """
        try:
            return self._run(line, cell, ChainMap(local_ns or {}, self.shell.user_ns))
        except Error as error:
            if not self.short_errors:
                raise
            raise ShortError(error) from error

    def connect(self, path: str, alias: str | None = None) -> Connection:
        """Make the connection named `alias` (default: `path`) current, opening it on first use."""
        alias = alias or path
        if alias not in self.connections:
            self.connections[alias] = connect(path, autocommit=True)
        self.current = alias
        return self.connections[alias]

    def _run(self, line: str, cell: str | None, namespace: Mapping) -> Any:
        options = _OUT.match(line)
        sql = "\n".join(part for part in (line[options.end():], cell) if part)
        if _IS_CONNECT.match(sql):
            command = _CONNECT.fullmatch(sql.strip())
            if command is None:
                raise UsageError("usage: %vsql connect PATH [--alias NAME]")
            self.connect(command["path"], command["alias"])
            return None
        connection = self.connections[self.current] if self.current else self.connect(":memory:")
        with connection.cursor() as cursor:
            result = self._result(cursor.execute(sql, _params(sql, namespace)))
        name = options["out"] or options["into"]
        if name:
            self.shell.user_ns[name] = result
        return result

    def _result(self, cursor: Cursor) -> Any:
        if cursor.description is None:
            count = cursor.rowcount
            print("Done." if count < 0 else f"{count} row{'' if count == 1 else 's'} affected")
            return None
        if [column[0] for column in cursor.description] == ["explain_key", "explain_value"]:
            return Plan("\n".join(value for _, value in cursor.fetchall()))
        if self.autopandas and pd is not None:
            frame = Frame(cursor.fetch_df())
        else:
            if self.autopandas and not self._said_no_pandas:
                print(_NO_PANDAS, file=sys.stderr)
                self._said_no_pandas = True
            frame = Rows(cursor.fetchall(), [column[0] for column in cursor.description])
        frame.displaylimit, frame.null = self.displaylimit, self.null
        return frame


def _params(sql: str, namespace: Mapping) -> dict | None:
    """The variables `sql` names as :name / $name parameters, found as vsql's parser finds them.

    A name the notebook lacks is left out, for vsql to report as unbound.
    """
    try:
        statements = parse(sql)
    except (ParseError, TokenError):
        return None  # the cursor reports the syntax error
    nodes = (node for statement in statements for node in statement.find_all(exp.Placeholder, exp.Parameter))
    names = {key for key in map(param_key, nodes) if isinstance(key, str) and key in namespace}
    return {name: namespace[name] for name in names} or None


class ShortError(Exception):
    """A vsql error shown as one red line; raised rather than printed so the cell still fails."""

    def __init__(self, error: Error):
        # The first paragraph: vsql's wording and DuckDB's hint, not the rewritten SQL's caret.
        first = str(error).split("\n\n")[0]
        super().__init__(f"{type(error).__name__}: {first}")

    def _render_traceback_(self) -> list[str]:
        return [f"{_RED}{self}{_RESET}"]


class Plan(str):
    """EXPLAIN's output: a string that displays as the plan's text, not as its repr."""

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(self)


def _cell(value: Any, null: str = "") -> str:
    """A value as a result table shows it: NULL as `null`, long vectors shortened as the shell does."""
    if value is None:
        return null
    if isinstance(value, np.ndarray):
        return vector_text(value, short=True)
    return str(value)


def _count(rows: int) -> str:
    """psql's footer: `(1 row)`, `(3 rows)`."""
    return f"({rows} row{'' if rows == 1 else 's'})"


class Rows(list):
    """A result as a list of row tuples (without pandas, or with autopandas off), shown as a table."""

    displaylimit = 0
    null = ""

    def __init__(self, rows: list[tuple], columns: list[str]):
        super().__init__(rows)
        self.columns = columns

    def _shown(self) -> list[tuple]:
        return self[: self.displaylimit] if self.displaylimit else self

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        shown = self._shown()
        result = Result(self.columns, list(shown), footer=[_count(len(self))])
        printer.text(render(result, null=self.null).rstrip("\n"))

    def _repr_html_(self) -> str:
        shown = self._shown()
        head = "".join(f"<th>{escape(str(name))}</th>" for name in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{escape(_cell(value, self.null))}</td>" for value in row) + "</tr>"
                       for row in shown)
        return (f'<table class="dataframe"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
                f"<p>{_count(len(self))}</p>")


if pd is not None:

    class Frame(pd.DataFrame):
        """A result DataFrame shown as a table of at most `displaylimit` rows, long vectors shortened
        and NULLs as `null`, with a row count; the data are untouched (it keeps every row and value).

        Frames derived from it (`head()`, filters) are plain DataFrames.
        """

        _metadata = ["displaylimit", "null"]
        displaylimit = 0
        null = ""

        def __repr__(self) -> str:
            params = {**get_dataframe_repr_params(), "show_dimensions": False}
            if self.displaylimit:
                params.update(max_rows=self.displaylimit, min_rows=self.displaylimit)
            shown, formatters = self._shown()
            text = shown.to_string(**params, formatters=formatters, na_rep=self.null)
            return f"{text}\n{_count(len(self))}"

        def _repr_html_(self) -> str:
            rows = self.displaylimit or self._rows(pd.get_option("display.max_rows"), pd.get_option("display.min_rows"))
            shown, formatters = self._shown()
            table = shown.to_html(max_rows=rows, max_cols=pd.get_option("display.max_columns"), show_dimensions=False,
                                  formatters=formatters, na_rep=self.null, notebook=True)
            return f"{table}\n<p>{_count(len(self))}</p>"

        def _rows(self, max_rows: int | None, min_rows: int | None) -> int:
            """How many rows pandas shows under its display.max_rows / min_rows."""
            if not max_rows or len(self) <= max_rows:
                return len(self)
            return min(min_rows or max_rows, max_rows)

        def _shown(self) -> tuple[pd.DataFrame, list]:
            """A shallow copy whose object columns (vectors, lists) show NULL as `null`, and the
            formatters that shorten their vectors: pandas prints None as `None` whatever its na_rep,
            and calls a formatter only for the rows it shows."""
            shown, formatters = pd.DataFrame(self, copy=False), []
            for i, dtype in enumerate(self.dtypes):
                column = self.iloc[:, i]
                if dtype == object and column.isna().any():
                    shown.isetitem(i, column.where(column.notna(), self.null))
                formatters.append(partial(_cell, null=self.null) if dtype == object else None)
            return shown, formatters


def load_ipython_extension(ipython) -> None:
    ipython.register_magics(VsqlMagic)
