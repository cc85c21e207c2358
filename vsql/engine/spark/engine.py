"""vsql's second engine: one SparkSession, local or wrapped, with vsql's SQL lowered to Spark SQL.

Tables are Spark's file tables (Parquet, in the session's warehouse): no transactions, no UPDATE
or DELETE. k-NN is exact (Spark's `ORDER BY ... LIMIT k` is a per-partition top-k and a merge)
unless a vsql index serves it: one Faiss shard per data file (`vsql.engine.spark.ann`), whose
DDL this engine carries out itself (`index_catalog`). Statements run eagerly on `run`; a query's
rows come back as Arrow.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.errors import PySparkException
from sqlglot import exp

from vsql.engine.base import Result, Statement
from vsql.engine.catalog import Catalog, TableInfo
from vsql.engine.spark import ann
from vsql.engine.spark.indexes import SparkIndexes
from vsql.engine.spark.lowering import (
    DIMS_PROPERTY,
    KEY_PROPERTY,
    NOT_NULL_PROPERTY,
    Shape,
    parameter_name,
    to_sql,
)
from vsql.errors import NotSupportedError
from vsql.sql import dialect as d

with warnings.catch_warnings():
    # pyspark 4.3 warns that it does not fully support pandas 3, once, when it first loads this
    # module of its own (it does on binding parameters, from Arrow ...); vsql hands it Arrow, never pandas.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    import pyspark.testing.utils  # noqa: F401

# A local session for vsql: on the loopback address, without the UI, with the JVM options that cut
# its start and short jobs by about a third (shared/FACTS.md).
LOCAL_CONFIG = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    "spark.sql.session.timeZone": "UTC",
}
_MAIN = "main"  # vsql's (and DuckDB's) name for the schema unqualified names resolve in
_CATALOG_SCHEMA = "vsql"  # where vsql keeps its indexes and models on DuckDB: not on Spark yet


_CONNECT_MODE = "SPARK_CONNECT_MODE_ENABLED"  # pyspark's mark of a Connect client process
_PARTITION_BYTES = 128 << 20  # Spark's own split size for reading files (spark.sql.files.maxPartitionBytes)

# Sessions vsql started, by id: [their temporary warehouse or None, vsql connections using them,
# None for a classic session, else whether pyspark's Connect mark was vsql's doing]
_STARTED: dict[int, list] = {}


class SparkSQL(str):
    """Spark SQL that vsql lowered; a plain `str` given to `run` is SQL that engine-neutral code
    wrote for DuckDB (vsql's catalogs), which this engine does not run."""


class IndexStatement(SparkSQL):
    """vsql's index DDL on Spark (CREATE / DROP INDEX, REINDEX): carried out by `ann` when run."""

    def __new__(cls, text: str, action):
        made = super().__new__(cls, text)
        made.action = action
        return made


class SearchStatement(SparkSQL):
    """A k-NN statement an index may serve (its text: the exact statement, run when none does)."""

    def __new__(cls, text: str, search: ann.Search | ann.BatchSearch):
        made = super().__new__(cls, text)
        made.search = search
        return made


class SparkEngine:
    """One SparkSession (see `vsql.engine.base.Engine`)."""

    conflict = type("NoConflict", (Exception,), {})  # Spark has no transactions to conflict
    transactions = False  # every statement commits as it runs: DB-API connections are autocommit
    index_catalog = SparkIndexes  # vsql's index DDL comes here lowered (vsql.engine.spark.ann), not to vsql.index.store
    path = None  # tables live in Spark's warehouse, not in a file vsql opens
    read_only = False

    def __init__(self, spark, owned: bool = False):
        self.spark = spark
        self.database = spark.catalog.currentCatalog()
        self._owned = owned  # a session vsql started: stopped when its last vsql connection closes
        self._views: set[str] = set()
        self.last_search: str | None = None  # what the last search through an index did (EXPLAIN's text)
        self.pinned: dict[tuple[str, str, str], tuple[str, int]] = {}  # (table, column, metric) -> index, version
        self.settings = None  # the session's settings (`SparkIndexes` gives them): searches read their depths
        if owned:
            _STARTED[id(spark)][1] += 1

    @classmethod
    def connect(cls, target: str = "spark://local[*]", read_only: bool = False, config: dict | None = None,
                session=None) -> SparkEngine:
        """`spark://local[2]` starts a local session (`spark://host:7077`: Spark's own master URL);
        `sc://host:15002` opens one on a Spark Connect server; `session`: wrap an existing
        SparkSession as it is. Spark keeps one classic session per process: while one runs,
        connecting returns it (with its settings), and only one vsql started is stopped by vsql
        (when its last connection closes)."""
        if read_only:
            raise NotSupportedError("read_only is not supported on the Spark engine: Spark has no read-only sessions")
        if session is not None:
            return cls(session)
        from pyspark.sql import SparkSession

        if target.startswith("sc://"):
            return cls._remote(target, config or {})
        running = SparkSession.getActiveSession()
        if running is not None:
            return cls(running, owned=id(running) in _STARTED)
        rest = target.removeprefix("spark://")
        master = rest if rest.startswith("local") or not rest else f"spark://{rest}"
        local = not rest or master.startswith("local")
        settings = {**(LOCAL_CONFIG if local else {}), **(config or {})}
        warehouse = None
        if "spark.sql.warehouse.dir" not in settings:  # not the working directory's spark-warehouse
            warehouse = tempfile.mkdtemp(prefix="vsql-spark-")
            settings["spark.sql.warehouse.dir"] = warehouse
        if local:
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # index builds run vsql's Python on the workers
            settings.setdefault("spark.sql.shuffle.partitions", str(os.cpu_count() or 2))
        builder = SparkSession.builder.master(master or "local[*]").appName("vsql")
        for key, value in settings.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("OFF")  # failures reach the caller as vsql's errors, not as log lines
        _quiet()
        _STARTED[id(spark)] = [warehouse, 0, None]
        return cls(spark, owned=True)

    @classmethod
    def _remote(cls, target: str, config: dict) -> SparkEngine:
        """A session of its own on a Spark Connect server (the server's warehouse and settings;
        `config`: session settings). Index shards are written by this client into the table's
        folder: it must see the server's file system (the same machine, or a shared mount)."""
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.remote(target)
        for key, value in config.items():
            builder = builder.config(key, value)
        flagged = _CONNECT_MODE in os.environ
        with warnings.catch_warnings():  # as on import above: its client checks pandas' version on start
            warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
            spark = builder.create()
        _quiet()
        # pyspark marks the process as a Connect client for good (its functions, and child processes,
        # then take Connect's path): vsql unmarks it when its last Connect session closes
        _STARTED[id(spark)] = [None, 0, not flagged]
        return cls(spark, owned=True)

    # -- statements -------------------------------------------------------------------------

    def lower(self, tree: exp.Expr) -> list[str]:
        own = self._index_ddl(tree)
        if own is not None:
            return [own]
        lowered = [SparkSQL(sql) for sql in to_sql(tree, self._shape)]
        search = ann.recognize(tree, self._keyed_columns) or ann.recognize_batch(tree, self._keyed_columns)
        if search is not None:
            lowered[-1] = SearchStatement(lowered[-1], search)
        return lowered

    def _keyed_columns(self, table: exp.Table) -> tuple[str, ...] | None:
        """A table's columns when it is one vsql may index (a file table with a key), else None."""
        try:
            shape = self._shape(table)
        except PySparkException:  # a temporary view has no table properties
            return None
        return shape.columns if shape is not None and shape.key else None

    def _index_ddl(self, tree: exp.Expr) -> IndexStatement | None:
        """vsql's index statements, carried out here (the session hands them over: `index_catalog`)."""
        from vsql.index.spec import parse_create
        from vsql.sql import statements as st

        if isinstance(tree, exp.Create) and tree.kind == "INDEX":
            catalog = Catalog(self, lambda: ({}, {}))
            found = parse_create(tree, catalog)
            if found is None:
                return None  # not vsql's method: lowering refuses it
            spec, if_not_exists, named = found
            info = catalog.table(spec.table, spec.schema if spec.schema != _MAIN else None)
            return IndexStatement("CREATE INDEX", lambda: ann.create(self, spec, if_not_exists, named, info))
        if isinstance(tree, exp.Drop) and tree.kind == "INDEX":
            names = [t.name for t in tree.args.get("tables") or []]
            return IndexStatement("DROP INDEX", lambda: ann.drop(self, names, bool(tree.args.get("exists"))))
        if isinstance(tree, st.Reindex):
            kind, name = tree.args["kind"], tree.this.name
            return IndexStatement("REINDEX", lambda: ann.reindex(self, kind, name))
        if isinstance(tree, (st.CreateVectorAlias, st.AlterVectorAlias, st.DropVectorAlias, st.SetModel)) or \
                isinstance(tree, exp.Alter) and tree.kind == "INDEX":
            raise NotSupportedError("vector aliases, ALTER INDEX and embedding models are not supported on the Spark "
                                    "engine yet")
        return None

    def run(self, statement: Statement, params: Any = None):
        if isinstance(statement, exp.Expr):
            statement = self.lower(statement)[-1]
        if isinstance(statement, IndexStatement):
            statement.action()
            return _Cursor(None, statement)
        if isinstance(statement, SearchStatement):
            return self._search(statement, params)
        self.last_search = None
        if not isinstance(statement, SparkSQL):
            raise NotSupportedError(
                "vsql's catalog (indexes, vector aliases, embedding models) is not on the Spark engine yet: "
                "CREATE INDEX, vector aliases and models are not supported there")
        return _Cursor(self.spark.sql(statement, args=_args(params)), statement)

    def result(self, cursor: _Cursor, rows: bool, counts: bool) -> Result:
        if counts:
            return Result(None, cursor.written())
        if not rows or not cursor.frame.columns:
            return Result(None, -1)
        table = _vectors_fixed(cursor.frame.toArrow())
        return Result(table, table.num_rows, columns=list(zip(table.schema.names, self.type_names(table.schema))))

    def rows(self, statement: Statement, params: Any = None) -> list[tuple]:
        cursor = self.run(statement, params)
        if _writes(cursor.sql):
            return [(cursor.written(),)]  # as DuckDB answers a write: its count
        return [tuple(row) for row in cursor.frame.collect()]

    def arrow(self, statement: Statement, params: Any = None) -> pa.Table:
        return _vectors_fixed(self.run(statement, params).frame.toArrow())

    def keys(self, statement: Statement, params: Any = None) -> np.ndarray:
        table = self.arrow(statement, params)
        return table.column(0).to_numpy().astype(np.int64)

    def bits(self, column: pa.Array) -> np.ndarray:
        raise NotSupportedError("bit strings are not supported on the Spark engine: Spark has none")

    def columns(self, statement: Statement, params: Any = None) -> dict[str, np.ndarray]:
        table = self.arrow(statement, params)
        return {name: table.column(name).to_numpy() for name in table.schema.names}

    # -- data and functions -----------------------------------------------------------------

    def register(self, name: str, data: pa.Table | pa.RecordBatchReader) -> None:
        """Arrow data as a temporary view, in one partition per `_PARTITION_BYTES` (Spark would cut
        it into 10,000-row partitions, and a load would write one small file, one shard, each)."""
        if isinstance(data, pa.RecordBatchReader):
            data = data.read_all()
        frame = self.spark.createDataFrame(data)
        frame.coalesce(max(1, -(-data.nbytes // _PARTITION_BYTES))).createOrReplaceTempView(name)
        self._views.add(name)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        self._views.discard(name)

    def register_function(self, name: str, function, params, returns: str) -> None:
        """vsql's functions over Arrow (embed's model calls) are not on Spark yet: statements that
        call them are refused when lowered."""

    def register_batch(self, name: str, function) -> None:
        """vsql's planner sends no batches here: this engine serves LATERAL searches through its
        own indexes (`ann.run_batch`)."""

    # -- transactions and connections -------------------------------------------------------

    def begin(self) -> None:
        """Spark has no transactions: vsql's own steps (DDL, then its catalog) run one by one."""

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def fork(self) -> SparkEngine:
        return SparkEngine(self.spark.newSession())

    def interrupt(self) -> None:
        self.spark.interruptAll()

    def close(self) -> None:
        for name in list(self._views):
            self.unregister(name)
        if self._owned:
            started = _STARTED[id(self.spark)]
            started[1] -= 1
            if not started[1]:
                del _STARTED[id(self.spark)]
                self.spark.stop()
                if started[0]:
                    shutil.rmtree(started[0], ignore_errors=True)
                if started[2] and all(other[2] is None for other in _STARTED.values()):
                    os.environ.pop(_CONNECT_MODE, None)

    # -- catalog ----------------------------------------------------------------------------

    def tables(self) -> list[TableInfo]:
        current = self.spark.catalog.currentDatabase()
        found = []
        for table in self.spark.catalog.listTables():
            temporary = bool(table.isTemporary)
            schema = _MAIN if temporary or (table.namespace or [current])[-1] == current else table.namespace[-1]
            qualified = _qualified(table.name, None if temporary else (table.namespace or [None])[-1])
            columns = {c.name.lower(): c.dataType.upper() for c in self.spark.catalog.listColumns(qualified)}
            is_view = table.tableType in ("VIEW", "TEMPORARY")
            properties = {} if is_view else self._properties(table.name, table.namespace)
            dims = json.loads(properties.get(DIMS_PROPERTY, "{}"))
            key = tuple(json.loads(properties.get(KEY_PROPERTY, "[]")))
            found.append(TableInfo(table.name, columns, is_view, schema, temporary, key,
                                   {c: n for c, n in dims.items() if n}, None,
                                   frozenset(c for c, n in dims.items() if not n)))
        return found

    def has_table(self, schema: str, name: str, column: str | None = None) -> bool:
        if schema == _CATALOG_SCHEMA:
            return False  # vsql's catalog is not on Spark (see `run`)
        qualified = _qualified(name, None if schema in (_MAIN, "") else schema)
        if not self.spark.catalog.tableExists(qualified):
            return False
        return column is None or column.lower() in {c.name.lower() for c in self.spark.catalog.listColumns(qualified)}

    def has_index(self, name: str) -> bool:
        return False

    @staticmethod
    def type_names(schema: pa.Schema) -> list[str]:
        return [_type_name(field.type) for field in schema]

    @staticmethod
    def arrow_types(names: tuple[str, ...]) -> list[pa.DataType]:
        return [_ARROW_TYPES.get(name, pa.string()) for name in names]

    # -- distances --------------------------------------------------------------------------

    @staticmethod
    def reproduces(metric: str) -> bool:
        return False  # no index answers alone on Spark: distances always come from Spark

    @staticmethod
    def distances(metric: str, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
        raise NotSupportedError("vsql does not reproduce Spark's distances bit for bit")

    # -- indexes ----------------------------------------------------------------------------

    def _search(self, statement: SearchStatement, params: Any) -> _Cursor:
        """A k-NN statement (or a LATERAL batch of them) through the table's index when it has one
        (`ann.run`, `ann.run_batch`), else exact."""
        search = statement.search
        definition = ann.serving(self, search)
        self.last_search = None
        if definition is None:
            return _Cursor(self.spark.sql(statement, args=_args(params)), statement)
        lower = lambda tree: to_sql(tree, self._shape)[-1]  # noqa: E731
        if isinstance(search, ann.BatchSearch):
            sql, plan = ann.run_batch(self, search, definition, _args(params), lower)
        else:
            sql, plan = ann.run(self, search, definition, _args(params), self._query_vector(search, params), lower)
        self.last_search = plan
        if search.explain:
            spark_plan = self.spark.sql(f"EXPLAIN {sql}", args=_args(params)).collect()[0][0]
            frame = self.spark.createDataFrame([(plan,), (spark_plan,)], "plan STRING")
            return _Cursor(frame, statement)
        return _Cursor(self.spark.sql(sql, args=_args(params)), statement)

    def _query_vector(self, search: ann.Search, params: Any) -> np.ndarray:
        """The search's query vector: a literal's values, a bound parameter, else computed by Spark."""
        from vsql.sql.analyze import param_key

        query = search.query
        if isinstance(query, d.VectorLiteral):
            return np.asarray(query.values, np.float32)
        inner = query.this if isinstance(query, d.VectorCast) else query
        key = param_key(inner) if isinstance(inner, (exp.Parameter, exp.Placeholder)) else None
        if key is not None and params is not None:
            value = params[key] if isinstance(params, dict) or isinstance(key, int) else None
            if value is not None:
                return np.asarray(value, np.float32)
        row = self.spark.sql(to_sql(exp.select(query.copy()), self._shape)[-1], args=_args(params)).collect()[0][0]
        return np.asarray(row if row is not None else [np.nan], np.float32)

    def qualified(self, table: str, schema: str | None = None) -> str:
        return _qualified(table, schema)

    # -- helpers ----------------------------------------------------------------------------

    def _properties(self, name: str, namespace: list[str] | None) -> dict[str, str]:
        show = f"SHOW TBLPROPERTIES {_qualified(name, (namespace or [None])[-1])}"  # sqlglot has no such node
        return {row[0]: row[1] for row in self.spark.sql(show).collect()}

    def _shape(self, table: exp.Table) -> Shape | None:
        """What lowering needs of a table (lowering.Shape); None when there is none."""
        qualified = _qualified(table.name, table.db or None)
        if not self.spark.catalog.tableExists(qualified):
            return None
        columns = tuple(c.name.lower() for c in self.spark.catalog.listColumns(qualified))
        properties = self._properties(table.name, [table.db] if table.db else None)
        return Shape(columns, json.loads(properties.get(DIMS_PROPERTY, "{}")),
                     frozenset(json.loads(properties.get(NOT_NULL_PROPERTY, "[]"))),
                     tuple(json.loads(properties.get(KEY_PROPERTY, "[]"))))


class _Cursor:
    """A statement Spark ran: its DataFrame (a query's rows are computed when taken)."""

    def __init__(self, frame, sql: str):
        self.frame = frame
        self.sql = sql

    def written(self) -> int:
        """The rows an INSERT wrote, from Spark's metrics of the write (-1 when Spark keeps none)."""
        try:
            command = self.frame._jdf.queryExecution().executedPlan().commandPhysicalPlan().cmd()
            return int(command.metrics().apply("numOutputRows").value())
        except Exception:  # noqa: BLE001 - a plan without a write command: no count
            return -1


def _qualified(name: str, schema: str | None) -> str:
    """A table's name as Spark reads it, quoted (for the catalog's calls as for SQL)."""
    return exp.table_(name, schema, quoted=True).sql(dialect="spark")


def _writes(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "INSERT"


def _args(params: Any) -> dict | None:
    """Parameters as Spark binds them: by name, a sequence's as p1, p2 ... (see lowering's markers)."""
    if not params:
        return None
    items = params.items() if isinstance(params, dict) else enumerate(params)
    return {parameter_name(key): value for key, value in items}


def _vectors_fixed(table: pa.Table) -> pa.Table:
    """Float arrays whose non-NULL values all have one length as Arrow fixed-size lists, as DuckDB
    returns vectors (the DB-API gives them as NumPy arrays): Spark's ARRAY<FLOAT> has no length."""
    for i, field in enumerate(table.schema):
        if not (pa.types.is_list(field.type) and pa.types.is_floating(field.type.value_type)):
            continue
        column = table.column(i).combine_chunks()
        lengths = pc.unique(pc.list_value_length(column).drop_null())
        if len(lengths) != 1 or column.flatten().null_count or lengths[0].as_py() == 0:
            continue
        size = lengths[0].as_py()
        missing = column.is_null()
        filled = pc.if_else(missing, pa.scalar([0.0] * size, column.type), column)  # a NULL vector holds no values
        fixed = pa.FixedSizeListArray.from_arrays(filled.flatten(), size, mask=missing)
        table = table.set_column(i, field.with_type(fixed.type), fixed)
    return table


_TYPE_NAMES = {
    pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INT", pa.int64(): "BIGINT", pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE", pa.string(): "STRING", pa.large_string(): "STRING", pa.bool_(): "BOOLEAN",
    pa.binary(): "BINARY", pa.date32(): "DATE",
}
_ARROW_TYPES = {name: kind for kind, name in _TYPE_NAMES.items() if kind != pa.large_string()}


def _type_name(kind: pa.DataType) -> str:
    if pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind):
        return f"ARRAY<{_type_name(kind.value_type)}>"
    return _TYPE_NAMES.get(kind, str(kind).upper())


def _quiet() -> None:
    """pyspark logs every SQL error it raises on stderr as JSON; vsql re-raises them as its own."""
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
