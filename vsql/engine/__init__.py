"""The engines vsql runs statements on, behind one protocol (`vsql.engine.base.Engine`).

`connect(target)` picks the engine by the target's scheme (`spark://local[2]` is a Spark
session, `sc://host:15002` one through Spark Connect); a plain path or ':memory:' is a DuckDB database. Adding an engine is one entry here and
its package beside `duckdb/`.
"""

from __future__ import annotations

import importlib
import re

# scheme -> (module, class): the class has `connect(target, read_only=..., config=...)`
ENGINES = {"duckdb": ("vsql.engine.duckdb", "DuckDBEngine"), "spark": ("vsql.engine.spark", "SparkEngine"),
           "sc": ("vsql.engine.spark", "SparkEngine")}
_DEFAULT = "duckdb"
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*)://")


def connect(target: str, **options):
    found = _SCHEME.match(target)
    scheme = found[1] if found else _DEFAULT
    if scheme not in ENGINES:
        from vsql.errors import InterfaceError

        raise InterfaceError(f'no vsql engine for "{scheme}://" (engines: {", ".join(sorted(ENGINES))})')
    module, name = ENGINES[scheme]
    try:
        loaded = importlib.import_module(module)
    except ImportError as error:  # an engine whose library is an extra (pip install "vsql[spark]")
        from vsql.errors import InterfaceError

        needs = (error.name or module).split(".")[0]
        if needs == "vsql":
            raise
        extra = module.split(".")[-1]
        raise InterfaceError(f'the {extra} engine needs {needs}: pip install "vsql[{extra}]"') from error
    return getattr(loaded, name).connect(target, **options)
