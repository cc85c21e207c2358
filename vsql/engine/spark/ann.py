"""vsql indexes on Spark: one Faiss index (a shard) per data file of a table.

`CREATE INDEX ... USING hnsw | ivfflat` builds one shard per Parquet file, in parallel on the
executors (`mapInArrow`: each task indexes the files it reads), with the methods of
`vsql.index.methods` and the metrics of `vsql.sql.metrics`. The shards, their keys (the table's
integer primary key) and a JSON manifest (the index, and for each shard its file's path, size and
modification time, as the building scan read them) live in `_vsql_indexes/<name>/v<version>/` beside
the table's files, which Spark's readers skip; the index's definition, with its versions, is a
table property (`vsql.indexes`), so that it outlives `INSERT OVERWRITE`, which deletes that
folder. `REINDEX` builds a new version and keeps the shards of the last `_KEPT` versions;
`vsql_index_rollback` makes another version active (rebuilt when its shards were not kept): a
version's shards serve only the files they were built from, unchanged, so an old version is never
trusted for rows written since.

A search `ORDER BY e <-> q LIMIT k` (with a WHERE, or none) on an indexed table: Spark evaluates
the filter to the matching keys of each file; each trusted shard is searched, on the driver or in
Spark tasks (`_where_searched`), with those keys as an `IDSelectorBitmap`, deeper until it finds
min(k, its matching rows), else by a flat scan of its vectors; the global nearest candidates are
merged; then Spark runs the statement itself over the candidates, every row of the files no
trusted shard covers (added after the build, or changed since: their size or modification time
differs), and the rows without a vector. Distances, the filter and the final order are Spark's: a
shard out of date is never trusted, so no row is wrong, and k rows come back whenever k rows
match. A LATERAL batch does the same for each distinct query vector of its outer rows, and Spark
ranks each one's own candidates (`_per_query`).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, replace
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from vsql.engine.spark import nearest
from vsql.errors import NotSupportedError, ProgrammingError
from vsql.index.methods import METHODS
from vsql.sql import dialect as d
from vsql.sql.metrics import OPCLASSES

INDEXES_PROPERTY = "vsql.indexes"  # index name -> its definition, a table property
FOLDER = "_vsql_indexes"  # beside the table's files: Spark's readers skip `_` names
_KEY_TYPES = ("BIGINT", "INT")  # Faiss's ids are the keys: signed 64-bit
_FLAT_BELOW = 2000  # matching rows of a shard scanned flat: cheaper than a graph search over a sparse bitmap
_CANDIDATES = 2  # candidates merged per row wanted: Spark recomputes the distances in float32
_KEPT = 3  # the last versions whose shards stay on disk, besides the active one


@dataclass(frozen=True)
class Definition:
    """An index as its table's property keeps it."""

    name: str
    table: str
    column: str
    key: str
    method: str
    opclass: str
    options: dict
    dim: int
    version: int = 1  # the active version: its shards serve
    versions: tuple = ()  # every version's record (`_activate` writes them), oldest first

    @property
    def metric(self):
        return OPCLASSES[self.opclass].metric

    def as_json(self) -> dict:
        return {k: list(v) if k == "versions" else v for k, v in self.__dict__.items() if k not in ("name", "table")}

    def record(self, version: int) -> dict | None:
        return next((r for r in self.versions if r["version"] == version), None)


@dataclass(frozen=True)
class Search:
    """A k-NN statement an index could answer, recognised when lowered (`recognize`); whether an
    index serves it is decided when it runs (another connection may have made or dropped one)."""

    select: exp.Select
    table: exp.Table
    column: str
    metric: str
    query: exp.Expr
    k: int
    explain: bool


@dataclass(frozen=True)
class BatchSearch:
    """A LATERAL k-NN search, one per outer row (`recognize_batch`): `queries`, a statement giving
    the outer rows' query vectors."""

    tree: exp.Expr
    table: exp.Table
    column: str
    metric: str
    queries: exp.Select
    k: int
    explain: bool


@dataclass(frozen=True)
class Shard:
    """A shard trusted for a search: its data file is as the build read it."""

    file: str  # the data file's path as Spark's `_metadata.file_path` gives it
    path: str  # the shard's own file (`_load` reads it: a Faiss index, its slots' keys, the keys it cannot rank)


# -- recognising searches ------------------------------------------------------------------------


def recognize(tree: exp.Expr, columns_of) -> Search | None:
    """The k-NN search of a statement `SELECT ... FROM t [WHERE ...] ORDER BY <distance between a
    column of t and a constant> [, ...] LIMIT k` (or its EXPLAIN); `columns_of(t)`: t's columns
    when it is a table with a key (asked last: it is the catalog's)."""
    explain = isinstance(tree, d.Explain)
    select = tree.this if explain else tree
    if explain and tree.args.get("analyze") or not isinstance(select, exp.Select) or select.args.get("laterals"):
        return None
    found = _searched(select, columns_of, lambda other, alias, columns: not other.find(exp.Column, exp.Select))
    return Search(select, *found[:5], explain) if found else None


def recognize_batch(tree: exp.Expr, columns_of) -> BatchSearch | None:
    """The search of `SELECT ... FROM outer [joins] CROSS JOIN LATERAL (SELECT ... FROM t [WHERE
    <t's columns only>] ORDER BY <t's column> <op> <the outer rows' vector> LIMIT k) n ...`, the
    statement's one LATERAL search (nearest.rewrite makes it Spark's NEAREST join)."""
    explain = isinstance(tree, d.Explain)
    select = tree.this if explain else tree
    if explain and tree.args.get("analyze") or not isinstance(select, exp.Select):
        return None
    joins = select.args.get("joins") or []
    searched = [i for i, j in enumerate(joins) if isinstance(j.this, exp.Lateral) and nearest.searches(j.this)]
    every = [j for j in tree.find_all(exp.Lateral) if nearest.searches(j)]
    if len(searched) != 1 or len(every) != 1 or select.args.get("from_") is None:
        return None
    lateral = joins[searched[0]].this
    inner = lateral.this.this if isinstance(lateral.this, exp.Subquery) else None
    if not isinstance(inner, exp.Select):
        return None

    def outer_only(other: exp.Expr, alias: str, columns: tuple[str, ...]) -> bool:
        return not other.find(exp.Select) and not any(
            c.table == alias or not c.table and c.name.lower() in columns for c in other.find_all(exp.Column))

    found = _searched(inner, columns_of, outer_only)
    if found is None:
        return None
    table, column, metric, query, k, columns = found
    where, alias = inner.args.get("where"), table.alias_or_name
    if where is not None and any(c.table not in ("", alias) or c.name.lower() not in columns
                                 for c in where.find_all(exp.Column)):
        return None  # a filter by the outer row: Spark's NEAREST join cannot (nearest.rewrite says so)
    queries = exp.select(query.copy()).from_(select.args["from_"].copy())
    before = [j.copy() for j in joins[: searched[0]]]
    if before:
        queries.set("joins", before)
    return BatchSearch(tree, table, column, metric, queries, k, explain)


def _searched(select: exp.Select, columns_of, constant) -> tuple | None:
    """(table, column, metric, query, k, t's columns) of `SELECT ... FROM t [WHERE ...] ORDER BY
    <distance between a column of t and a value `constant(value, t's alias, t's columns)` accepts>
    LIMIT k`."""
    source = select.args.get("from_")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or any(select.args.get(a) for a in (
            "joins", "group", "having", "distinct", "offset", "qualify", "windows", "with_")):
        return None
    if any(p.find(exp.AggFunc, exp.Window) for p in select.selects):
        return None
    order = select.args.get("order")
    limit = select.args.get("limit")
    count = limit.expression if limit is not None else None
    if order is None or not (isinstance(count, exp.Literal) and count.is_int and 0 < int(count.this) <= 100_000):
        return None
    first = order.expressions[0]
    distance = first.this
    if isinstance(distance, exp.Column) and not distance.table:
        distance = next((p.this for p in select.selects if p.alias == distance.name), distance)
    if not isinstance(distance, d.DistanceOp) or first.args.get("desc") or first.args.get("nulls_first"):
        return None
    alias = table.alias_or_name
    columns = columns_of(table)
    if columns is None:
        return None
    for side, other in ((distance.this, distance.expression), (distance.expression, distance.this)):
        if isinstance(side, exp.Column) and side.table in ("", alias) and side.name.lower() in columns and \
                constant(other, alias, columns):
            return table, side.name.lower(), distance.metric, other, int(count.this), columns
    return None


# -- definitions, folders, manifests -------------------------------------------------------------


def definitions(engine, table: str, schema: str | None = None) -> dict[str, Definition]:
    """The indexes of `table`, each at its active version."""
    properties = engine._properties(table, [schema] if schema else None)
    return {name: Definition(name, table.lower(), **{**value, "versions": tuple(value.get("versions", ()))})
            for name, value in json.loads(properties.get(INDEXES_PROPERTY, "{}")).items()}


def _all_definitions(engine) -> dict[str, Definition]:
    """Every index of the current database's tables (index names are one namespace, as tables')."""
    found = {}
    for table in engine.spark.catalog.listTables():
        if table.isTemporary or table.tableType == "VIEW":
            continue
        found.update(definitions(engine, table.name))
    return found


def _store(engine, table: str, found: dict[str, Definition]) -> None:
    value = exp.Literal.string(json.dumps({n: x.as_json() for n, x in found.items()})).sql(dialect="spark")
    engine.spark.sql(f"ALTER TABLE {engine.qualified(table)} SET TBLPROPERTIES ('{INDEXES_PROPERTY}' = {value})")


def location(engine, table: str) -> str:
    """The table's folder on this machine's file system (the slice writes shards from the driver)."""
    rows = engine.spark.sql(f"DESCRIBE TABLE EXTENDED {engine.qualified(table)}").collect()
    where = next((r[1] for r in rows if r[0] == "Location"), None)
    if where is None:
        raise NotSupportedError(f'vsql indexes need a file table: "{table}" has no location')
    parsed = urlparse(where)
    if parsed.scheme not in ("", "file"):
        raise NotSupportedError(f"vsql indexes on Spark are kept on the driver's file system for now, not on "
                                f"{parsed.scheme}:// ({table})")
    return unquote(parsed.path)


def _folder(engine, table: str, name: str) -> str:
    return os.path.join(location(engine, table), FOLDER, name)


def _local(path: str) -> str:
    """A data file's path as this machine names it (Spark writes `file:/x`, `file:///x`)."""
    parsed = urlparse(path)
    return os.path.normpath(unquote(parsed.path)) if parsed.scheme in ("", "file") else path


def _manifest(folder: str) -> dict | None:
    try:
        with open(os.path.join(folder, "manifest.json")) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def _files_now(engine, table: str) -> dict[str, tuple[int, int]]:
    """The table's data files as Spark reads them now: local path -> (size, modification ms, as
    Hadoop's local file system and `_metadata.file_modification_time` give it)."""
    now = {}
    for uri in engine.spark.table(engine.qualified(table)).inputFiles():
        path = _local(uri)
        try:
            status = os.stat(path)
        except OSError:  # gone since Spark listed it: Spark's own read will say so
            continue
        now[path] = (status.st_size, status.st_mtime_ns // 1_000_000)
    return now


# -- DDL ------------------------------------------------------------------------------------------


def create(engine, spec, if_not_exists: bool, named: bool, info) -> None:
    """CREATE INDEX on a Spark table (`spec`: vsql.index.spec.IndexSpec, options checked)."""
    taken = _all_definitions(engine)
    tables = {t.name.lower() for t in engine.spark.catalog.listTables()}
    name = spec.name
    if not named:
        name = next(f"{spec.name}{n or ''}" for n in range(10_000) if f"{spec.name}{n or ''}" not in set(taken) | tables)
    if name in taken or name in tables:
        if if_not_exists:
            return
        raise ProgrammingError(f'relation "{name}" already exists')
    if spec.expression or spec.predicate:
        raise NotSupportedError("partial and expression indexes are not supported on the Spark engine yet")
    if OPCLASSES[spec.opclass].type != "vector":
        raise NotSupportedError(f"{spec.opclass} indexes are not supported on the Spark engine: only vector columns")
    key = info.key[0] if len(info.key) == 1 else None
    kind = info.columns.get(key) if key else None
    if kind not in _KEY_TYPES:
        what = f"{', '.join(info.key)} ({', '.join(info.columns.get(k, '?') for k in info.key)})" if info.key else "none"
        raise NotSupportedError(f"a vsql index on Spark needs the table's primary key to be one BIGINT or INT column "
                                f'(Faiss ids): "{info.name}" has {what}')
    definition = Definition(name, info.name.lower(), spec.column, key, spec.method, spec.opclass, spec.options,
                            info.dims[spec.column])
    _activate(engine, definition, 1, spec.options, "create")


def drop(engine, names: list[str], if_exists: bool) -> None:
    every = _all_definitions(engine)
    for name in (n.lower() for n in names):
        definition = every.get(name)
        if definition is None:
            if if_exists:
                continue
            raise ProgrammingError(f'index "{name}" does not exist')
        found = definitions(engine, definition.table)
        found.pop(name, None)
        _store(engine, definition.table, found)
        shutil.rmtree(_folder(engine, definition.table, name), ignore_errors=True)


def reindex(engine, kind: str, name: str) -> None:
    """REINDEX INDEX name | TABLE name: build every shard anew."""
    if kind == "TABLE":
        chosen = list(definitions(engine, name).values())
    else:
        chosen = [_named(engine, name)]
    for definition in chosen:
        _activate(engine, definition, max(r["version"] for r in definition.versions or [{"version": 0}]) + 1,
                  definition.options, "reindex")


def rollback(engine, name: str, version: int) -> str:
    """`vsql_index_rollback`: make `version` active again, from its shards while they are kept,
    else rebuilt with its options (from the table as it is now)."""
    definition = _named(engine, name)
    record = definition.record(version)
    if record is None:
        known = [r["version"] for r in definition.versions]
        raise ProgrammingError(f'index "{definition.name}" has no version {version} (versions: {known})')
    if version == definition.version:
        return f'index "{definition.name}": version {version} is already active'
    kept = os.path.exists(os.path.join(_folder(engine, definition.table, definition.name), f"v{version}"))
    _activate(engine, definition, version, record["options"], None if kept else "rollback")
    how = "from its shards" if kept else "rebuilt: its shards were not kept"
    return f'index "{definition.name}": version {version} active (was {definition.version}), {how}'


def set_recall(engine, name: str, version: int, recall: float) -> None:
    """Record the recall `vsql_evaluate` measured for a version."""
    definition = _named(engine, name)
    versions = tuple({**r, "recall": recall} if r["version"] == version else r for r in definition.versions)
    _save(engine, replace(definition, versions=versions))


def _named(engine, name: str) -> Definition:
    definition = _all_definitions(engine).get(name.lower())
    if definition is None:
        raise ProgrammingError(f'index "{name.lower()}" does not exist')
    return definition


def _activate(engine, definition: Definition, version: int, options: dict, reason: str | None) -> None:
    """Make `version` the index's active one with `options`: built first when `reason` says why
    (its record then replaced), and the shards of versions past the last `_KEPT` deleted."""
    active = replace(definition, version=version, options=options)
    versions = [r for r in definition.versions if r["version"] != version or reason is None]
    if reason is not None:
        manifest = build(engine, active)
        versions.append({"version": version, "options": options, "reason": reason, "created_at": manifest["built_at"],
                         "rows": sum(s["rows"] for s in manifest["shards"]), "shards": len(manifest["shards"]),
                         "build_seconds": manifest["build_seconds"], "recall": None})
    versions.sort(key=lambda r: r["version"])
    _save(engine, replace(active, versions=tuple(versions)))
    folder = _folder(engine, definition.table, definition.name)
    kept = {version, *sorted(r["version"] for r in versions)[-_KEPT:]}
    for entry in os.listdir(folder) if os.path.isdir(folder) else []:
        if entry.startswith("v") and entry[1:].isdigit() and int(entry[1:]) not in kept:
            shutil.rmtree(os.path.join(folder, entry), ignore_errors=True)


def _save(engine, definition: Definition) -> None:
    found = definitions(engine, definition.table)
    found[definition.name] = definition
    _store(engine, definition.table, found)


def build(engine, definition: Definition) -> dict:
    """Index every data file of the table, one shard each, on the executors; write the shards and
    the manifest of the definition's version from the driver."""
    started = time.perf_counter()
    folder = os.path.join(_folder(engine, definition.table, definition.name), f"v{definition.version}")
    frame = engine.spark.sql(
        f"SELECT _metadata.file_path AS f, _metadata.file_size AS s, unix_millis(_metadata.file_modification_time) "
        f"AS t, {exp.to_identifier(definition.key, quoted=True).sql('spark')} AS k, "
        f"{exp.to_identifier(definition.column, quoted=True).sql('spark')} AS v "
        f"FROM {engine.qualified(definition.table)}")
    settings = json.dumps(_settings(definition))
    with warnings.catch_warnings():  # pyspark 4.3 warns of pandas 3 on mapInArrow, which takes no pandas
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        built = frame.mapInArrow(_builder(settings), _SHARD_SCHEMA).toArrow()
    staging = folder + ".building"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    shards = []
    for i, row in enumerate(built.to_pylist()):
        path = f"shard-{i:05d}.npz"
        with open(os.path.join(staging, path), "wb") as handle:
            handle.write(row["shard"])
        shards.append({"file": row["f"], "size": row["s"], "mtime": row["t"], "rows": row["rows"], "path": path,
                       "seconds": round(row["seconds"], 3)})
    manifest = {"name": definition.name, "table": definition.table,
                **{k: v for k, v in definition.as_json().items() if k != "versions"},
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "build_seconds": round(time.perf_counter() - started, 3), "shards": shards}
    with open(os.path.join(staging, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=1)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    os.rename(staging, folder)
    return manifest


_SHARD_SCHEMA = "f string, s long, t long, rows long, seconds double, shard binary"


def _builder(settings: str):
    """The function each task runs over its rows (`mapInArrow`): one shard per data file it read."""

    def build_shards(batches):
        import faiss

        faiss.omp_set_num_threads(1)  # Spark runs a task per core
        config = json.loads(settings)
        table = pa.Table.from_batches(list(batches))
        if not table.num_rows:
            return
        files = table.column("f").combine_chunks()
        for name in pc.unique(files).to_pylist():
            part = table.filter(pc.equal(files, name))
            started = time.perf_counter()
            shard = _shard_bytes(part, config)
            yield pa.RecordBatch.from_pylist([{
                "f": name, "s": part.column("s")[0].as_py(), "t": part.column("t")[0].as_py(),
                "rows": part.num_rows, "seconds": time.perf_counter() - started, "shard": shard}],
                schema=pa.schema([("f", pa.string()), ("s", pa.int64()), ("t", pa.int64()), ("rows", pa.int64()),
                                  ("seconds", pa.float64()), ("shard", pa.binary())]))

    return build_shards


def _shard_bytes(part: pa.Table, config: dict) -> bytes:
    """One file's rows as a Faiss index, its slots' keys, and the keys it cannot rank (rows
    without a distance under a normalised metric: zero vectors), as one .npz."""
    import faiss

    part = part.filter(pc.is_valid(part.column("v")))  # rows without a vector: Spark orders them itself
    keys = part.column("k").to_numpy().astype(np.int64)
    dim = config["dim"]
    values = pc.list_flatten(part.column("v").combine_chunks()).to_numpy(zero_copy_only=False)
    vectors = np.ascontiguousarray(values.reshape(len(keys), dim), dtype=np.float32)
    metric = OPCLASSES[config["opclass"]].metric
    always = np.empty(0, np.int64)
    if metric.normalized and len(vectors):
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        zero = norms[:, 0] == 0
        always, keys, vectors = keys[zero], keys[~zero], vectors[~zero] / norms[~zero]
    index = METHODS[config["method"]].create(dim, getattr(faiss, metric.faiss), config["options"], vectors)
    if len(vectors):
        index.add(vectors)
    buffer = io.BytesIO()
    np.savez(buffer, keys=keys, always=always, index=faiss.serialize_index(index))
    return buffer.getvalue()


# -- searching ------------------------------------------------------------------------------------

_LOADED: dict[str, tuple] = {}  # shard path -> (its mtime, faiss index, keys, always)
_LOADED_LOCK = threading.Lock()
_LOADED_MAX = 256


def _load(path: str):
    import faiss

    stat = os.stat(path)
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _LOADED_LOCK:
        found = _LOADED.get(path)
        if found is not None and found[0] == stamp:
            return found[1:]
    with np.load(path) as data:
        loaded = (faiss.deserialize_index(data["index"]), data["keys"], data["always"])
    with _LOADED_LOCK:
        if len(_LOADED) >= _LOADED_MAX:
            _LOADED.clear()
        _LOADED[path] = (stamp, *loaded)
    return loaded


def serving(engine, search: Search) -> Definition | None:
    """The index on the searched column for the search's metric, if the table has one: the oldest,
    at its active version, unless `engine.pinned` names one and its version (`vsql_evaluate`,
    `vsql_compare` measuring it)."""
    found = definitions(engine, search.table.name, search.table.db or None)
    matching = {n: x for n, x in found.items() if x.column == search.column and x.metric.name == search.metric}
    name, version = engine.pinned.get((search.table.name.lower(), search.column, search.metric), (None, None))
    if name in matching and matching[name].record(version):
        return replace(matching[name], version=version, options=matching[name].record(version)["options"])
    return next(iter(matching.values()), None)


def run(engine, search: Search, definition: Definition, params, query_vector: np.ndarray, lower) -> tuple[str, str]:
    """The statement Spark runs (over the candidates the shards found, and the rows of the files
    they do not cover), and EXPLAIN's account of the search."""
    where = search.select.args.get("where")
    nearest_keys, always, trusted, plan = _candidates(engine, search.table, search.column, search.metric, search.k,
                                                      definition, query_vector.reshape(1, -1), where, params, lower)
    candidates = np.unique(np.concatenate([always, nearest_keys[nearest_keys >= 0]]))
    return lower(_restricted(search, definition, candidates, trusted)), plan


def run_batch(engine, batch: BatchSearch, definition: Definition, params, lower) -> tuple[str, str]:
    """A LATERAL search's statement, each distinct query vector of the outer rows ranked by Spark
    among its own candidates only (`_per_query`), with the rows of the files no shard covers."""
    values = engine.spark.sql(lower(batch.queries), args=params).toArrow().column(0).combine_chunks()
    if not len(values) or values.null_count or len(pc.unique(pc.list_value_length(values))) > 1 or \
            pc.list_value_length(values)[0].as_py() != definition.dim:
        queries = np.full((1, definition.dim), np.nan, np.float32)  # Spark ranks (or refuses) them itself
    else:
        flat = pc.list_flatten(values).to_numpy(zero_copy_only=False)
        queries = np.unique(flat.reshape(len(values), definition.dim).astype(np.float32), axis=0)
    tree = batch.tree.copy()
    tree = tree.this if batch.explain else tree
    join = next(j for j in tree.find_all(exp.Join) if isinstance(j.this, exp.Lateral) and nearest.searches(j.this))
    inner = join.this.this.this
    nearest_keys, always, trusted, plan = _candidates(engine, batch.table, batch.column, batch.metric, batch.k,
                                                      definition, queries, inner.args.get("where"), params, lower)
    plan = f"{len(values)} outer rows, {len(queries)} distinct query vectors\n{plan}"
    outer = join.parent
    if not trusted or any(e.is_star for e in outer.expressions):  # `*` would show the pairing's columns
        return lower(tree), plan
    pairs = [np.unique(np.concatenate([always, row[row >= 0]])) for row in nearest_keys]
    tag = f"__vsql_batch_{uuid.uuid4().hex}"
    engine.register(f"{tag}_q", pa.table({
        _QI: pa.array(np.arange(len(queries), dtype=np.int32)),
        _Q: pa.FixedSizeListArray.from_arrays(queries.ravel(), definition.dim).cast(pa.list_(pa.float32()))}))
    engine.register(f"{tag}_k", pa.table({
        _QI: pa.array(np.repeat(np.arange(len(queries), dtype=np.int32), [len(p) for p in pairs])),
        _KEY: pa.array(np.concatenate(pairs) if pairs else np.empty(0, np.int64))}))
    join.replace(_per_query(join, batch.queries.selects[0], definition, trusted, tag))
    return lower(tree), f"{plan}\nranked by Spark per query vector: {sum(map(len, pairs))} (query, row) pairs " \
                        f"and every row of the files no shard covers"


_QI, _Q, _KEY, _RANK = "__vsql_qi", "__vsql_q", "__vsql_key", "__vsql_rank"


def _per_query(join: exp.Join, query: exp.Expr, definition: Definition, trusted: list[str], tag: str) -> exp.Join:
    """`[LEFT] JOIN LATERAL (SELECT ... FROM t WHERE w ORDER BY e <op> query LIMIT k) n` as

        [LEFT] JOIN (SELECT * FROM (SELECT ..., t.__vsql_q, row_number() OVER (PARTITION BY
            t.__vsql_qi ORDER BY e <op> t.__vsql_q NULLS LAST, t.key) AS __vsql_rank
          FROM <t's rows paired with the query vectors they are candidates for> t WHERE w)
          WHERE __vsql_rank <= k) n ON n.__vsql_q = query

    over the views `<tag>_q` (each distinct query vector and its number) and `<tag>_k` (each
    number's candidate keys): a row of a trusted file is paired with the queries it is a candidate
    for, a row of any other file (or without a vector) with every query. Spark then ranks each
    query's own few rows, where its NEAREST join ranks every outer row against the union of all
    candidates."""
    lateral = join.this
    inner = lateral.this.this.copy()
    table = inner.args["from_"].this
    alias = table.alias_or_name
    for node in list(inner.find_all(type(query))):
        if node == query:
            node.replace(exp.column(_Q, table=alias))
    order = inner.args["order"].expressions[0].this
    if isinstance(order, exp.Column) and not order.table:
        order = next((p.this for p in inner.selects if p.alias == order.name), order)
    key = exp.column(exp.to_identifier(definition.key, quoted=True), table=alias)
    rank = exp.Window(this=exp.RowNumber(), partition_by=[exp.column(_QI, table=alias)], order=exp.Order(
        expressions=[exp.Ordered(this=order.copy(), nulls_first=False), exp.Ordered(this=key, nulls_first=False)]))
    base = exp.Table(this=table.this.copy(), db=table.args.get("db"))
    files = exp.In(this=exp.column("file_path", table="_metadata"), expressions=[exp.Literal.string(f) for f in trusted])
    paired = exp.select("t.*", f"q.{_QI}", f"q.{_Q}").from_(
        exp.select("*").from_(base.copy()).where(files).subquery("t")).join(
        exp.Table(this=exp.to_identifier(f"{tag}_k"), alias=exp.TableAlias(this=exp.to_identifier("c"))),
        on=exp.column(exp.to_identifier(definition.key, quoted=True), table="t").eq(exp.column(_KEY, table="c"))).join(
        exp.Table(this=exp.to_identifier(f"{tag}_q"), alias=exp.TableAlias(this=exp.to_identifier("q"))),
        on=exp.column(_QI, table="q").eq(exp.column(_QI, table="c")))
    everyone = exp.select("t.*", f"q.{_QI}", f"q.{_Q}").from_(
        exp.select("*").from_(base).where(_restriction(definition, np.empty(0, np.int64), trusted)).subquery("t")).join(
        exp.Table(this=exp.to_identifier(f"{tag}_q"), alias=exp.TableAlias(this=exp.to_identifier("q"))), join_type="CROSS")
    table.replace(exp.union(paired, everyone, distinct=False).subquery(alias))
    k = inner.args["limit"].expression.copy()
    inner.set("order", None)
    inner.set("limit", None)
    inner.select(exp.column(_Q, table=alias), exp.alias_(rank, _RANK), copy=False)
    ranked = exp.select("*").from_(inner.subquery("r")).where(exp.LTE(this=exp.column(_RANK), expression=k))
    return exp.Join(this=ranked.subquery(lateral.alias_or_name), side="LEFT" if join.side == "LEFT" else None,
                    on=exp.column(_Q, table=lateral.alias_or_name).eq(query.copy()))


def _candidates(engine, table: exp.Table, column: str, metric_name: str, k: int, definition: Definition,
                queries: np.ndarray, where, params, lower) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """The keys that may be among each query's k nearest rows the WHERE keeps: for each query the
    nearest `_CANDIDATES * k` the trusted shards find (-1: none), and the keys they cannot rank
    (candidates of every query); then the data files of those shards, and EXPLAIN's account. The
    shards are searched where `_where_searched` says: on the driver, or on the executors."""
    metric = definition.metric
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    norms = np.linalg.norm(queries, axis=1, keepdims=True)
    usable = queries.shape[1] == definition.dim and bool(np.isfinite(queries).all()) and \
        not (metric.normalized and not norms.all())
    if metric.normalized and usable:
        queries = queries / norms
    files, trusted, exact, gone = _shards(engine, table.name, definition)
    if not usable:  # NaN distances (a zero query under cosine, a NULL one): Spark orders every row itself
        exact += [(os.path.basename(_local(s.file)), "a query vector has no distance to rank rows by") for s in trusted]
        trusted = []
    where_searched = _where_searched(engine) if trusted else "driver"
    if where_searched == "executors":
        chosen, always, lines = _on_executors(engine, table, definition, trusted, queries, k, where, params, lower)
    else:
        import faiss

        matching = _matching(engine, table, definition, where, params, lower) if where is not None and trusted else None
        faiss.omp_set_num_threads(1 if len(queries) < 8 else os.cpu_count() or 1)  # a query or two: threads would wait
        chosen, _, always, lines = _search_shards(_settings(definition, engine), queries, k, [
            (s, None if matching is None else matching.get(_local(s.file), np.empty(0, np.int64))) for s in trusted])
    head = (f"vsql k-NN search on {table.name}.{column} ({metric_name}), k = {k}: index {definition.name} (version "
            f"{definition.version}), {len(trusted)} of {files} files through their shards (searched on the "
            f"{where_searched}), {files - len(trusted)} searched exactly by Spark; "
            f"{len(np.unique(chosen[chosen >= 0])) + len(always)} candidates")
    lines += [f"  {name}: exact (Spark): {why}" for name, why in exact]
    lines += [f"  {name}: shard dropped: its file is gone" for name in gone]
    return chosen, always, [s.file for s in trusted], "\n".join([head, *lines])


SEARCH_WHERE = "spark.vsql.shardSearch"  # "driver" or "executors"; unset: the driver when the master is local


def _where_searched(engine) -> str:
    """Where shards are searched: on a local master, the driver (the executors are its threads,
    and it keeps the shards it loaded); on a cluster, the executors (shards past one machine)."""
    chosen = engine.spark.conf.get(SEARCH_WHERE, None)
    if chosen is None:
        master = engine.spark.conf.get("spark.master", "local")
        chosen = "driver" if master.startswith("local") else "executors"
    if chosen not in ("driver", "executors"):
        raise ProgrammingError(f'invalid value for parameter "{SEARCH_WHERE}": "{chosen}" (driver or executors)')
    return chosen


def _settings(definition: Definition, engine=None) -> dict:
    """What a task needs to build or search the index's shards; searching, the depth the session
    set (`SET hnsw.ef_search`, `SET ivfflat.probes`), if it did."""
    chosen = getattr(engine, "settings", None)
    depth = chosen.get(METHODS[definition.method].depth_setting) if chosen is not None else None
    return {"method": definition.method, "opclass": definition.opclass, "options": definition.options,
            "dim": definition.dim, "depth": depth}


def _search_shards(settings: dict, queries: np.ndarray, k: int, shards) -> tuple:
    """Search each (shard, the keys its WHERE keeps or None: every row), and merge: per query the
    nearest `_CANDIDATES * k` keys (-1: none) and their distances, the keys no shard can rank, and
    a line per shard. Runs on the driver, or in a task over the shards it was given (`_on_executors`)."""
    metric, access = OPCLASSES[settings["opclass"]].metric, METHODS[settings["method"]]
    lines, found_keys, found_distances, always = [], [], [], [np.empty(0, np.int64)]
    for shard, allowed in shards:
        index, keys, cannot = _load(shard.path)
        always.append(cannot)
        name = os.path.basename(_local(shard.file))
        mask = None if allowed is None else np.isin(keys, allowed)
        count = len(keys) if mask is None else int(mask.sum())
        want = min(k, count)
        if want == 0:
            lines.append(f"  {name}: index, 0 of {len(keys)} rows match")
            continue
        selector = None if mask is None or mask.all() else _bitmap(mask)
        scores, slots, how = _search(access, index, queries, want, count, len(keys), selector, mask is not None,
                                     settings.get("depth"))
        hit = slots >= 0
        found_keys.append(np.where(hit, keys[np.maximum(slots, 0)], -1))
        found_distances.append(np.where(hit, metric.from_faiss(scores).astype(np.float64), np.inf))
        lines.append(f"  {name}: index ({settings['method']}), {count} of {len(keys)} rows match: {how}, "
                     f"{int(hit.sum())} found")
    return (*_merged(found_keys, found_distances, len(queries), k), np.unique(np.concatenate(always)), lines)


def _merged(found_keys: list[np.ndarray], found_distances: list[np.ndarray], count: int, k: int) -> tuple:
    """Per query, the nearest `_CANDIDATES * k` of the keys found (-1 past the end), and their distances."""
    if not found_keys:
        return np.full((count, 0), -1, np.int64), np.full((count, 0), np.inf)
    keys, distances = np.hstack(found_keys), np.hstack(found_distances)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, : k * _CANDIDATES]
    distances = np.take_along_axis(distances, nearest, axis=1)
    return np.where(distances < np.inf, np.take_along_axis(keys, nearest, axis=1), -1), distances


_FOUND_SCHEMA = "keys binary, distances binary, width int, always binary, lines string"


def _on_executors(engine, table: exp.Table, definition: Definition, shards: list[Shard], queries: np.ndarray, k: int,
                  where, params, lower) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`_search_shards` in Spark tasks, each over some of the shards (with the keys its WHERE
    keeps, which Spark computes and joins to each shard's file): the driver gets each task's
    merged candidates (queries x 2k keys) and merges those."""
    listing = engine.spark.createDataFrame(pa.table({"f": [s.file for s in shards], "p": [s.path for s in shards]}))
    if where is not None:
        matching = engine.spark.sql(lower(_keyed(table, definition, where)), args=params).groupBy("f").agg({"k": "collect_list"})
        listing = listing.join(matching.toDF("f", "m"), "f", "left").selectExpr(
            "f", "p", "coalesce(m, CAST(array() AS ARRAY<BIGINT>)) AS m")
    listing = listing.repartition(min(len(shards), int(engine.spark.conf.get("spark.sql.shuffle.partitions", "200"))))
    task = _searcher(json.dumps(_settings(definition, engine)), queries, k, where is not None)
    with warnings.catch_warnings():  # pyspark 4.3 warns of pandas 3 on mapInArrow, which takes no pandas
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        parts = listing.mapInArrow(task, _FOUND_SCHEMA).toArrow().to_pylist()
    found_keys = [np.frombuffer(p["keys"], np.int64).reshape(len(queries), p["width"]) for p in parts]
    found_distances = [np.frombuffer(p["distances"], np.float64).reshape(len(queries), p["width"]) for p in parts]
    always = np.unique(np.concatenate([np.empty(0, np.int64), *(np.frombuffer(p["always"], np.int64) for p in parts)]))
    lines = sorted(line for p in parts for line in p["lines"].splitlines() if line)
    return _merged(found_keys, found_distances, len(queries), k)[0], always, lines


def _searcher(settings: str, queries: np.ndarray, k: int, filtered: bool):
    """The function each task runs over its shards (`mapInArrow`): one row of merged candidates."""

    def search(batches):
        import faiss

        faiss.omp_set_num_threads(1)  # Spark runs a task per core
        rows = [row for batch in batches for row in batch.to_pylist()]
        if not rows:
            return
        keys, distances, always, lines = _search_shards(json.loads(settings), queries, k, [
            (Shard(r["f"], r["p"]), np.asarray(r["m"], np.int64) if filtered else None) for r in rows])
        yield pa.RecordBatch.from_pylist([{
            "keys": keys.tobytes(), "distances": distances.tobytes(), "width": keys.shape[1],
            "always": always.tobytes(), "lines": "\n".join(lines)}], schema=pa.schema([
                ("keys", pa.binary()), ("distances", pa.binary()), ("width", pa.int32()), ("always", pa.binary()),
                ("lines", pa.string())]))

    return search


def _shards(engine, table: str, definition: Definition) -> tuple[int, list[Shard], list[tuple[str, str]], list[str]]:
    """The table's files now: how many, the shards trusted for them, the files searched
    exactly with the reason, and the shards whose files are gone."""
    folder = os.path.join(_folder(engine, table, definition.name), f"v{definition.version}")
    manifest = _manifest(folder)
    now = _files_now(engine, table)
    shards = {} if manifest is None else {_local(s["file"]): s for s in manifest["shards"]}
    trusted, exact = [], []
    for path, (size, mtime) in sorted(now.items()):
        shard, name = shards.get(path), os.path.basename(path)
        if shard is None:
            exact.append((name, "added since the index was built" if manifest else "no shard (REINDEX builds it)"))
        elif (shard["size"], shard["mtime"]) != (size, mtime):
            exact.append((name, "changed since the index was built (size or modification time)"))
        else:
            path = os.path.join(folder, shard["path"])
            if os.path.isfile(path):
                trusted.append(Shard(shard["file"], path))
            else:  # REINDEX replacing the folder under this search
                exact.append((name, "its shard could not be read"))
    return len(now), trusted, exact, [os.path.basename(f) for f in shards if f not in now]


def _search(access, index, query, want: int, count: int, total: int, selector, filtered: bool, chosen: int | None):
    """Faiss's scores and slots of the `want` nearest allowed rows of a shard for each query, and
    how they were found: through the graph or lists at the depth the user `chosen` (`SET
    hnsw.ef_search`) or the method's, deeper until every query finds `want`, else by a flat scan."""
    if count <= 4 * want or count < total and count <= _FLAT_BELOW:  # a sparse bitmap: the graph would wander
        flat, params = access.scan(index, selector)
        scores, slots = flat.search(query, want, params=params)
        return scores, slots, f"flat scan of the {count} matching rows"
    depth, cap = access.filtered_depth(index, want, count / total)
    depth = chosen or depth
    cap = max(cap, depth)
    while True:
        scores, slots = access.search(index, query, want, depth, selector, filtered)
        if (slots >= 0).sum(axis=1).min() >= want:
            return scores, slots, f"{access.depth_label} = {depth}"
        if depth >= cap:
            flat, params = access.scan(index, selector)
            scores, slots = flat.search(query, want, params=params)
            return scores, slots, f"{access.depth_label} = {depth} found too few: flat scan"
        depth = min(depth * 4, cap)


def _bitmap(mask: np.ndarray):
    import faiss

    bits = np.packbits(mask, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
    selector.bits_owner = bits
    return selector


def _keyed(table: exp.Table, definition: Definition, where: exp.Expr) -> exp.Select:
    """`SELECT <data file> AS f, <key> AS k FROM t WHERE ...`: the rows a search's WHERE keeps."""
    return exp.select(
        exp.alias_(exp.column("file_path", table="_metadata"), "f"),
        exp.alias_(exp.column(exp.to_identifier(definition.key, quoted=True),
                              table=exp.to_identifier(table.alias_or_name)), "k"),
    ).from_(table.copy()).where(where.this.copy())


def _matching(engine, table: exp.Table, definition: Definition, where: exp.Expr, params, lower) -> dict:
    """The keys of the rows the WHERE keeps, by data file (local path)."""
    rows = engine.spark.sql(lower(_keyed(table, definition, where)), args=params).toArrow()
    files = rows.column("f").combine_chunks()
    keys = rows.column("k").to_numpy().astype(np.int64)
    if not len(keys):
        return {}
    order = np.argsort(files.to_numpy(zero_copy_only=False), kind="stable")
    names = files.to_numpy(zero_copy_only=False)[order]
    keys = keys[order]
    cuts = np.flatnonzero(names[1:] != names[:-1]) + 1
    return {_local(names[start]): keys[start:stop] for start, stop in zip([0, *cuts], [*cuts, len(keys)])}


def _restricted(search: Search, definition: Definition, candidates: np.ndarray, trusted: list[str]) -> exp.Expr:
    """The statement over the candidates, the rows of every file no trusted shard covers, and the
    rows without a vector: Spark computes the rest (distances, filter, order) itself."""
    top = search.select.copy()
    table = top.args["from_"].this
    if not trusted:
        return top
    inner = exp.select("*").from_(exp.Table(this=table.this.copy(), db=table.args.get("db"))).where(
        _restriction(definition, candidates, trusted))
    alias = table.alias_or_name
    table.replace(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias))))
    return top


def _restriction(definition: Definition, candidates: np.ndarray, trusted: list[str]) -> exp.Expr:
    """The rows a search through the trusted shards leaves for Spark to rank: the candidates, the
    rows of every other file, and the rows without a vector."""
    parts = [
        exp.In(this=exp.column("file_path", table="_metadata"), expressions=[exp.Literal.string(f) for f in trusted]
               ).not_(),
        exp.Is(this=exp.column(exp.to_identifier(definition.column, quoted=True)), expression=exp.Null()),
    ]
    if len(candidates):
        key = exp.column(exp.to_identifier(definition.key, quoted=True))
        parts.insert(0, exp.In(this=key, expressions=[exp.Literal.number(int(c)) for c in candidates]))
    return exp.paren(exp.or_(*parts, copy=False), copy=False)
