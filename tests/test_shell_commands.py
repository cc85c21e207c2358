"""Backslash commands in process, on a Shell over a real connection: \\pset and its shortcuts, \\d
and its `+` forms, \\h, \\l, \\dn, \\dx, \\conninfo, \\errverbose."""

import re

import pytest

import vsql
from vsql.client.shell.runner import Shell


@pytest.fixture
def shell(tmp_path):
    shell = Shell(vsql.connect(str(tmp_path / "db.duckdb"), autocommit=True))
    yield shell
    shell.close()
    shell.connection.close()


@pytest.fixture
def run(shell, capsys):
    """Run `text` in the shell; what it wrote to stdout, or (failing) to stderr."""

    def run(text, ok=True):
        assert shell.run(text) is ok
        printed = capsys.readouterr()
        return printed.out if ok else printed.err

    return run


QUERY = "SELECT 1 AS a, NULL AS b"


def test_pset_sets_shows_and_lists(run, shell):
    assert run("\\pset border 2") == "Border style is 2.\n"
    assert run(QUERY) == "+---+---+\n| a | b |\n+---+---+\n| 1 |   |\n+---+---+\n(1 row)\n\n"
    assert run("\\pset null '(null)'") == 'Null display is "(null)".\n'
    assert run("\\pset format u") == "Output format is unaligned.\n"  # a unique beginning will do
    assert run(QUERY) == "a|b\n1|(null)\n(1 row)\n"
    assert run("\\pset format") == "Output format is unaligned.\n"  # no value: shown
    assert run("\\pset") == ("Border style is 2.\nExpanded display is off.\nOutput format is unaligned.\n"
                             'Null display is "(null)".\n')
    assert run("\\pset expanded") == "Expanded display is on.\n"  # no value: toggled
    assert run("\\pset expanded") == "Expanded display is off.\n"
    assert "allowed values are 0, 1, 2" in run("\\pset border 3", ok=False)
    assert "unknown option: colour" in run("\\pset colour red", ok=False)
    assert (shell.pset.border, shell.pset.format) == (2, "unaligned")


def test_a_x_and_mode_are_pset_shortcuts(run):
    assert run("\\a") == "Output format is unaligned.\n"
    assert run(QUERY) == "a|b\n1|\n(1 row)\n"
    assert run("\\a") == "Output format is aligned.\n"
    assert run("\\x auto") == "Expanded display is used automatically.\n"
    assert run(QUERY).startswith(" a | b\n")  # not a terminal: no screen to be wider than
    assert run("\\x") == "Expanded display is off.\n"
    assert run("\\x") == "Expanded display is on.\n"
    assert run(QUERY) == "-[ RECORD 1 ]\na | 1\nb |\n\n"
    assert run("\\x off\n.mode csv") == "Expanded display is off.\nOutput format is csv.\n"
    assert run(QUERY) == "a,b\n1,\n"
    assert run(".mode list\n" + QUERY) == "Output format is unaligned.\na|b\n1|\n(1 row)\n"
    assert run(".mode table") == "Output format is aligned.\n"


def test_describe_table_lists_columns_keys_indexes_and_models(run):
    run("CREATE TABLE docs (id BIGINT PRIMARY KEY, code TEXT UNIQUE, body TEXT, embedding VECTOR(32))")
    run("INSERT INTO docs SELECT i, 'c' || i, 'text ' || i, NULL FROM range(1, 60) t(i)")
    run("SELECT vsql_register_model('tri', 'python', 'hash_model:trigrams32')")
    run("UPDATE docs SET embedding = embed('tri', body)")
    run("ALTER TABLE docs ALTER COLUMN embedding SET MODEL 'tri'")
    run("CREATE INDEX docs_body ON docs (body)")
    run("CREATE INDEX docs_hnsw ON docs USING hnsw (embedding vector_cosine_ops) WITH (m = 8)")
    described = run("\\d docs")
    assert described.splitlines() == [
        '              Table "main.docs"',
        "  column   |    type    | nullable | default",
        "-----------+------------+----------+---------",
        " id        | bigint     | false    |",
        " code      | varchar    | true     |",
        " body      | varchar    | true     |",
        " embedding | vector(32) | true     |",
        "Indexes:",
        '    "docs_id_pkey" PRIMARY KEY (id)',
        '    "docs_code_key" UNIQUE (code)',
        '    "docs_body" art (body)',
        '    "docs_hnsw" hnsw (embedding vector_cosine_ops) WITH (m = 8, ef_construction = 64)',
        "Embedding models:",
        '    "embedding" tri@1',
        "",
    ]
    run("COMMENT ON COLUMN docs.body IS 'the text'")
    assert re.search(r" body +\| varchar +\| true +\| +\| the text", run("\\d+ DOCS"))  # names as PostgreSQL folds them
    assert "no table or view named 'nowhere'" in run("\\d nowhere", ok=False)


def test_describe_a_view_and_a_plain_table(run):
    run("CREATE TABLE t (a INT); CREATE VIEW v AS SELECT a FROM t")
    assert run("\\d t").splitlines()[0].strip() == 'Table "main.t"' and "Indexes:" not in run("\\d t")
    assert run("\\d v").splitlines()[0].strip() == 'View "main.v"'


def test_plus_listings_have_sizes_and_empty_ones_say_so(run):
    assert run("\\dt") == "Did not find any tables.\n"
    assert run("\\d") == "Did not find any relations.\n"
    assert run("\\di+") == "Did not find any vector indexes.\n"  # not a lone `name` header
    run("CREATE TABLE items (id BIGINT PRIMARY KEY, e VECTOR(4)); CREATE VIEW v AS SELECT id FROM items")
    run("INSERT INTO items SELECT i, [i, i, i, i]::vector(4) FROM range(20000) t(i); CHECKPOINT")
    run("COMMENT ON TABLE items IS 'things'")
    tables = run("\\dt+")
    assert re.search(r"^ items \| table \| 20000 \| \d+ (kB|MB) \| things$", tables, re.M), tables
    assert re.search(r"^ v +\| view +\| +\| +\|$", run("\\d+"), re.M)
    run("CREATE INDEX idx ON items USING ivfflat (e vector_l2_ops) WITH (lists = 4)")
    assert re.search(r"^ idx +\| +1 \| true .*\| 20000 \| \d+ (kB|MB) \|", run("\\di+"), re.M)
    assert re.search(r"^ idx +\| items \| ivfflat .*\| 20000 \| \d+ (kB|MB) \| ready", run("\\di"), re.M)


def test_databases_schemas_extensions_and_the_connection(run, tmp_path):
    path = str(tmp_path / "db.duckdb")
    assert re.search(rf"^ db +\| {re.escape(path)} \| duckdb \| false$", run("\\l"), re.M)
    assert re.search(r"^ db +\|.*\| false +\| \d+ (bytes|kB)$", run("\\l+"), re.M)
    run("CREATE SCHEMA extra")
    assert re.findall(r"^ (\w+) +\|$", run("\\dn"), re.M) == ["extra", "main"]
    assert re.search(r"^ parquet +\| v[\d.]+ +\| ", run("\\dx"), re.M)
    assert run("\\conninfo") == f'You are connected to database "db" in file "{path}".\n'


def test_in_memory_database(capsys):
    memory = Shell(vsql.connect(":memory:"))
    assert memory.run("\\conninfo\n\\l+")
    assert capsys.readouterr().out.splitlines()[:4] == [
        'You are connected to an in-memory database "memory".',
        "  name  |   path    |  type  | readonly | size",
        "--------+-----------+--------+----------+------",
        " memory | in memory | duckdb | false    |",
    ]
    memory.close()


def test_sql_help(run):
    listing = run("\\h")
    assert re.search(r"^ SELECT +\| retrieve rows from a table or view$", listing, re.M)
    assert re.search(r"^ CREATE INDEX +\| ", listing, re.M)
    select = run("\\h select")
    assert select.startswith("Command:     SELECT\nDescription: retrieve rows from a table or view\nSyntax:\n")
    assert "ORDER BY column { <-> | <#> | <=> | <+> | <~> | <%> } vector LIMIT k" in select
    create = run("\\help  create   vector")  # the statements a beginning names, spaces as typed
    assert create.count("Command:") == 1 and "CREATE VECTOR ALIAS name FOR index_name" in create
    assert run("\\h create").count("Command:") == 4
    assert run("\\h nope") == 'No help available for "nope".\nTry \\h with no arguments to see available help.\n'


def test_errverbose_shows_the_last_error_in_full(run):
    assert run("\\errverbose") == "There is no previous error.\n"
    run("SELECT * FROM nowhere", ok=False)
    full = run("\\errverbose")
    assert full.startswith("ERROR: Table with name nowhere does not exist!\n")
    assert "LINE 1: SELECT * FROM nowhere" in full  # DuckDB's own caret lines, which the short form drops
    assert "\nCLASS: vsql.ProgrammingError\nCAUSE: duckdb.CatalogException: Catalog Error:" in full  # DuckDB's own words
    assert full.endswith("\nSTATEMENT: SELECT * FROM nowhere\n")
    run("SELEC 1", ok=False)
    syntax = run("\\errverbose").splitlines()
    assert syntax[1:3] == ["LINE 1: SELEC 1", "              ^"]
    assert syntax[4].startswith("CAUSE: sqlglot.ParseError: Invalid expression")
    assert "\x1b" not in "".join(syntax)
