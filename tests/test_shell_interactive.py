"""The shell at a prompt: the real program in a pseudo-terminal, driven by pexpect."""

import os
import re
import sys
import time

import pexpect
import pytest

PROMPT = "vsql> "


@pytest.fixture
def shell(tmp_path):
    """`python -m vsql.client.shell` on a dumb terminal, with its history in tmp_path."""
    env = {**os.environ, "TERM": "dumb", "VSQL_HISTORY": str(tmp_path / "history")}
    child = pexpect.spawn(sys.executable, ["-m", "vsql.client.shell"], env=env, cwd=str(tmp_path),
                          encoding="utf-8", timeout=20, dimensions=(50, 200))
    child.expect_exact(PROMPT)
    child.waitnoecho()  # the prompt is reading keys: Ctrl-C and Ctrl-D now reach prompt_toolkit
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
