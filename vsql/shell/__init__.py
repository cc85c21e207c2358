"""vsql's interactive SQL shell: `vsql [DATABASE]`, or `python -m vsql.shell`."""

from .cli import main

__all__ = ["main"]
