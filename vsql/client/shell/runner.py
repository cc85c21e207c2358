"""The shell's state and how it runs things: statements on a worker thread that Ctrl-C can
interrupt, commands from the registry, each result rendered to the current output.
"""

from __future__ import annotations

import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

import vsql
from vsql.client.shell import commands, errors, schema, statements
from vsql.client.shell.render import ALIASES, Settings, render
from vsql.client.shell.result import Result


class Shell:
    """One connection and the settings backslash commands change."""

    def __init__(self, connection: vsql.Connection, *, format: str = "aligned", debug: bool = False):
        self.connection = connection
        self.pset = Settings(format=ALIASES.get(format, format))
        self.debug = debug
        self.timing = False
        self.last_error: tuple[BaseException, str] | None = None  # for \errverbose
        self._file: TextIO | None = None  # where \o sends results
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vsql-statement")
        self._schema: dict[str, list[str]] | None = None

    @property
    def schema(self) -> dict[str, list[str]]:
        """Table -> column names for completion, reread after statements that change them."""
        if self._schema is None:
            self._schema = schema.columns(self.connection.cursor())
        return self._schema

    def run(self, text: str, source: str | None = None) -> bool:
        """Run every statement and command in `text`, stopping at the first error; False if one failed.
        Errors name `source` (a file) and the line of `text` their statement starts on, as psql's do."""
        items, rest = statements.split(text)
        if rest:  # the last statement of a script may omit its `;`
            items.append(statements.Item(rest, line=text.count("\n", 0, len(text) - len(rest)) + 1))
        return all(self.run_item(item, source) for item in items)

    def run_item(self, item: statements.Item, source: str | None = None) -> bool:
        """Run one statement or command and show its result, or report its error; False on error."""
        started = time.perf_counter()
        try:
            result = commands.run(self, item.text) if item.is_command else self.query(item.text)
        except commands.Stopped:
            return False
        except Exception as error:  # noqa: BLE001 - a shell reports every error and carries on
            self.last_error = (error, item.text)
            where = f"vsql:{source}:{item.line}: " if source else ""
            errors.report(error, item.text, debug=self.debug, where=where)
            return False
        for notice in result.notices:
            print(f"NOTICE:  {notice}", file=sys.stderr)
        width = shutil.get_terminal_size().columns if self.output.isatty() else None  # for \x auto
        self.output.write(render(result, **vars(self.pset), width=width))
        self.output.flush()
        if self.timing and not item.is_command:
            print(f"Time: {(time.perf_counter() - started) * 1000:.3f} ms", flush=True)
        return True

    def query(self, sql: str) -> Result:
        """Run `sql` through the DB-API on the worker thread; Ctrl-C interrupts it in DuckDB."""
        cursor = self.connection.cursor()
        future = self._worker.submit(lambda: Result.of(cursor.execute(sql), sql))
        try:
            return future.result()
        except KeyboardInterrupt:
            if sys.stderr.isatty():
                sys.stderr.write("\n")  # after the terminal's ^C, not on its line
            self.connection.session.engine.interrupt()
            future.exception()  # wait for the statement to stop
            raise vsql.OperationalError("canceling statement due to user request") from None
        finally:
            if statements.changes_schema(sql):
                self._schema = None

    @property
    def output(self) -> TextIO:
        """Where results go: the `\\o` file, or stdout (whatever sys.stdout is now)."""
        return self._file or sys.stdout

    def send_output_to(self, path: Path | None) -> None:
        """Write results to the file at `path` (replacing it), or to stdout again when None."""
        if self._file is not None:
            self._file.close()
        self._file = None if path is None else path.open("w")

    def close(self) -> None:
        """Close a `\\o` file and the worker thread."""
        self.send_output_to(None)
        self._worker.shutdown()
