"""The index catalog a session keeps on the Spark engine: what vsql's own functions
(`vsql_index_versions`, `vsql_index_rollback`, `vsql_evaluate`, `vsql_compare`) ask of it, read
from the tables' index definitions (`ann`). The planner sees no index here: Spark statements
find theirs when they run (`SparkEngine._search`)."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager

import pyarrow as pa

from vsql.engine.spark import ann
from vsql.errors import NotSupportedError, ProgrammingError
from vsql.index.spec import IndexSpec
from vsql.index.store import IndexManager


class SparkIndexes(IndexManager):
    """vsql's indexes as the Spark engine keeps them (one Faiss shard per data file, `ann`)."""

    def __init__(self, engine, settings=None):
        super().__init__(engine, settings)
        engine.settings = settings  # the session's search depths (`SET hnsw.ef_search`) reach its searches

    def resolve(self, name: str) -> IndexSpec:
        return _spec(ann._named(self.engine, name))

    def version_spec(self, spec: IndexSpec, version: int | None) -> IndexSpec:
        if version is None or version == spec.version:
            return spec
        definition = ann._named(self.engine, spec.name)
        if definition.record(version) is None:
            raise ProgrammingError(f'index "{spec.name}" has no version {version}')
        return _spec(definition, version)

    @contextmanager
    def pinned(self, spec: IndexSpec):
        key = (spec.table.lower(), spec.column, spec.metric)
        self.engine.pinned[key] = (spec.name, spec.version)
        try:
            yield
        finally:
            self.engine.pinned.pop(key, None)

    def versions(self, name: str) -> pa.Table:
        """As on DuckDB: one row per version, the active one marked; `size_bytes` and `file_kept`
        are those of its shards."""
        definition = ann._named(self.engine, name)
        folder = ann._folder(self.engine, definition.table, definition.name)
        rows = []
        for record in definition.versions:
            shards = os.path.join(folder, f"v{record['version']}")
            kept = os.path.isdir(shards)
            rows.append({
                "version": record["version"], "active": record["version"] == definition.version,
                "method": definition.method, "opclass": definition.opclass, "options": json.dumps(record["options"]),
                "reason": record["reason"], "created_at": record["created_at"], "rows": record["rows"],
                "shards": record["shards"],
                "size_bytes": sum(e.stat().st_size for e in os.scandir(shards)) if kept else None,
                "build_seconds": record["build_seconds"], "tuned": None, "recall": record["recall"],
                "file_kept": kept})
        return pa.Table.from_pylist(rows)

    def rollback(self, name: str, version: int) -> str:
        return ann.rollback(self.engine, name, version)

    def set_recall(self, spec: IndexSpec, recall: float) -> None:
        ann.set_recall(self.engine, spec.name, spec.version, recall)

    def get(self, spec: IndexSpec):
        raise NotSupportedError("vsql_tune is not supported on the Spark engine yet: its shards take no tuned "
                                "search depth")

    set_tuned = get


def _spec(definition: ann.Definition, version: int | None = None) -> IndexSpec:
    version = definition.version if version is None else version
    return IndexSpec(definition.name, definition.table, definition.column, definition.key, definition.method,
                     definition.opclass, definition.record(version)["options"] if definition.versions
                     else definition.options, version)
