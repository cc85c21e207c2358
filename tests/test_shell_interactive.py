"""The shell at a prompt: the real program in a pseudo-terminal, driven by pexpect."""

import os
import re
import sys
import time

import pexpect
import pytest

PROMPT = "vsql> "


def spawn(tmp_path, term="dumb"):
    """`python -m vsql.client.shell` on a terminal 200 columns wide, with its history in tmp_path."""
    env = {**os.environ, "TERM": term, "VSQL_HISTORY": str(tmp_path / "history"), "PROMPT_TOOLKIT_NO_CPR": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "vsql.client.shell"], env=env, cwd=str(tmp_path),
                          encoding="utf-8", timeout=20, dimensions=(50, 200))
    child.expect_exact(PROMPT.strip())  # a real terminal gets colour codes between `vsql>` and its space
    child.waitnoecho()  # the prompt is reading keys: Ctrl-C and Ctrl-D now reach prompt_toolkit
    return child


@pytest.fixture
def shell(tmp_path):
    """The shell on a dumb terminal."""
    child = spawn(tmp_path)
    child.expect_exact(" ")
    yield child
    child.close(force=True)


def run(child, line):
    """Type `line` and return what the shell wrote before its next prompt."""
    child.sendline(line)
    child.expect_exact(PROMPT)
    return child.before


def test_query_spanning_lines(shell, tmp_path):
    shell.sendline("SELECT 40 +")
    shell.sendline("2 AS answer;")
    shell.expect_exact(PROMPT)
    assert "answer" in shell.before and "42" in shell.before and "(1 row)" in shell.before
    assert "+SELECT 40 +\n+2 AS answer;" in (tmp_path / "history").read_text()


def test_ctrl_c_cancels_a_running_statement(shell):
    shell.sendline("SELECT count(*) FROM range(10000000000) a;")
    time.sleep(0.5)
    shell.sendintr()
    shell.expect("canceling statement due to user request")
    assert re.search(r"\^C\r\n(\x1b\[31m)?ERROR: $", shell.before)  # on a line of its own, not after the ^C
    shell.expect_exact(PROMPT)
    assert "7" in run(shell, "SELECT 7 AS after;")


def test_ctrl_c_at_the_prompt_clears_the_line(shell):
    shell.send("SELECT 'dropped'")
    shell.expect_exact("dropped'")
    shell.sendintr()
    shell.expect_exact(PROMPT)
    output = run(shell, "SELECT 'kept' AS s;")
    assert "kept" in output and "dropped" not in output


def test_describe_commands(shell):
    run(shell, "CREATE TABLE items (id BIGINT, embedding VECTOR(4));")
    assert "items | table" in run(shell, "\\dt")
    assert "embedding | vector(4)" in run(shell, "\\d items")
    assert "name | table | type | options | rows | size | state" in run(shell, "\\di")


def test_index_versions_command(shell):
    run(shell, "CREATE TABLE items (id BIGINT PRIMARY KEY, embedding VECTOR(2));")
    run(shell, "INSERT INTO items SELECT i, ARRAY[i, i + 1]::vector(2) FROM generate_series(1, 50) AS t(i);")
    run(shell, "CREATE INDEX idx ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = 2);")
    run(shell, "ALTER INDEX idx SET (lists = 3);")
    run(shell, "CREATE VECTOR ALIAS serving FOR idx;")
    listing = run(shell, "\\di+")
    assert re.search(r"name \| version \| active \| +options +\| reason", listing)
    assert re.search(r'idx +\| +1 \| false +\| {"lists": 2} \| create \|.*\| +50 \|', listing)
    assert re.search(r'idx +\| +2 \| true +\| {"lists": 3} \| alter +\|.*\| serving', listing)


def test_timing_and_expanded_display(shell):
    assert "Timing is on." in run(shell, "\\timing")
    assert "Time: " in run(shell, "SELECT 1 AS a;")
    assert "Expanded display is on." in run(shell, "\\x on")
    assert "-[ RECORD 1 ]" in run(shell, "SELECT 1 AS a, 2 AS b;")


def test_errors_keep_the_shell(shell):
    assert "ERROR: " in run(shell, "SELEC 1;")
    assert "3" in run(shell, "SELECT 3 AS three;")


@pytest.mark.parametrize("leave", ["\\q", ".exit"])
def test_quit(shell, leave):
    shell.sendline(leave)
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 0


def test_ctrl_d_exits(shell):
    shell.sendeof()
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 0


def test_expanded_auto_follows_the_terminals_width(shell):
    assert "Expanded display is used automatically." in run(shell, "\\x auto")
    assert "-[ RECORD 1 ]" in run(shell, "SELECT repeat('x', 220) AS wide, 1 AS n;")  # wider than 200 columns
    assert " narrow\r\n" in run(shell, "SELECT 1 AS narrow;")


def test_errverbose_after_an_error(shell):
    assert "There is no previous error." in run(shell, "\\errverbose")
    assert "Did you mean" not in run(shell, "SELECT * FROM nowhere;")
    full = run(shell, "\\errverbose")
    assert "Did you mean" in full and "CLASS: vsql.ProgrammingError" in full
    assert "STATEMENT: SELECT * FROM nowhere" in full


def test_pset_at_the_prompt(shell):
    run(shell, "\\pset null '(null)'")
    run(shell, "\\a")
    assert "a|b\r\n1|(null)\r\n(1 row)" in run(shell, "SELECT 1 AS a, NULL AS b;")


def typed(child, keys):
    """Send `keys` and return what the terminal showed until it went quiet."""
    child.send(keys)
    shown = ""
    while True:
        try:
            shown += child.read_nonblocking(100_000, timeout=0.7)
        except pexpect.TIMEOUT:
            return shown


def test_completion_menu_does_not_pop_up_after_a_semicolon(tmp_path):
    child = spawn(tmp_path, term="xterm")
    typed(child, "")
    assert "vector_norm" in typed(child, "SELECT vector_n")  # a word: its menu
    assert "cosine_distance" not in typed(child, "\x15SELECT 1;")  # Ctrl-U, then `;`: no menu of everything
    assert "cosine_distance" not in typed(child, " ")
    assert "cosine_distance" in typed(child, "\x15SELECT ") + typed(child, "\t")  # unless Tab asks
    child.sendcontrol("c")
    child.sendline("SELECT 6 * 7 AS answer;")
    child.expect_exact("42")
    child.close(force=True)
