"""vsql through Spark Connect (`vsql.connect("sc://host:port")`): a real Connect server, started
from pyspark's own jars in a process of its own (`local[2]`), runs the same statements as DuckDB,
and vsql's indexes (built by the server's executors, searched by this client) serve searches and
LATERAL batches.

Slow: the server takes 20-60 s to start. Skipped without pyspark's connect extra or Java.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_spark import DIM, WRITTEN, _generated, _run, _same, _setup

import vsql

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("grpc_status") is None,
                       reason="Spark Connect needs pyspark[connect]: pip install -c constraints.txt -e '.[spark]'"),
    pytest.mark.skipif(shutil.which("java") is None, reason="the Spark engine needs Java 17 (openjdk-17-jre-headless)"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`sc://127.0.0.1:<port>`: a Spark Connect server of pyspark's own distribution, local[2]."""
    import pyspark

    home = Path(pyspark.__file__).parent
    port, folder = _free_port(), tmp_path_factory.mktemp("connect")
    env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    settings = {"spark.connect.grpc.binding.port": port, "spark.connect.grpc.binding.address": "127.0.0.1",
                "spark.ui.enabled": "false", "spark.sql.warehouse.dir": folder / "warehouse",
                "spark.sql.shuffle.partitions": 2,
                "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
    command = [str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
               "--master", "local[2]", *[part for key, value in settings.items() for part in ("--conf", f"{key}={value}")]]
    log = open(folder / "server.log", "w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the Spark Connect server did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(1)
    yield f"sc://127.0.0.1:{port}"
    process.terminate()
    process.wait(60)
    log.close()


@pytest.fixture
def pair(server):
    duck = vsql.connect(":memory:", autocommit=True)
    remote = vsql.connect(server)
    yield duck, remote
    for table in ("items", "queries"):
        remote.execute(f"DROP TABLE IF EXISTS {table}")
    remote.close()
    duck.close()


def test_a_connect_session(pair):
    from pyspark.sql.connect.session import SparkSession as RemoteSession

    _, remote = pair
    assert type(remote.session.engine).__name__ == "SparkEngine"
    assert isinstance(remote.session.engine.spark, RemoteSession)  # the client, not a classic session


def test_same_rows_as_duckdb(pair):
    duck, remote = pair
    statements = _setup(np.random.default_rng(23)) + WRITTEN + _generated(seed=230, count=12)
    for (sql, _), a, b in zip(statements, _run(duck, statements), _run(remote, statements)):
        if isinstance(a, list):
            assert a, sql
            _same(a, b, sql)
        else:  # Spark Connect reports no count of the rows a command wrote: PEP 249's -1
            assert b == (-1 if sql.startswith("INSERT") else a), sql


def test_index_through_connect(pair):
    """CREATE INDEX builds shards on the server's executors; searches and LATERAL batches go through them."""
    duck, remote = pair
    statements = _setup(np.random.default_rng(29))
    _run(duck, statements)
    _run(remote, statements)
    remote.execute("CREATE INDEX items_idx ON items USING hnsw (embedding vector_l2_ops)")
    engine = remote.session.engine
    for sql, params in [
        ("SELECT id, embedding <-> %s AS d FROM items WHERE category <> 'd' ORDER BY d LIMIT 5",
         [np.full(DIM, 0.25, np.float32)]),
        ("SELECT q.qid, n.id, n.d FROM queries q CROSS JOIN LATERAL (SELECT id, embedding <-> q.q AS d FROM items "
         "WHERE category <> 'd' ORDER BY d LIMIT 4) n ORDER BY q.qid, n.d", None),
    ]:
        for searched_on in ("driver", "executors"):  # the shards searched by this client, or in the server's tasks
            engine.spark.conf.set("spark.vsql.shardSearch", searched_on)
            _same(duck.execute(sql, params).fetchall(), remote.execute(sql, params).fetchall(), sql)
            assert "index items_idx" in engine.last_search, sql
            assert f"through their shards (searched on the {searched_on})" in engine.last_search, sql
    with pytest.raises(vsql.ProgrammingError, match='relation "nowhere" does not exist'):
        remote.execute("SELECT * FROM nowhere")
    with pytest.raises(vsql.VectorError, match="^expected 8 dimensions, not 2$"):
        remote.execute("INSERT INTO items (id, embedding) VALUES (5000, '[1,2]')")


def test_closing_the_last_connect_session_unmarks_the_process(server):
    """pyspark marks a process that opened a Connect session as a Connect client for good (its
    child processes too): a local session started later would try Connect. vsql removes the mark
    when its last Connect session closes, if it made it."""
    assert "SPARK_CONNECT_MODE_ENABLED" not in os.environ
    remote = vsql.connect(server)
    assert os.environ.get("SPARK_CONNECT_MODE_ENABLED") == "1"
    remote.close()
    assert "SPARK_CONNECT_MODE_ENABLED" not in os.environ
