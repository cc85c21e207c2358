"""vsql's interactive SQL shell: `vsql [DATABASE]`, or `python -m vsql.client.shell`."""

from vsql.client.shell.cli import main

__all__ = ["main"]
