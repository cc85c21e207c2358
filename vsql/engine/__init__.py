"""The engines vsql runs statements on, behind one protocol (`vsql.engine.base.Engine`).

`connect(target)` picks the engine by the target's scheme (`spark://...` would name a Spark
engine); a plain path or ':memory:' is a DuckDB database. Adding an engine is one entry here and
its package beside `duckdb/`.
"""

from __future__ import annotations

import importlib
import re

# scheme -> (module, class): the class has `connect(target, read_only=..., config=...)`
ENGINES = {"duckdb": ("vsql.engine.duckdb", "DuckDBEngine")}
_DEFAULT = "duckdb"
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*)://")


def connect(target: str, **options):
    found = _SCHEME.match(target)
    scheme = found[1] if found else _DEFAULT
    if scheme not in ENGINES:
        from vsql.errors import InterfaceError

        raise InterfaceError(f'no vsql engine for "{scheme}://" (engines: {", ".join(sorted(ENGINES))})')
    module, name = ENGINES[scheme]
    return getattr(importlib.import_module(module), name).connect(target, **options)
