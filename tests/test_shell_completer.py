"""Completion as a pure function of the text before the cursor and the schema: one line per case."""

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

import vsql
from vsql.client.shell.commands import NAMES
from vsql.client.shell.completer import SqlCompleter, suggest, typed_word
from vsql.client.shell.runner import Shell

SCHEMA = {"items": ["id", "category", "price", "embedding"], "queries": ["qid", "q"]}
ITEMS = SCHEMA["items"]
OPCLASSES = ["vector_l2_ops", "vector_ip_ops", "vector_cosine_ops", "vector_l1_ops",  # HNSW's
             "halfvec_l2_ops", "halfvec_ip_ops", "halfvec_cosine_ops", "halfvec_l1_ops",
             "sparsevec_l2_ops", "sparsevec_ip_ops", "sparsevec_cosine_ops", "sparsevec_l1_ops",
             "bit_hamming_ops", "bit_jaccard_ops"]
INDEX = "CREATE INDEX ON items USING hnsw (embedding vector_l2_ops) WITH ("

CASES = [
    ("SEL", ["SELECT"]),
    ("sel", ["select"]),
    ("SELECT 1;\nsel", ["select"]),
    ("SELECT * FROM ", ["items", "queries"]),
    ("select * from it", ["items"]),
    ("SELECT * FROM items JOIN qu", ["queries"]),
    ("SELECT * FROM items i WHERE i.c", ["i.category"]),
    ("SELECT * FROM items AS x WHERE x.", [f"x.{c}" for c in ITEMS]),
    ("SELECT * FROM items WHERE q", []),  # queries' columns are not in this statement
    ("SELECT * FROM items JOIN queries ON q", ["q", "qid"]),
    ("UPDATE items SET pri", ["price", "primary"]),
    ("SELECT l2", ["l2_distance", "l2_norm", "l2_normalize"]),
    ("SELECT vector_", ["vector_dims", "vector_norm"]),
    ("SELECT su", ["subvector", "sum"]),
    ("SELECT embedding <", ["<->", "<#>", "<=>", "<+>", "<~>", "<%>"]),
    ("SELECT embedding <=", ["<=>"]),
    ("SET ", ["hnsw.ef_search", "hnsw.iterative_scan", "hnsw.max_scan_tuples", "hnsw.scan_mem_multiplier",
              "ivfflat.iterative_scan", "ivfflat.max_probes", "ivfflat.probes", "vsql.exact_below", "vsql.keep_index_versions"]),
    ("SET hnsw.", ["hnsw.ef_search", "hnsw.iterative_scan", "hnsw.max_scan_tuples", "hnsw.scan_mem_multiplier"]),
    ("SET iv", ["ivfflat.iterative_scan", "ivfflat.max_probes", "ivfflat.probes"]),
    ("SELECT vsql_e", ["vsql_evaluate"]),
    ("CREATE INDEX ON ", ["items", "queries"]),
    ("CREATE INDEX ON items USING ", ["hnsw", "ivfflat"]),
    ("CREATE INDEX ON items USING hnsw (", ITEMS),
    ("CREATE INDEX ON items USING hnsw (embedding ", OPCLASSES),
    ("CREATE INDEX ON items USING ivfflat (embedding vector_c", ["vector_cosine_ops"]),
    (INDEX, ["m", "ef_construction", "quantizer", "lists", "pq_m"]),
    (INDEX + "m = 16, e", ["ef_construction"]),
    ("\\d", ["\\d", "\\d+", "\\di", "\\di+", "\\dn", "\\dt", "\\dt+", "\\dx"]),
    ("\\d it", ["items"]),
    (".ta", [".tables"]),
    ("\\x o", ["on", "off"]),
    (".timer o", ["on", "off"]),
    ("SELECT 1; \\ti", ["\\timing"]),
    ("\\pset ", ["border", "expanded", "format", "null"]),
    ("\\pset format u", ["unaligned"]),
    ("\\pset border ", ["0", "1", "2"]),
    ("\\pset null ", []),
    ("\\x a", ["auto"]),
    (".mode c", ["csv"]),
    ("\\h sel", ["SELECT"]),
    ("\\h create v", ["VECTOR", "VIEW"]),
    ("\\d+ it", ["items"]),
    ("\\dt+", ["\\dt+"]),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_suggest(text, expected):
    assert suggest(text, SCHEMA) == expected


def test_suggest_offers_every_command_after_a_backslash():
    assert suggest("\\", SCHEMA) == sorted(n for n in NAMES if n.startswith("\\"))


def test_suggest_in_an_expression_offers_columns_then_functions_then_keywords():
    found = suggest("SELECT ", SCHEMA)
    assert found[:6] == ["category", "embedding", "id", "price", "q", "qid"]
    assert {"l2_distance", "cosine_distance", "inner_product", "avg", "sum", "FROM"} <= set(found)
    assert found.index("l2_distance") < found.index("FROM")


@pytest.mark.parametrize("text, word", [("SELECT emb", "emb"), ("SELECT a <=", "<="), ("x i.c", "i.c"), ("\\d", "\\d"),
                                          ("\\di+", "\\di+"), ("SELECT a+emb", "emb")])
def test_typed_word(text, word):
    assert typed_word(text) == word


def test_prompt_toolkit_completer_replaces_the_typed_word():
    completer = SqlCompleter(lambda: SCHEMA)
    found = list(completer.get_completions(Document("SELECT * FROM items i WHERE i.emb"), CompleteEvent()))
    assert [(c.text, c.start_position) for c in found] == [("i.embedding", -5)]


def test_schema_is_reread_after_ddl():
    shell = Shell(vsql.connect(":memory:", autocommit=True))
    assert shell.schema == {}
    assert shell.run("CREATE TABLE docs (id INT, embedding VECTOR(3)); CREATE VIEW v AS SELECT id FROM docs;")
    assert shell.schema == {"docs": ["id", "embedding"], "v": ["id"]}
    assert shell.run("DROP VIEW v")
    assert suggest("SELECT * FROM ", shell.schema) == ["docs"]


@pytest.mark.parametrize("text", ["SELECT 1;", "SELECT 1; ", "SELECT * FROM ", "SELECT 1 +\n  "])
def test_no_menu_pops_up_after_a_semicolon_or_a_space_until_tab(text):
    completer = SqlCompleter(lambda: SCHEMA)
    typing = CompleteEvent(text_inserted=True)
    assert list(completer.get_completions(Document(text), typing)) == []
    tab = [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]
    assert tab == suggest(text, SCHEMA) and tab  # Tab still offers what may come next


def test_a_menu_pops_up_while_a_word_is_typed():
    completer = SqlCompleter(lambda: SCHEMA)
    assert [c.text for c in completer.get_completions(Document("SELECT 1; sel"), CompleteEvent(text_inserted=True))] \
        == ["select"]
