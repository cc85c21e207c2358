"""Splitting input into statements and commands, and what a statement reports."""

import pytest

from vsql.client.shell.statements import Item, changes_schema, command_tag, is_complete, split

SPLITS = [
    ("SELECT 1; SELECT 2;", [Item("SELECT 1"), Item("SELECT 2")], ""),
    ("SELECT 1; SELECT 2", [Item("SELECT 1")], "SELECT 2"),
    ("SELECT 'a;b', \"c;d\";", [Item("SELECT 'a;b', \"c;d\"")], ""),
    ("SELECT 'it''s;'; x", [Item("SELECT 'it''s;'")], "x"),
    ("SELECT 1 -- no; end\n;", [Item("SELECT 1 -- no; end")], ""),
    ("SELECT /* ; */ 1;", [Item("SELECT /* ; */ 1")], ""),
    ("SELECT $$;$$, $f$;$f$;", [Item("SELECT $$;$$, $f$;$f$")], ""),
    ("SELECT 'open;", [], "SELECT 'open;"),
    ("-- only a comment\n;; /* and another */", [], ""),
    ("\\d items\nSELECT 1;", [Item("\\d items", True), Item("SELECT 1")], ""),
    ("SELECT 1; \\dt", [Item("SELECT 1"), Item("\\dt", True)], ""),
    ("  .timer on\n.tables\n", [Item(".timer on", True), Item(".tables", True)], ""),
    ("SELECT 1,\n  2;\n", [Item("SELECT 1,\n  2")], ""),
]


@pytest.mark.parametrize("text, items, rest", SPLITS)
def test_split(text, items, rest):
    assert split(text) == (items, rest)


@pytest.mark.parametrize("text, complete", [
    ("", True), ("SELECT 1;", True), ("SELECT 1", False), ("SELECT ';'", False),
    ("SELECT 1;\n-- done", True), ("\\dt", True), ("SELECT 1; SELECT", False),
])
def test_is_complete(text, complete):
    assert is_complete(text) is complete


@pytest.mark.parametrize("sql, rowcount, tag", [
    ("CREATE TABLE t (a INT)", -1, "CREATE TABLE"),
    ("create or replace view v as select 1", -1, "CREATE VIEW"),
    ("CREATE UNIQUE INDEX i ON t (a)", -1, "CREATE INDEX"),
    ("DROP TABLE t", -1, "DROP TABLE"),
    ("insert into t values (1), (2)", 2, "INSERT 2"),
    ("DELETE FROM t", 0, "DELETE 0"),
    ("BEGIN", -1, "BEGIN"),
])
def test_command_tag(sql, rowcount, tag):
    assert command_tag(sql, rowcount) == tag


@pytest.mark.parametrize("sql, changes", [
    ("CREATE TABLE t (a INT)", True), ("drop view v", True), ("ALTER TABLE t ADD b INT", True),
    ("SELECT * FROM t", False), ("INSERT INTO t VALUES (1)", False),
])
def test_changes_schema(sql, changes):
    assert changes_schema(sql) is changes


def test_items_know_the_line_they_start_on():
    items, rest = split("SELECT 1;\n\n-- a comment\nSELECT\n  2; \\dt\n/* c */ .tables\nSELECT 3")
    assert [(item.text, item.line) for item in items] == [
        ("SELECT 1", 1), ("SELECT\n  2", 4), ("\\dt", 5), (".tables", 6)]
    assert rest == "SELECT 3"
