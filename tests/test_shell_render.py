"""Result formats, error lines and highlighting, without a terminal."""

import numpy as np
import pytest
from pygments.token import Name, Operator

import vsql
from vsql.client.shell.errors import describe
from vsql.client.shell.highlight import VsqlLexer
from vsql.client.shell.render import render, size_text, vector_text
from vsql.client.shell.result import Result

LONG = np.arange(1, 129, dtype=np.float32) / 10
RESULT = Result(
    ["id", "name", "embedding"],
    [(1, "books", np.array([1, 0.5, -2], dtype=np.float32)), (22, None, LONG)],
)


def test_vector_text_is_pgvectors_and_shortens_long_vectors():
    assert vector_text(np.array([1, 0.1, -2.5], dtype=np.float32)) == "[1,0.1,-2.5]"
    assert vector_text(LONG, short=True) == "[0.1,0.2,0.3,…,12.8] (128)"
    assert vector_text(LONG[:5], short=True) == "[0.1,0.2,0.3,0.4,0.5]"


def test_table():
    assert render(RESULT) == (
        " id | name  |         embedding\n"
        "----+-------+----------------------------\n"
        "  1 | books | [1,0.5,-2]\n"
        " 22 |       | [0.1,0.2,0.3,…,12.8] (128)\n"
        "(2 rows)\n"
        "\n"
    )


def test_table_cells_may_span_lines():
    assert render(Result(["a", "b"], [("x\ny", True)])) == " a |  b\n---+------\n x | true\n y |\n(1 row)\n\n"


def test_expanded():
    assert render(RESULT, expanded=True).splitlines()[:4] == [
        "-[ RECORD 1 ]---------",
        "id        | 1",
        "name      | books",
        "embedding | [1,0.5,-2]",
    ]


def test_csv_and_json_keep_whole_vectors():
    assert render(RESULT, "csv").splitlines()[2] == "22,," + '"' + vector_text(LONG) + '"'
    assert render(Result(["id", "v"], [(1, np.array([0.1, 2], dtype=np.float32)), (2, None)]), "json") == (
        '[{"id": 1, "v": [0.1, 2.0]},\n{"id": 2, "v": null}]\n'
    )


def test_markdown():
    assert render(Result(["n", "s"], [(1, "a|b")]), "markdown") == (
        "|   n | s    |\n"
        "|----:|------|\n"
        "|   1 | a\\|b |\n"
    )


def test_status_only():
    assert render(Result(status="INSERT 3"), "csv") == "INSERT 3\n"


def test_syntax_error_gets_a_caret_under_its_token():
    con = vsql.connect(":memory:")
    sql = "SELECT id\nFROMM items"
    with pytest.raises(vsql.ProgrammingError) as caught:
        con.execute(sql)
    error, line, caret = describe(caught.value, sql)
    assert error == 'ERROR: syntax error at or near "items"'
    assert (line, caret) == ("LINE 2: FROMM items", "              ^^^^^")


def test_engine_error_is_one_line():
    with pytest.raises(vsql.ProgrammingError) as caught:
        vsql.connect(":memory:").execute("SELECT * FROM nowhere")
    assert describe(caught.value, "SELECT * FROM nowhere") == [
        "ERROR: Table with name nowhere does not exist!"
    ]


def test_unexpected_errors_are_named():
    assert describe(FileNotFoundError("x.sql")) == ["ERROR: FileNotFoundError: x.sql"]


def test_vector_operators_and_functions_are_highlighted():
    tokens = [(kind, text) for kind, text in VsqlLexer().get_tokens("SELECT a <-> b, a <#> b, a <=> b, a <+> b")]
    assert [text for kind, text in tokens if kind is Operator] == ["<->", "<#>", "<=>", "<+>"]
    assert (Name.Function, "l2_distance") in list(VsqlLexer().get_tokens("SELECT l2_distance(a, b)"))


SMALL = Result(["id", "name"], [(1, "books"), (22, None)])


@pytest.mark.parametrize("border, expected", [
    (0, "id name\n-- -----\n 1 books\n22 -\n(2 rows)\n\n"),
    (1, " id | name\n----+-------\n  1 | books\n 22 | -\n(2 rows)\n\n"),
    (2, "+----+-------+\n| id | name  |\n+----+-------+\n|  1 | books |\n| 22 | -     |\n+----+-------+\n(2 rows)\n\n"),
])
def test_borders_and_null(border, expected):
    assert render(SMALL, border=border, null="-") == expected


@pytest.mark.parametrize("border, expected", [
    (0, "* Record 1\nid   1\nname books\n* Record 2\nid   22\nname\n\n"),
    (1, "-[ RECORD 1 ]\nid   | 1\nname | books\n-[ RECORD 2 ]\nid   | 22\nname |\n\n"),
    (2, ("+-[ RECORD 1 ]-+\n| id   | 1     |\n| name | books |\n+-[ RECORD 2 ]-+\n| id   | 22    |\n"
         "| name |       |\n+------+-------+\n\n")),
])
def test_expanded_borders(border, expected):
    assert render(SMALL, expanded="on", border=border) == expected


def test_expanded_auto_only_when_wider_than_the_screen():
    assert render(SMALL, expanded="auto", width=80) == render(SMALL)
    assert render(SMALL, expanded="auto", width=10) == render(SMALL, expanded=True)
    assert render(SMALL, expanded="auto", width=None) == render(SMALL)  # not a terminal


def test_unaligned_keeps_whole_vectors():
    assert render(RESULT, "unaligned", null="(null)").splitlines() == [
        "id|name|embedding", "1|books|[1,0.5,-2]", "22|(null)|" + vector_text(LONG), "(2 rows)"]
    assert render(SMALL, "unaligned", expanded=True) == "id|1\nname|books\n\nid|22\nname|\n"
    assert render(SMALL, "list") == render(SMALL, "unaligned") and render(SMALL, "table") == render(SMALL)


def test_title_and_footer_replace_the_row_count():
    described = Result(["a", "b"], [(1, 2)], title="T", footer=["Indexes:", '    "k" PRIMARY KEY (a)'])
    assert render(described) == '   T\n a | b\n---+---\n 1 | 2\nIndexes:\n    "k" PRIMARY KEY (a)\n\n'
    assert render(described, "unaligned") == 'T\na|b\n1|2\nIndexes:\n    "k" PRIMARY KEY (a)\n'
    assert render(described, "csv") == "a,b\n1,2\n"


@pytest.mark.parametrize("size, text", [
    (0, "0 bytes"), (8192, "8192 bytes"), (10239, "10239 bytes"), (10240, "10 kB"), (16384, "16 kB"),
    (1258291, "1229 kB"), (10484736, "10239 kB"), (10 * 2**20 - 1, "10 MB"), (10 * 2**20, "10 MB"), (2**30, "1024 MB"),
    (10 * 2**30, "10 GB"), (3 * 2**50, "3072 TB"), (20 * 2**50, "20 PB"), (None, None),
])
def test_sizes_are_written_as_pg_size_pretty_does(size, text):
    assert size_text(size) == text
