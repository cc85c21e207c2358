"""`vsql [DATABASE]`: arguments, then statements from -c/-f, from stdin, or typed at the prompt.

Arguments are parsed before anything heavy loads: the engine, the shell and prompt_toolkit are
imported in `main` once they are needed, so `vsql --help` and `--version` answer at once.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

import vsql  # the package alone: its engine loads on the first connect

if TYPE_CHECKING:
    from vsql.client.shell.runner import Shell

_EPILOG = """\
Without -c or -f, statements are read from standard input when it is not a terminal, and
typed at a prompt when it is. Runs that are not interactive stop at the first error and exit
with status 1 (as psql -v ON_ERROR_STOP=1 does). Type \\? at the prompt for the commands.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vsql",
        description="pgvector's SQL on DuckDB or Spark: an interactive shell.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("database", nargs="?", default=":memory:", metavar="DATABASE",
                        help="DuckDB database file, created if missing (default: in memory); or a Spark "
                             "session: spark://local[2] (local), spark://host:7077, sc://host:15002 (Spark Connect)")
    parser.add_argument("-c", "--command", dest="scripts", action="append", metavar="SQL",
                        help="run SQL or a backslash command; may be repeated")
    parser.add_argument("-f", "--file", dest="scripts", action="append", metavar="FILE",
                        type=lambda path: f"\\i {path}",  # run as the \i command, reporting as it does
                        help="run the statements in FILE; may be repeated")
    parser.add_argument("--format", default="aligned", metavar="FORMAT",
                        help="result format, as \\pset format takes it: aligned (or table), unaligned, csv, json "
                             "or markdown (default: aligned)")
    parser.add_argument("--demo", action="store_true",
                        help="load a demo table if it is missing and run an example query")
    parser.add_argument("--debug", action="store_true", help="show tracebacks with errors")
    parser.add_argument("--version", action="version", version=f"vsql {vsql.__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the shell; the exit status is 1 when a statement failed outside the prompt."""
    parser = _parser()
    args = parser.parse_args(argv)

    from contextlib import closing

    from vsql.client.shell import errors
    from vsql.client.shell.render import ALIASES, FORMATS
    from vsql.client.shell.runner import Shell

    if args.format not in (*FORMATS, *ALIASES):
        parser.error(f"argument --format: invalid choice: {args.format!r} (choose from {', '.join(FORMATS)})")
    try:
        connection = vsql.connect(args.database, autocommit=True)
    except vsql.Error as error:
        errors.report(error, debug=args.debug)
        return 1
    shell = Shell(connection, format=args.format, debug=args.debug)
    with closing(connection), closing(shell):
        try:
            return _run(shell, args)
        except KeyboardInterrupt:  # between statements; a running one is cancelled by the runner
            return 130


def _run(shell: Shell, args: argparse.Namespace) -> int:
    if args.demo and not _demo(shell):
        return 1
    if args.scripts:
        return 0 if all(map(shell.run, args.scripts)) else 1
    if not sys.stdin.isatty():
        return 0 if shell.run(sys.stdin.read()) else 1
    from vsql.client.shell import repl

    print(f"vsql {vsql.__version__}: pgvector's SQL on DuckDB. Type \\? for help, \\q to quit.")
    repl.loop(shell)
    return 0


def _demo(shell: Shell) -> bool:
    """Load the demo data if it is missing, then show and run the example query."""
    from vsql.client import demo
    from vsql.client.shell import errors, repl

    try:
        loaded = demo.load(shell.connection)
    except vsql.Error as error:
        errors.report(error, debug=shell.debug)
        return False
    table = f"{demo.TABLE} (id, category, price, embedding vector({demo.DIM}))"
    print(f"Loaded {demo.ROWS:,} rows into {table}." if loaded else f"The demo table is here: {table}.")
    print("The five books nearest to item 1:\n")
    typed = demo.EXAMPLE.replace("\n", "\n" + repl.CONTINUATION)
    print(f"{repl.PROMPT}{typed}")
    if not shell.run(demo.EXAMPLE):
        return False
    print("\nHow vsql ran it (the plan names the index and the strategy for the filter):\n")
    print(f"{repl.PROMPT}EXPLAIN {typed}")
    return shell.run("EXPLAIN " + demo.EXAMPLE)
