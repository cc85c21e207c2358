"""Vector indexes: their catalog in the database, their files beside it, their upkeep.

The DuckDB table is the source of truth. `vsql.indexes` records each index and the version whose
file holds it. The in-memory index learns each committed write vsql follows by its keys; what it
cannot follow (a MERGE that changes keys, COPY, a program writing the table behind vsql's back, a
file saved before the last writes) is found by comparing each row's key and vector hash with the
index's (`sync`), which every index loaded from a file goes through: a file is never trusted
blindly, and is caught up rather than rebuilt.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pyarrow as pa
from sqlglot import exp

from vsql.engine.base import Engine
from vsql.errors import ProgrammingError
from vsql.index.faiss_index import FaissIndex, IndexFileError
from vsql.index.rows import MAX_BYTES, RowStore
from vsql.engine.catalog import Catalog
from vsql.index.spec import IndexSpec, analysed, indexed_type, row_key
from vsql.sql.dialect import VSQL

_REBUILD_DEAD_FRACTION = 0.25  # compact an index once this share of its entries are dead
_CHECKPOINT_CHANGES = 50_000  # rewrite the file once the index has learnt this many changes since

_CATALOG_DDL = [
    "CREATE SCHEMA IF NOT EXISTS vsql",
    """CREATE TABLE IF NOT EXISTS vsql.indexes (
        name VARCHAR PRIMARY KEY, table_name VARCHAR NOT NULL, column_name VARCHAR NOT NULL,
        key_column VARCHAR NOT NULL, method VARCHAR NOT NULL, opclass VARCHAR NOT NULL,
        options VARCHAR NOT NULL, version INTEGER NOT NULL, token VARCHAR NOT NULL,
        rows BIGINT, size_bytes BIGINT, build_seconds DOUBLE, built_at TIMESTAMP, tuned INTEGER,
        schema_name VARCHAR NOT NULL DEFAULT 'main', predicate VARCHAR NOT NULL DEFAULT '',
        expression VARCHAR NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS vsql.index_versions (
        name VARCHAR NOT NULL, version INTEGER NOT NULL, method VARCHAR NOT NULL, opclass VARCHAR NOT NULL,
        options VARCHAR NOT NULL, reason VARCHAR NOT NULL, created_at TIMESTAMP, rows BIGINT, size_bytes BIGINT,
        build_seconds DOUBLE, tuned INTEGER, recall DOUBLE, file_kept BOOLEAN)""",
    "CREATE TABLE IF NOT EXISTS vsql.aliases (name VARCHAR NOT NULL, index_name VARCHAR NOT NULL, updated_at TIMESTAMP)",
]
# Columns of vsql.indexes an earlier vsql's catalog lacks, with their value there: indexes knew
# no schema (all were main's), none was partial.
_ADDED = {"schema_name": "'main'", "predicate": "''", "expression": "''"}


@dataclass
class Loaded:
    index: FaissIndex
    version: int
    dirty: int = 0  # changes applied since the file was written
    lock: threading.RLock = field(default_factory=threading.RLock)
    rows: RowStore | None = None  # the rows' other columns, read on first use (`IndexManager.rows`)
    rows_refused: bool = False  # too large to hold: fetched from the engine


@dataclass
class Shared:
    """What the connections of one database in this process share: its loaded indexes (a commit on
    one connection updates the index every other one searches), and the counters that tell a
    transaction whether those indexes still hold what it sees. Another database's commits and
    builds leave them alone."""

    loaded: dict[str, Loaded] = field(default_factory=dict)
    connections: int = 0
    generation: int = 0  # bumped whenever a commit reaches an index: a transaction that began at
    #                      another generation may not see what an index holds, so it asks the table
    in_flight: int = 0  # commits (and index builds) under way that the indexes may not reflect yet
    schema_epoch: int = 0  # bumped by every change of tables or indexes made through vsql
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bump(self) -> None:
        with self.lock:
            self.generation += 1

    @contextmanager
    def committing(self):
        """Around a write's COMMIT in DuckDB until the indexes have learned it (or an index build
        is in place): a search that overlaps it, on any connection, asks the table instead."""
        with self.lock:
            self.in_flight += 1
            self.generation += 1
        try:
            yield
        finally:
            with self.lock:
                self.in_flight -= 1
                self.generation += 1

    def settled(self) -> bool:
        """No commit is on its way to the indexes."""
        return not self.in_flight

    def schema_changed(self) -> None:
        """Tell every connection of the database to reread its catalog before its next statement."""
        with self.lock:
            self.schema_epoch += 1


# Per database file, while a connection to it is open; an in-memory database has its own.
_SHARED: dict[str, Shared] = {}
_SHARED_LOCK = threading.Lock()


class IndexManager:
    """The vector indexes of one database: catalog, files, loading, upkeep."""

    def __init__(self, engine: Engine, settings=None):
        self.engine = engine
        self.settings = settings
        path, self.read_only, self.database = engine.path, engine.read_only, engine.database
        self.folder = Path(path + ".vsql") if path else None
        self._path = str(self.folder.resolve()) if path else None
        with _SHARED_LOCK:
            self.shared = _SHARED.setdefault(self._path, Shared()) if path else Shared()
            self.shared.connections += 1
        self.loaded = self.shared.loaded
        self._specs: dict[str, IndexSpec] | None = None
        self._built: set[str] = set()  # indexes built since the last catch_up
        self._aliases: dict[str, str] | None = None
        self._pinned: dict[tuple[str, str, str], IndexSpec] = {}
        self._sources: dict[tuple, exp.Expr] = {}  # the analysed value of each index (`_source`)
        self._aside: dict[tuple, Loaded] = {}  # a version other than the active one, for evaluation
        self.notices: list[str] = []  # for the statement running now, as PostgreSQL's NOTICEs

    # -- catalog ----------------------------------------------------------------------------

    def specs(self) -> dict[str, IndexSpec]:
        if self._specs is None:
            self._migrate()
            added = ", ".join(column if self._has("indexes", column) else value for column, value in _ADDED.items())
            rows = self.engine.rows(
                "SELECT name, table_name, column_name, key_column, method, opclass, options, version, token, "
                f"{added} FROM vsql.indexes ORDER BY rowid"
            ) if self._has("indexes") else []
            self._specs = {r[0]: IndexSpec(*r[:6], json.loads(r[6]), *r[7:]) for r in rows}
        return self._specs

    def aliases(self) -> dict[str, str]:
        """Vector alias -> index name, the most recently pointed last."""
        if self._aliases is None:
            self._aliases = dict(self.engine.rows(
                "SELECT name, index_name FROM vsql.aliases ORDER BY updated_at")) if self._has("aliases") else {}
        return self._aliases

    def invalidate(self) -> None:
        self._specs = self._aliases = None

    def for_table(self, info) -> list[IndexSpec]:
        """The indexes on the table `info` (a TableInfo; None: no such table)."""
        return [s for s in self.specs().values() if info is not None and s.serves(info)]

    def find(self, info, source: str, metric: str, where: exp.Expr | None = None, alias: str = "") -> IndexSpec | None:
        """The index that serves searches on `source` (a column of `info`, or an index
        expression: `IndexSpec.source`) by `metric` whose rows include every
        row `where` keeps (a partial index serves only the queries whose filter implies its
        own): the one a vector alias points at when several could, else the oldest (a new
        challenger serves only once promoted)."""
        pinned = self._pinned.get((info.schema.lower(), info.name.lower(), source, metric))
        if pinned is not None and not info.temporary:
            return pinned
        matching = {s.name: s for s in self.for_table(info)
                    if s.source == source and s.metric == metric and s.implied_by(where, alias)}
        served = [matching[name] for name in self.aliases().values() if name in matching]
        return served[-1] if served else next(iter(matching.values()), None)

    def resolve(self, name: str) -> IndexSpec:
        """The index called `name`, or the one the vector alias `name` points at."""
        name = name.lower()
        spec = self.specs().get(self.aliases().get(name, name))
        if spec is None:
            raise ProgrammingError(f'index or vector alias "{name}" does not exist')
        return spec

    @contextmanager
    def pinned(self, spec: IndexSpec):
        """Searches on the index's column use `spec` (a given index and version) for a while."""
        key = (spec.schema.lower(), spec.table.lower(), spec.source, spec.metric)
        self._pinned[key] = spec
        try:
            yield
        finally:
            self._pinned.pop(key, None)

    # -- DDL --------------------------------------------------------------------------------

    def create(self, spec: IndexSpec, if_not_exists: bool, named: bool = True) -> None:
        """CREATE INDEX; an unnamed index takes PostgreSQL's name, `<table>_<column>_idx`, with the
        first number that makes it unique appended when that is taken."""
        name = spec.name if named else self.free_name(spec.name)
        if self._taken(name):
            if if_not_exists:
                return
            raise ProgrammingError(f'relation "{name}" already exists')
        self._ensure_catalog()
        spec = IndexSpec(**{**spec.__dict__, "name": name, "version": 1, "token": secrets.token_hex(8)})
        self.engine.run(
            "INSERT INTO vsql.indexes (name, table_name, column_name, key_column, method, opclass, options, version, "
            "token, schema_name, predicate, expression) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [spec.name, spec.table, spec.column, spec.key, spec.method, spec.opclass, json.dumps(spec.options),
             spec.version, spec.token, spec.schema, spec.predicate, spec.expression],
        )
        self.invalidate()
        self._build(spec, "create")

    def free_name(self, name: str) -> str:
        """PostgreSQL's name for an unnamed index: `name` (`<table>_<columns>_idx`), else with the
        first number that makes it unique appended."""
        return next(candidate for number in itertools.count()
                    if not self._taken(candidate := f"{name}{number or ''}"))

    def drop(self, name: str, if_exists: bool) -> bool:
        """Drop a vsql index; False when `name` is none of vsql's (DuckDB may own it)."""
        spec = self.specs().get(name.lower())
        if spec is None:
            return False
        serving = [alias for alias, target in self.aliases().items() if target == spec.name]
        if serving:
            raise ProgrammingError(f'cannot drop index "{spec.name}": vector alias "{serving[0]}" points at it '
                                   "(ALTER or DROP VECTOR ALIAS first)")
        self.engine.run("DELETE FROM vsql.indexes WHERE name = ?", [spec.name])
        self.engine.run("DELETE FROM vsql.index_versions WHERE name = ?", [spec.name])
        self.loaded.pop(spec.name, None)
        self.invalidate()
        for old in self._files(spec.name):
            old.unlink(missing_ok=True)
        return True

    def reindex(self, name: str, options: dict | None = None, reason: str | None = None) -> None:
        """Build a new version of the index (with new `options`: ALTER INDEX ... SET)."""
        spec = self.specs().get(name.lower())
        if spec is None:
            raise ProgrammingError(f'index "{name}" does not exist')
        self._ensure_catalog()
        version = self.engine.rows("SELECT coalesce(max(version), 0) FROM vsql.index_versions WHERE name = ?",
                                   [spec.name])[0][0]
        self.engine.run("UPDATE vsql.indexes SET version = ?, options = ? WHERE name = ?",
                         [max(version, spec.version) + 1, json.dumps(options or spec.options), spec.name])
        self.invalidate()
        self._build(self.specs()[spec.name], reason or ("alter" if options else "reindex"))

    # -- versions and aliases ---------------------------------------------------------------

    def versions(self, name: str) -> pa.Table:
        spec = self.resolve(name)
        return self.engine.arrow(
            "SELECT version, version = ? AS active, method, opclass, options, reason, created_at, rows, size_bytes, "
            "build_seconds, tuned, recall, file_kept FROM vsql.index_versions WHERE name = ? ORDER BY version",
            [spec.version, spec.name])

    def rollback(self, name: str, version: int) -> str:
        """Make an earlier (or later) version active again: loaded from its file while the file is
        kept (and caught up with the table by `sync`), else rebuilt with that version's options."""
        spec = self.resolve(name)
        row = self.engine.rows("SELECT options FROM vsql.index_versions WHERE name = ? AND version = ?",
                               [spec.name, version])
        if not row:
            known = [r[0] for r in self.engine.rows(
                "SELECT version FROM vsql.index_versions WHERE name = ? ORDER BY version", [spec.name])]
            raise ProgrammingError(f'index "{spec.name}" has no version {version} (versions: {known})')
        if version == spec.version:
            return f'index "{spec.name}": version {version} is already active'
        current = self.loaded.get(spec.name)
        if current is not None and current.version == spec.version and current.dirty:
            self._save(spec, current)  # so the version left behind can come back from its file
        self.engine.run("UPDATE vsql.indexes SET version = ?, options = ? WHERE name = ?", [version, row[0][0], spec.name])
        self.invalidate()
        target = self.specs()[spec.name]
        loaded = self._load(target)
        how = "from its file"
        if loaded is None:
            loaded = self._build(target)
            how = "rebuilt: its file was not kept"
        self.engine.run(
            "UPDATE vsql.indexes i SET rows = v.rows, size_bytes = v.size_bytes, build_seconds = v.build_seconds, "
            "built_at = v.created_at, tuned = v.tuned FROM vsql.index_versions v "
            "WHERE v.name = i.name AND v.version = ? AND i.name = ?", [version, spec.name])
        return f'index "{spec.name}": version {version} active (was {spec.version}), {how}'

    def set_tuned(self, spec: IndexSpec, depth: int, recall: float) -> None:
        """Store a tuned search depth as the default of the index's version (and in its file)."""
        loaded = self.get(spec)
        loaded.index.tuned = depth
        loaded.dirty += 1
        self._save(spec, loaded)
        self.engine.run("UPDATE vsql.index_versions SET tuned = ?, recall = ? WHERE name = ? AND version = ?",
                         [depth, recall, spec.name, spec.version])
        if self.specs()[spec.name].version == spec.version:
            self.engine.run("UPDATE vsql.indexes SET tuned = ? WHERE name = ?", [depth, spec.name])

    def set_recall(self, spec: IndexSpec, recall: float) -> None:
        self.engine.run("UPDATE vsql.index_versions SET recall = ? WHERE name = ? AND version = ?",
                         [recall, spec.name, spec.version])

    def version_spec(self, spec: IndexSpec, version: int | None) -> IndexSpec:
        """`spec` as of `version` (its options then), for evaluating a version that is not active."""
        if version is None or version == spec.version:
            return spec
        row = self.engine.rows("SELECT options FROM vsql.index_versions WHERE name = ? AND version = ?",
                               [spec.name, version])
        if not row:
            raise ProgrammingError(f'index "{spec.name}" has no version {version}')
        return IndexSpec(**{**spec.__dict__, "options": json.loads(row[0][0]), "version": version})

    def alias(self, action: str, name: str, target: str | None = None, if_exists: bool = False) -> None:
        """CREATE / ALTER / DROP VECTOR ALIAS: a stable name for the index that serves."""
        name = name.lower()
        exists = name in self.aliases()
        if action == "drop":
            if not exists and not if_exists:
                raise ProgrammingError(f'vector alias "{name}" does not exist')
        elif action == "create" and (exists or name in self.specs()):
            raise ProgrammingError(f'relation "{name}" already exists')
        elif action == "alter" and not exists:
            raise ProgrammingError(f'vector alias "{name}" does not exist')
        spec = self.specs().get((target or "").lower())
        if action != "drop" and spec is None:
            raise ProgrammingError(f'index "{target}" does not exist')
        self._ensure_catalog()
        self.engine.run("DELETE FROM vsql.aliases WHERE name = ?", [name])
        if action != "drop":
            self.engine.run("INSERT INTO vsql.aliases VALUES (?, ?, ?)", [name, spec.name, datetime.now()])
        self.invalidate()

    def drop_for_table(self, info) -> None:
        for spec in self.for_table(info):
            self.drop(spec.name, True)

    def table_altered(self, info, renamed: str | None) -> list[IndexSpec]:
        """Follow ALTER TABLE: a rename moves the indexes; an index whose column or key is gone,
        or whose column changed type, is dropped rather than left to answer wrongly. Returns the
        indexes kept, whose rows the change may have rewritten (ALTER ... TYPE ... USING)."""
        if renamed:
            self.engine.run("UPDATE vsql.indexes SET table_name = ? WHERE lower(table_name) = lower(?) "
                             "AND lower(coalesce(schema_name, 'main')) = lower(?)", [renamed, info.name, info.schema])
            self.invalidate()
            return []
        now = self._info(info.schema, info.name)
        kept = []
        for spec in self.for_table(info):
            loaded = self.loaded.get(spec.name)
            try:
                vtype, dim = indexed_type(spec, self._catalog(), now) if now else (None, 0)
            except Exception:  # noqa: BLE001 - an expression the altered table cannot compute
                vtype, dim = None, 0
            if vtype != spec.vtype or not dim or (loaded is not None and dim != loaded.index.dim):
                self.drop(spec.name, True)
            elif not set(spec.identity) <= set(now.columns):  # key columns renamed or dropped
                self._rekey(spec, row_key(now))
            else:
                kept.append(spec)
        return kept

    def _rekey(self, spec: IndexSpec, key: str) -> None:
        """Name the index's rows anew (by `key`, see `row_key`) and rebuild it in place."""
        self.engine.run("UPDATE vsql.indexes SET key_column = ? WHERE name = ?", [key, spec.name])
        self.invalidate()
        self.loaded.pop(spec.name, None)
        self._build(self.specs()[spec.name])

    # -- using ------------------------------------------------------------------------------

    def get(self, spec: IndexSpec) -> Loaded:
        """The index, current with every committed change: loaded from its file, or rebuilt."""
        active = self.specs().get(spec.name)
        if active is not None and active.version != spec.version:
            return self._other_version(spec)
        loaded = self.loaded.get(spec.name)
        if loaded is None or loaded.version != spec.version:
            loaded = self._load(spec) or self._build(spec)
        return loaded

    def _other_version(self, spec: IndexSpec) -> Loaded:
        """A kept version that is not the active one, caught up with the table, held aside until
        the next commit reaches the indexes (writes do not keep it current)."""
        key = (spec.name, spec.version, self.shared.generation)
        if key not in self._aside:
            loaded = self._load(spec, register=False)
            if loaded is None:
                raise ProgrammingError(f'version {spec.version} of index "{spec.name}" has no file kept '
                                       "(see vsql.keep_index_versions); roll back to it to rebuild it")
            self._aside = {key: loaded}
        return self._aside[key]

    def apply(self, spec: IndexSpec, keys: np.ndarray | None) -> None:
        """Bring the in-memory index up to date with committed writes to rows `keys`."""
        loaded = self.loaded.get(spec.name)
        if loaded is None:
            return  # not in memory: loading compares the file with the table
        if keys is None:  # a write vsql could not follow row by row (COPY, MERGE of keys ...)
            self.sync(spec, loaded, self.engine)
        else:
            # A version another connection just built may lack the write (it read the table before
            # the commit): applying is idempotent, so it learns the write whichever version it is.
            with loaded.lock:
                changed = np.unique(np.asarray(keys, dtype=np.int64))
                loaded.index.apply(changed, *self.vectors(spec, changed))
                if loaded.rows is not None:
                    loaded.rows.update(changed, self.engine.arrow(*self._some(
                        self._every_row(spec, *map(_quoted, loaded.rows.columns)), spec, changed)))
                loaded.dirty += len(changed)
                self.shared.bump()
        if loaded.index.dead > _REBUILD_DEAD_FRACTION * max(len(loaded.index.keys), 1):
            self._build(spec)  # compaction: the same version, rebuilt in place
        elif loaded.dirty >= _CHECKPOINT_CHANGES:
            self._save_lagging(spec, loaded)

    def rows(self, spec: IndexSpec, loaded: Loaded, columns) -> RowStore | None:
        """The index's row store, read from the committed table on first use with every column but
        the vectors; None when it cannot hold `columns` (their type, or a table too large)."""
        with loaded.lock:
            if loaded.rows is None and not loaded.rows_refused:
                info = self._info(spec.schema, spec.table)
                others = [c for c in info.columns if c != spec.key and info.vector_dim(c) is None]
                table = self._committed().arrow(self._every_row(spec, *map(_quoted, others)))
                # only columns that come back from Arrow with their own type (not UUID or JSON as text)
                names = self.engine.type_names(table.schema)
                table = table.select([0] + [i for i, (field, name) in enumerate(zip(table.schema, names))
                                            if i and info.columns.get(field.name.lower()) == name])
                if table.nbytes <= MAX_BYTES:
                    loaded.rows = RowStore(table)
                else:
                    loaded.rows_refused = True
            rows = loaded.rows
            # identical rows of a table without a key share one key: the engine returns each of them
            return rows if rows is not None and rows.unique and rows.holds(columns) else None

    def catch_up(self) -> None:
        """After an index DDL committed: apply the writes other connections committed while its
        build read the table."""
        built, self._built = self._built, set()
        for name in built:
            spec, loaded = self.specs().get(name), self.loaded.get(name)
            if spec is not None and loaded is not None and loaded.version == spec.version:
                self.sync(spec, loaded)

    def close(self) -> None:
        """Save what lags behind, and forget the indexes when no connection uses them."""
        try:
            self.checkpoint()
        finally:
            with _SHARED_LOCK:
                self.shared.connections -= 1
                if not self.shared.connections:
                    _SHARED.pop(self._path, None)

    def checkpoint(self) -> None:
        """Write every loaded index whose file lags behind the writes it has learnt."""
        for name, loaded in list(self.loaded.items()):
            spec = self.specs().get(name)
            if spec is not None and loaded.version == spec.version and loaded.dirty:
                self._save_lagging(spec, loaded)

    # -- internals --------------------------------------------------------------------------

    def _build(self, spec: IndexSpec, reason: str | None = None) -> Loaded:
        """Build the index's version `spec.version` from the table; `reason` records a new version
        (create, reindex, alter), None rebuilds an existing one in place (compaction), keeping the
        version's search depth and measured recall (which vsql_tune may have set)."""
        started = time.perf_counter()
        old = self.engine.rows(
            "SELECT reason, created_at, tuned, recall FROM vsql.index_versions WHERE name = ? AND version = ?",
            [spec.name, spec.version]) if not reason and self._has("index_versions") else []
        keys, vectors, hashes = self.vectors(spec, None)
        index = FaissIndex.build(spec.method, spec.metric, self._dim(spec), spec.options, keys, vectors, hashes,
                                 owned=True)
        del keys, vectors, hashes  # the rows, before the index is written
        if reason and index.shortfall():
            self.notices.append(f'index "{spec.name}": {index.shortfall()}')
        if old and old[0][2] is not None:
            index.tuned = old[0][2]
        loaded = Loaded(index, spec.version, dirty=1)
        before = self.loaded.get(spec.name)
        if not reason and before is not None and before.version == spec.version:
            loaded.rows = before.rows  # a compaction: the rows are the same
        size = self._save(spec, loaded) if reason else self._save_lagging(spec, loaded)
        self.loaded[spec.name] = loaded  # only once saved: a CREATE or REINDEX that fails leaves no trace
        self._built.add(spec.name)
        if self.read_only:
            return loaded
        seconds = time.perf_counter() - started
        self._ensure_catalog()
        self.engine.run(
            "UPDATE vsql.indexes SET rows = ?, size_bytes = ?, build_seconds = ?, built_at = now(), tuned = ? "
            "WHERE name = ?",
            [index.live, size, seconds, index.tuned, spec.name],
        )
        self.engine.run("DELETE FROM vsql.index_versions WHERE name = ? AND version = ?", [spec.name, spec.version])
        self.engine.run(
            "INSERT INTO vsql.index_versions (name, version, method, opclass, options, reason, created_at, rows, "
            "size_bytes, build_seconds, tuned, recall, file_kept) "
            "VALUES (?, ?, ?, ?, ?, ?, coalesce(?, now()::TIMESTAMP), ?, ?, ?, ?, ?, ?)",
            [spec.name, spec.version, spec.method, spec.opclass, json.dumps(spec.options),
             reason or (old[0][0] if old else "rebuild"), old[0][1] if old else None, index.live, size,
             seconds, index.tuned, old[0][3] if old else index.reached, size is not None],
        )
        if reason:
            self._retain(spec)
        return loaded

    def _retain(self, spec: IndexSpec) -> None:
        """Keep the files of the newest `vsql.keep_index_versions` versions (and the active one)."""
        keep = self.settings.get("vsql.keep_index_versions") if self.settings is not None else 3
        kept = [r[0] for r in self.engine.rows(
            "SELECT version FROM vsql.index_versions WHERE name = ? AND file_kept ORDER BY version DESC",
            [spec.name])]
        for version in kept[keep:]:
            if version != spec.version:
                if self.folder is not None:
                    (self.folder / _file_name(spec.name, version)).unlink(missing_ok=True)
                self.engine.run("UPDATE vsql.index_versions SET file_kept = false WHERE name = ? AND version = ?",
                                 [spec.name, version])

    def _load(self, spec: IndexSpec, register: bool = True) -> Loaded | None:
        path = self._file(spec)
        if path is None:
            return None
        try:
            index, meta = FaissIndex.load(path, {"name": spec.name, "version": spec.version, "token": spec.token})
        except IndexFileError:
            return None  # corrupt, truncated or foreign: rebuilt from the table by the caller
        loaded = Loaded(index, spec.version)
        # The rows the file lacks or holds stale, whoever wrote them (vsql after the file was saved,
        # another program, a restored older copy of the file), read as committed: this may run
        # inside a transaction that has written the table.
        self.sync(spec, loaded, announce=False)  # no connection has it yet
        if register:
            self.loaded[spec.name] = loaded
        return loaded

    def _save(self, spec: IndexSpec, loaded: Loaded) -> int | None:
        """Persist beside the database. In-memory and read-only databases keep their indexes in
        memory only."""
        if self.folder is None or self.read_only:
            return None
        self.folder.mkdir(exist_ok=True)
        path = self.folder / _file_name(spec.name, spec.version)
        size = loaded.index.save(path, {"name": spec.name, "version": spec.version, "token": spec.token})
        loaded.dirty = 0
        self._ensure_catalog()
        self.engine.run("UPDATE vsql.index_versions SET size_bytes = ? WHERE name = ? AND version = ?",
                         [size, spec.name, spec.version])
        return size

    def _save_lagging(self, spec: IndexSpec, loaded: Loaded) -> int | None:
        """Save a file that only catches up with the table: if it cannot be written (a full disk), or
        another connection updates the same catalog row at the same moment (DuckDB refuses one of
        the two), it stays behind for the next save instead of failing a committed write, a read
        or a close; loading it compares it with the table."""
        try:
            return self._save(spec, loaded)
        except (OSError, self.engine.conflict):
            return None

    def _files(self, name: str) -> list[Path]:
        if self.folder is None or not self.folder.exists():
            return []
        versions = re.compile(re.escape(quote(name, safe="")) + r"\.v\d+\.vsqlidx")  # as _file_name writes
        return sorted(path for path in self.folder.iterdir() if versions.fullmatch(path.name))

    def _file(self, spec: IndexSpec) -> Path | None:
        if self.folder is None:
            return None
        path = self.folder / _file_name(spec.name, spec.version)
        return path if path.exists() else None

    def _taken(self, name: str) -> bool:
        return name in self.specs() or self.engine.has_index(name)

    def _has(self, table: str, column: str | None = None) -> bool:
        return self.engine.has_table("vsql", table, column)

    def _ensure_catalog(self) -> None:
        if not self._has("aliases"):  # the newest of the catalog's tables
            for statement in _CATALOG_DDL:
                self.engine.run(statement)
        self._migrate()

    def _migrate(self) -> None:
        """Bring a catalog written by an earlier vsql up to this one's columns."""
        if self.read_only or not self._has("indexes"):
            return
        for column, value in _ADDED.items():
            if not self._has("indexes", column):
                self.engine.run(f"ALTER TABLE vsql.indexes ADD COLUMN {column} VARCHAR DEFAULT {value}")

    def _table(self, spec: IndexSpec) -> exp.Table:
        """The index's table, named in full: a temporary table of the same name cannot shadow it."""
        return exp.table_(spec.table, spec.schema, self.database, quoted=True)

    def _rows(self, spec: IndexSpec, *outputs: exp.Expr) -> exp.Select:
        """SELECT key, outputs... over the rows the index holds (those with a vector)."""
        return self._every_row(spec, *outputs).where(exp.Not(this=exp.Is(this=self._source(spec), expression=exp.Null())))

    def _every_row(self, spec: IndexSpec, *outputs: exp.Expr) -> exp.Select:
        """SELECT key, outputs... over the rows the index covers (a partial index's only)."""
        return exp.select(exp.alias_(spec.key_of(), _KEY, quoted=True), *outputs).from_(self._table(spec)).where(
            spec.condition())

    def _committed(self) -> Engine:
        """A connection that sees only committed rows: what the shared index holds is what every
        connection may see, never one transaction's own writes."""
        return self.engine.fork()

    def _hashes(self, spec: IndexSpec, engine: Engine) -> tuple[np.ndarray, np.ndarray]:
        """Every row's key and the engine's hash of its vector."""
        query = self._rows(spec, exp.func("hash", self._source(spec)))
        result = engine.columns(query)
        names = list(result)
        return np.asarray(result[names[0]], dtype=np.int64), np.asarray(result[names[1]], dtype=np.uint64)

    def sync(self, spec: IndexSpec, loaded: Loaded, engine: Engine | None = None,
             announce: bool = True) -> int:
        """Bring the index level with the table's committed rows by comparing each row's key and
        vector hash with the index's: whatever wrote the table (a MERGE, an update of keys, a
        COPY, another program), the rows that differ are applied. Returns how many differed.
        Costs one scan of keys and hashes (0.12-0.15 s at 100k x 128, 2-2.5 s at 1M on a loaded
        machine). `announce`: connections may be searching the index, and transactions that began
        before must stop trusting it."""
        engine = engine or self._committed()
        with loaded.lock:
            loaded.rows, loaded.rows_refused = None, False  # other columns may have changed too: read again
            changed = loaded.index.diff(*self._hashes(spec, engine))
            if len(changed):
                loaded.index.apply(changed, *self.vectors(spec, changed, engine))
                loaded.dirty += len(changed)
                if announce:
                    self.shared.bump()
        return len(changed)

    def vectors(self, spec: IndexSpec, keys: np.ndarray | None,
                 engine: Engine | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The keys, vectors and vector hashes of the rows `keys` (None: every row with a vector)."""
        source = self._source(spec)
        query = self._rows(spec, source, exp.func("hash", source.copy()))
        result = (engine or self.engine).arrow(*self._some(query, spec, keys))
        column_data = result.column(1).combine_chunks()
        if spec.vtype == "bit":  # as 0/1 floats (see metrics.BIT_METRICS)
            matrix = self.engine.bits(column_data).astype(np.float32) if len(column_data) \
                else np.empty((0, self._dim(spec)), np.float32)
        else:
            dim = column_data.type.list_size
            values = column_data.values
            # a writable view of this result's own buffer (to_numpy's is read-only): a build reorders rows in it
            matrix = np.frombuffer(values.buffers()[1], np.float32, len(values), values.offset * 4).reshape(-1, dim) \
                if len(column_data) else np.empty((0, dim), np.float32)
        keys, hashes = result.column(0).to_numpy().astype(np.int64), result.column(2).to_numpy().astype(np.uint64)
        if spec.hashed:
            # identical rows (of a table without a key) share a key and a vector: one entry serves them
            unique, first = np.unique(keys, return_index=True)
            if len(unique) < len(keys):
                keys, matrix, hashes = unique, matrix[first], hashes[first]
        return keys, matrix, hashes

    @staticmethod
    def _some(query: exp.Select, spec: IndexSpec, keys: np.ndarray | None) -> tuple[exp.Select, list | None]:
        """`query` over the rows `keys` only (None: all), and its parameters."""
        if keys is None:
            return query, None
        return (query.where(exp.In(this=spec.key_of(), query=exp.select("unnest($1)").subquery()), append=True),
                [keys.tolist()])

    def _dim(self, spec: IndexSpec) -> int:
        return indexed_type(spec, self._catalog())[1]

    def _catalog(self) -> Catalog:
        """The tables as analysis reads them now (an expression index's expression is analysed)."""
        return Catalog(self.engine, lambda: ({}, {}))

    def _source(self, spec: IndexSpec) -> exp.Expr:
        """The indexed value as the engine gives it to the index: FLOAT[n] for `vector` and
        `halfvec` (whose values float32 holds exactly), the bit string itself for `bit`."""
        if not spec.expression and spec.vtype == "vector":
            return exp.column(spec.column, quoted=True)
        key = (spec.token, spec.version, spec.schema, spec.table, spec.column, spec.opclass, spec.expression)
        if key not in self._sources:
            catalog = self._catalog()
            value = spec.indexed()
            if spec.vtype != "bit":
                value = exp.Cast(this=exp.paren(value, copy=False),
                                 to=exp.DataType.build(f"VECTOR({indexed_type(spec, catalog)[1]})", dialect=VSQL))
            self._sources[key] = analysed(spec, catalog, value)
        return self._sources[key].copy()

    def _info(self, schema: str, table: str):
        """The table as the engine describes it now (not a temporary one of the same name)."""
        return next((t for t in self.engine.tables() if not t.temporary and
                     (t.schema.lower(), t.name.lower()) == (schema.lower(), table.lower())), None)



_KEY = "__vsql_key"


def _quoted(column: str) -> exp.Column:
    return exp.column(column, quoted=True)


def _file_name(name: str, version: int) -> str:
    """An index version's file: its name percent-encoded, so that no name ('../x', '/x', 'a*')
    reaches outside the folder or matches another index's files."""
    return f"{quote(name, safe='')}.v{version}.vsqlidx"
