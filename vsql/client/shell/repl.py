"""The interactive loop: prompt_toolkit with history, highlighting and completion.

Enter runs the input once its statement ends with `;` (or it is a backslash command); until
then it starts a new line. Ctrl-C clears the input (a running statement is cancelled by the
runner), Ctrl-D leaves.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import FileHistory
from prompt_toolkit.lexers import PygmentsLexer

from vsql.client.shell.completer import SqlCompleter
from vsql.client.shell.highlight import VsqlLexer
from vsql.client.shell.runner import Shell
from vsql.client.shell.statements import is_complete

PROMPT, CONTINUATION = "vsql> ", "   -> "


def _history_path() -> Path:
    """~/.vsql_history, or the file named by VSQL_HISTORY."""
    return Path(os.environ.get("VSQL_HISTORY") or "~/.vsql_history").expanduser()


def loop(shell: Shell) -> None:
    """Read and run input until Ctrl-D or `\\q`."""
    session: PromptSession[str] = PromptSession(
        PROMPT,
        prompt_continuation=CONTINUATION,
        multiline=Condition(lambda: not is_complete(session.default_buffer.text)),
        history=FileHistory(str(_history_path())),
        lexer=PygmentsLexer(VsqlLexer),
        completer=SqlCompleter(lambda: shell.schema),
    )
    while True:
        try:
            text = session.prompt()
        except KeyboardInterrupt:  # the input is dropped; prompt_toolkit has ended its line
            continue
        except EOFError:
            return
        try:
            shell.run(text)
        except KeyboardInterrupt:  # while a long result was being written: end the line the ^C is on
            print(file=sys.stderr)
