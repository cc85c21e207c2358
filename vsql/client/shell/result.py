"""What every statement and backslash command returns, so one renderer shows them all."""

from __future__ import annotations

from dataclasses import dataclass, field

from vsql import Cursor
from vsql.client.shell.statements import command_tag


@dataclass
class Result:
    """Rows under column names, and/or a status line such as `INSERT 3` or `Timing is on.`; a
    title above the rows and footer lines in place of the row count, as psql's `\\d TABLE` has."""

    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    status: str | None = None
    title: str = ""
    footer: list[str] | None = None
    notices: list[str] = field(default_factory=list)  # the statement's NOTICEs, shown before its rows

    @classmethod
    def of(cls, cursor: Cursor, sql: str) -> Result:
        """The result of `sql` that just ran on `cursor`."""
        notices = [message for _, message in cursor.messages]
        if cursor.description is None:
            return cls(status=command_tag(sql, cursor.rowcount), notices=notices)
        return cls([d[0] for d in cursor.description], cursor.fetchall(), notices=notices)
