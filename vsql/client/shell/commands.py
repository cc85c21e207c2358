"""Backslash commands, kept as data: each has a name, aliases, syntax, description and handler.

A handler takes the shell and the text after the command's name and returns a `Result`, as a
statement does, so output formats, `\\o` and `\\x` apply alike. `\\?` is generated from the
registry; DuckDB's dot spellings (`.tables`, `.timer on`, `.mode csv`) are aliases. `\\pset`'s
options are a registry too (`PSET`).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsql import InterfaceError
from vsql.client.shell import errors, schema, sqlhelp
from vsql.client.shell.render import ALIASES, FORMATS
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
    argument: str = ""  # what completion offers after the name: a key of completer.ARGUMENTS, or nothing
    empty: str = ""  # what a listing that finds nothing says instead of a bare header, as psql does


@dataclass(frozen=True)
class Option:
    """A `\\pset` option: the values it takes (or any), what it becomes without one (None: it is
    shown), and the sentence that reports it."""

    says: Callable[[Any], str]
    choices: tuple = ()
    toggle: Callable[[Any], Any] | None = None


PSET = {
    "border": Option(lambda v: f"Border style is {v}.", (0, 1, 2)),
    "expanded": Option(lambda v: f"Expanded display is {'used automatically' if v == 'auto' else v}.",
                       ("on", "off", "auto"), toggle=lambda v: "on" if v == "off" else "off"),
    "format": Option(lambda v: f"Output format is {v}.", (*FORMATS, *ALIASES)),
    "null": Option(lambda v: f'Null display is "{v}".'),
}


def _choose(value: str, choices: tuple) -> Any:
    """The choice named by `value` or by a unique beginning of it (`u` for unaligned), as psql allows."""
    value = value.lower()
    found = [c for c in choices if str(c) == value] or [c for c in choices if str(c).startswith(value)]
    if len(found) != 1:
        raise CommandError(f"\\pset: allowed values are {', '.join(map(str, choices))}, not {value!r}")
    return ALIASES.get(found[0], found[0])  # `table` is aligned, `list` unaligned


def pset(shell: Shell, arg: str) -> Result:
    """`\\pset [OPTION [VALUE]]`: set an option, toggle or show it, or show them all."""
    try:
        words = shlex.split(arg)  # `\pset null '(null)'`
    except ValueError as error:
        raise CommandError(f"\\pset: {error}") from None
    if not words:
        return Result(status="\n".join(o.says(getattr(shell.pset, n)) for n, o in PSET.items()))
    name, *rest = words
    option = PSET.get(name.lower())
    if option is None:
        raise CommandError(f"\\pset: unknown option: {name}")
    name, current = name.lower(), getattr(shell.pset, name.lower())
    if rest:
        value = _choose(rest[0], option.choices) if option.choices else rest[0]
    else:
        value = option.toggle(current) if option.toggle else current
    setattr(shell.pset, name, value)
    return Result(status=option.says(value))


def _help(shell: Shell, arg: str) -> Result:
    return Result(
        ["command", "aliases", "description"],
        [(c.syntax, " ".join(c.aliases), c.description) for c in COMMANDS],
    )


def _sql_help(shell: Shell, arg: str) -> Result:
    if not arg:
        return Result(["command", "description"], [(name, d) for name, (d, _) in sorted(sqlhelp.HELP.items())])
    found = sqlhelp.lookup(arg)
    if not found:
        return Result(status=f'No help available for "{arg}".\nTry \\h with no arguments to see available help.')
    return Result(status="\n".join(map(sqlhelp.text, found)))


def _listing(function: Callable[..., Result], *args: Any) -> Callable[[Shell, str], Result]:
    """A handler that lists what `function(cursor, *args)` finds."""
    return lambda shell, arg: function(shell.connection.cursor(), *args)


def _query(sql: str) -> Callable[[Shell, str], Result]:
    return lambda shell, arg: Result.of(shell.connection.cursor().execute(sql), sql)


def _describer(plus: bool) -> Callable[[Shell, str], Result]:
    def describe(shell: Shell, arg: str) -> Result:
        cursor = shell.connection.cursor()
        return schema.describe(cursor, arg, plus) if arg else schema.relations(cursor, plus=plus)

    return describe


def _conninfo(shell: Shell, arg: str) -> Result:
    return Result(status=schema.connection(shell.connection.cursor()))


def _errverbose(shell: Shell, arg: str) -> Result:
    if shell.last_error is None:
        return Result(status="There is no previous error.")
    return Result(status="\n".join(errors.verbose(*shell.last_error)))


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


def _aligned_or_not(shell: Shell, arg: str) -> Result:
    return pset(shell, "format " + ("aligned" if shell.pset.format == "unaligned" else "unaligned"))


def _include(shell: Shell, arg: str) -> Result:
    if not arg:
        raise CommandError("\\i needs a file name: \\i FILE")
    if not shell.run(Path(arg).expanduser().read_text(), source=arg):
        raise Stopped
    return Result()


def _output(shell: Shell, arg: str) -> Result:
    shell.send_output_to(Path(arg).expanduser() if arg else None)
    return Result()


def _quit(shell: Shell, arg: str) -> Result:
    raise SystemExit(0)


_NO_RELATIONS = "Did not find any relations."
COMMANDS = [
    Command("\\?", "\\?", "list these commands", _help, aliases=(".help",)),
    Command("\\h", "\\h [COMMAND]", "list SQL commands, or show COMMAND's syntax", _sql_help, aliases=("\\help",),
            argument="help"),
    Command("\\d", "\\d [TABLE]", "list tables and views, or TABLE's columns, keys, indexes and models",
            _describer(False), aliases=(".schema",), argument="table", empty=_NO_RELATIONS),
    Command("\\d+", "\\d+ [TABLE]", "the same with sizes and comments", _describer(True), argument="table",
            empty=_NO_RELATIONS),
    Command("\\dt", "\\dt", "list tables", _listing(schema.relations, False), aliases=(".tables",),
            empty="Did not find any tables."),
    Command("\\dt+", "\\dt+", "list tables with their sizes and comments", _listing(schema.relations, False, True),
            empty="Did not find any tables."),
    Command("\\di", "\\di", "list indexes", _listing(schema.indexes), aliases=(".indexes",)),
    Command("\\di+", "\\di+", "list vector index versions, their sizes and aliases", _listing(schema.index_versions),
            empty="Did not find any vector indexes."),
    Command("\\dn", "\\dn", "list schemas", _query(schema.LISTINGS["schemas"])),
    Command("\\dx", "\\dx", "list loaded DuckDB extensions", _query(schema.LISTINGS["extensions"]),
            empty="Did not find any extensions."),
    Command("\\l", "\\l", "list databases", _listing(schema.databases), aliases=(".databases",)),
    Command("\\l+", "\\l+", "list databases with their sizes", _listing(schema.databases, True)),
    Command("\\conninfo", "\\conninfo", "show the database this shell is connected to", _conninfo),
    Command("\\errverbose", "\\errverbose", "show the last error in full", _errverbose),
    Command("\\pset", "\\pset [OPTION [VALUE]]", "set format, expanded, null or border, or show them", pset,
            argument="pset"),
    Command("\\a", "\\a", "toggle between aligned and unaligned output", _aligned_or_not),
    Command("\\x", "\\x [on|off|auto]", "expanded display: one line per column", lambda s, a: pset(s, f"expanded {a}"),
            argument="expanded"),
    Command(".mode", ".mode [FORMAT]", "\\pset format in DuckDB's spelling", lambda s, a: pset(s, f"format {a}"),
            argument="format"),
    Command("\\timing", "\\timing [on|off]", "show how long each statement takes", _timing,
            aliases=(".timer",), argument="switch"),
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
    result = command.handler(shell, arg.strip())
    return Result(status=command.empty) if command.empty and not result.rows and not result.status else result
