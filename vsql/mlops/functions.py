"""vsql's own SQL functions: index versions, evaluation, comparison, tuning, the model registry.

They run in vsql, not in the engine: the planner replaces each call with a relation that the
session fills with the function's result before the statement runs, so a call composes with the
rest of SQL (`SELECT recall FROM vsql_evaluate(...) WHERE ...`). Called as a scalar
(`SELECT vsql_index_rollback('idx', 2)`), a function gives its result's first column.
Arguments are constants or bound parameters; options are named (`k => 10`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from vsql.errors import ProgrammingError
from vsql.mlops import evaluate, models, reembed
from vsql.sql.analyze import param_key


@dataclass(frozen=True)
class Function:
    run: Callable[..., pa.Table]  # (session, *args, **options) -> result
    writes: bool  # changes the catalog: runs atomically, then compiled statements are stale


def _versions(session, index: str) -> pa.Table:
    return session.indexes.versions(index)


def _rollback(session, index: str, version: int) -> pa.Table:
    return pa.table({"vsql_index_rollback": [session.indexes.rollback(index, _integer(version, "version"))]})


def _register_model(session, name: str, provider: str, source: str) -> pa.Table:
    return models.register(session.engine, name, provider, source)


def _models(session) -> pa.Table:
    return models.listing(session.engine)


FUNCTIONS: dict[str, Function] = {
    "vsql_index_versions": Function(_versions, False),
    "vsql_index_rollback": Function(_rollback, True),
    "vsql_evaluate": Function(evaluate.evaluate, True),  # records the measured recall with the version
    "vsql_compare": Function(evaluate.compare, False),
    "vsql_tune": Function(evaluate.tune, True),
    "vsql_register_model": Function(_register_model, True),
    "vsql_models": Function(_models, False),
    "vsql_reembed": Function(reembed.start, False),  # outside transactions only: it switches on its own
    "vsql_jobs": Function(reembed.listing, False),
}


def call(session, name: str, args: tuple[exp.Expr, ...], options: tuple[tuple[str, exp.Expr], ...],
         params: Any) -> pa.Table:
    """Run one call with its arguments' values (literals, or parameters from `params`)."""
    function = FUNCTIONS[name]
    values = [_value(a, params, name) for a in args]
    named = {key: _value(v, params, name) for key, v in options}
    try:
        inspect.signature(function.run).bind(session, *values, **named)
    except TypeError as error:
        accepted = ", ".join(list(inspect.signature(function.run).parameters)[1:])
        raise ProgrammingError(f"{name}({accepted}): {error}") from None
    return function.run(session, *values, **named)


def _value(node: exp.Expr, params: Any, name: str) -> Any:
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        number = float(node.this)
        return int(number) if node.is_int else number
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return -_value(node.this, params, name)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return node.this
    key = param_key(node)
    if key is not None and params is not None:
        try:
            return params[key]
        except (IndexError, KeyError, TypeError):
            pass
    raise ProgrammingError(f"{name}: arguments are constants or bound parameters, not {node.sql()}")


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProgrammingError(f"{what} must be an integer, not {value!r}")
    return value
