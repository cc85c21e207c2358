"""The core's shape, checked where it can silently break: each database keeps its own index state,
and the front end and planner stay free of any engine's, index's or MLOps' library."""

import subprocess
import sys

import pytest

import vsql
from test_wrong_rows import _items, _strategy


def test_a_commit_or_build_on_one_database_leaves_another_databases_plan_alone(tmp_path):
    a, b = _items(str(tmp_path / "a.duckdb")), _items(str(tmp_path / "b.duckdb"))  # PEP 249: in transactions
    assert "index: items_embedding_idx" in _strategy(b, [5, 0])  # b's transaction has begun
    a.execute("DELETE FROM items WHERE id = 5")
    a.commit()  # reaches a's index
    a.execute("CREATE INDEX items_ip ON items USING hnsw (embedding vector_ip_ops)")
    a.commit()
    # b's transaction still trusts its own index (it once answered exactly from the table here:
    # "the index and this transaction see different commits")
    assert "index: items_embedding_idx" in _strategy(b, [5, 0])
    assert [r[0] for r in b.execute("SELECT id FROM items ORDER BY embedding <-> '[5,0]' LIMIT 1").fetchall()] == [5]
    a.close()
    b.close()


def test_the_front_end_and_the_planner_load_no_engine_index_library_or_mlops():
    """Parsing, analysis and planning take the engine's catalog and the index store as objects:
    importing them loads neither DuckDB, nor Faiss, nor an MLOps module (nor does `import vsql`)."""
    code = (
        "import sys, vsql, vsql.sql.parse, vsql.sql.analyze, vsql.plan.planner, vsql.index.spec\n"
        "banned = ('duckdb', 'faiss', 'pyarrow', 'vsql.mlops', 'vsql.engine', 'vsql.index.store', "
        "'vsql.index.faiss_index', 'vsql.session', 'vsql.client')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in banned or m.startswith(banned)))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", loaded
    assert vsql.connect is not None  # the DB-API loads on first use


def test_only_the_duckdb_engine_loads_duckdb():
    """Sessions, the index store, MLOps and the DB-API reach the database through the engine
    protocol: importing all of them loads no DuckDB until a connection picks the DuckDB engine."""
    code = (
        "import sys, vsql.session, vsql.index.store, vsql.mlops.models, vsql.mlops.reembed, vsql.mlops.evaluate, "
        "vsql.mlops.functions, vsql.client.dbapi, vsql.client.bulk, vsql.engine.knn\n"
        "print('duckdb' in sys.modules)\n"
        "vsql.client.dbapi.connect(':memory:').close()\n"
        "print('duckdb' in sys.modules)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.split() == ["False", "True"], loaded


def test_the_engine_is_chosen_by_the_targets_scheme(tmp_path):
    path = tmp_path / "x.duckdb"
    con = vsql.connect(f"duckdb://{path}", autocommit=True)
    con.execute("CREATE TABLE t (id INT)")
    con.close()
    assert path.exists()
    with pytest.raises(vsql.InterfaceError, match=r'no vsql engine for "nosuch://" \(engines: duckdb, sc, spark\)'):
        vsql.connect("nosuch://somewhere")
