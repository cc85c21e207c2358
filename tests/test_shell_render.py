"""Result formats, error lines and highlighting, without a terminal."""

import numpy as np
import pytest
from pygments.token import Name, Operator

import vsql
from vsql.client.shell.errors import describe
from vsql.client.shell.highlight import VsqlLexer
from vsql.client.shell.render import render, vector_text
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
    assert error.startswith("ERROR: syntax error at line 2, column 11 near 'items'")
    assert (line, caret) == ("LINE 2: FROMM items", "              ^^^^^")


def test_engine_error_is_one_line():
    with pytest.raises(vsql.ProgrammingError) as caught:
        vsql.connect(":memory:").execute("SELECT * FROM nowhere")
    assert describe(caught.value, "SELECT * FROM nowhere") == [
        "ERROR: Catalog Error: Table with name nowhere does not exist!"
    ]


def test_unexpected_errors_are_named():
    assert describe(FileNotFoundError("x.sql")) == ["ERROR: FileNotFoundError: x.sql"]


def test_vector_operators_and_functions_are_highlighted():
    tokens = [(kind, text) for kind, text in VsqlLexer().get_tokens("SELECT a <-> b, a <#> b, a <=> b, a <+> b")]
    assert [text for kind, text in tokens if kind is Operator] == ["<->", "<#>", "<=>", "<+>"]
    assert (Name.Function, "l2_distance") in list(VsqlLexer().get_tokens("SELECT l2_distance(a, b)"))
