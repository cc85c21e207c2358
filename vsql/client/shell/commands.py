"""Backslash commands, kept as data: each has a name, aliases, syntax, description and handler.

A handler takes the shell and the text after the command's name and returns a `Result`, as a
statement does, so output formats, `\\o` and `\\x` apply alike. `\\?` is generated from the
registry; DuckDB's dot spellings (`.tables`, `.timer on`) are aliases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vsql import InterfaceError
from vsql.client.shell import schema
from vsql.client.shell.result import Result

if TYPE_CHECKING:
    from vsql.client.shell.runner import Shell


class CommandError(InterfaceError):
    """A command used the wrong way: unknown, or missing or bad arguments."""


class Stopped(Exception):
    """A script run by `\\i` stopped at an error it has already reported."""


@dataclass(frozen=True)
class Command:
    name: str
    syntax: str
    description: str
    handler: Callable[[Shell, str], Result]
    aliases: tuple[str, ...] = ()
    argument: str = ""  # what completion offers after the name: "table", "switch" (on/off) or nothing


def _help(shell: Shell, arg: str) -> Result:
    return Result(
        ["command", "aliases", "description"],
        [(c.syntax, " ".join(c.aliases), c.description) for c in COMMANDS],
    )


def _describe(shell: Shell, arg: str) -> Result:
    cursor = shell.connection.cursor()
    return schema.describe(cursor, arg) if arg else schema.relations(cursor)


def _tables(shell: Shell, arg: str) -> Result:
    return schema.relations(shell.connection.cursor(), views=False)


def _indexes(shell: Shell, arg: str) -> Result:
    return schema.indexes(shell.connection.cursor())


def _index_versions(shell: Shell, arg: str) -> Result:
    return schema.index_versions(shell.connection.cursor())


def _switch(arg: str, current: bool) -> bool:
    """`on`, `off`, or nothing to flip the setting."""
    if not arg:
        return not current
    if arg.lower() in ("on", "off"):
        return arg.lower() == "on"
    raise CommandError(f"expected on or off, not {arg!r}")


def _timing(shell: Shell, arg: str) -> Result:
    shell.timing = _switch(arg, shell.timing)
    return Result(status=f"Timing is {'on' if shell.timing else 'off'}.")


def _expanded(shell: Shell, arg: str) -> Result:
    shell.expanded = _switch(arg, shell.expanded)
    return Result(status=f"Expanded display is {'on' if shell.expanded else 'off'}.")


def _include(shell: Shell, arg: str) -> Result:
    if not arg:
        raise CommandError("\\i needs a file name: \\i FILE")
    if not shell.run(Path(arg).expanduser().read_text()):
        raise Stopped
    return Result()


def _output(shell: Shell, arg: str) -> Result:
    shell.send_output_to(Path(arg).expanduser() if arg else None)
    return Result()


def _quit(shell: Shell, arg: str) -> Result:
    raise SystemExit(0)


COMMANDS = [
    Command("\\?", "\\?", "list these commands", _help, aliases=(".help",)),
    Command("\\d", "\\d [TABLE]", "list tables and views, or TABLE's columns and types", _describe,
            aliases=(".schema",), argument="table"),
    Command("\\dt", "\\dt", "list tables", _tables, aliases=(".tables",)),
    Command("\\di", "\\di", "list indexes", _indexes, aliases=(".indexes",)),
    Command("\\di+", "\\di+", "list vector index versions and aliases", _index_versions),
    Command("\\timing", "\\timing [on|off]", "show how long each statement takes", _timing,
            aliases=(".timer",), argument="switch"),
    Command("\\x", "\\x [on|off]", "expanded display: one line per column", _expanded, argument="switch"),
    Command("\\i", "\\i FILE", "run the statements and commands in FILE", _include, aliases=(".read",)),
    Command("\\o", "\\o [FILE]", "send results to FILE, or back to the screen", _output, aliases=(".output",)),
    Command("\\q", "\\q", "quit", _quit, aliases=(".quit", ".exit")),
]
NAMES = {name: command for command in COMMANDS for name in (command.name, *command.aliases)}


def run(shell: Shell, line: str) -> Result:
    """Run one command line, such as `\\d items` or `.timer on`."""
    name, _, arg = line.strip().partition(" ")
    command = NAMES.get(name)
    if command is None:
        raise CommandError(f"unknown command {name}: \\? lists the commands")
    return command.handler(shell, arg.strip())
