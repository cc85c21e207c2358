"""The vsql SQL dialect: PostgreSQL plus pgvector's type, operators and functions.

Parsing builds vsql's own expression nodes, so every later stage (analysis, planning,
execution on an engine) sees vector operations as such, never as look-alike SQL.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.tokens import TokenizerCore, TokenType

from vsql.sql import statements
from vsql.sql.metrics import BIT_METRICS, METRICS
from vsql.sql.statements import Explain as Explain  # vsql's own statements are the dialect's nodes

MAX_DIM = 16000


class VectorOp(exp.Expression, exp.Func):
    """A vector operation; `dim` of the result is set by analysis (0: known only at run time)."""


class DistanceOp(VectorOp):
    """A distance between two vectors; `metric` names it for planners and engines."""

    arg_types = {"this": True, "expression": True}
    metric: str = ""
    operator: str = ""

    @property
    def left(self) -> exp.Expr:
        return self.this

    @property
    def right(self) -> exp.Expr:
        return self.expression


class BitDistanceOp(DistanceOp):
    """A distance between bit strings: a DistanceOp, so that ORDER BY it breaks ties by key, but of
    no metric an index serves (metrics.BIT_METRICS)."""


# One node class per metric of the registry (L2Distance, CosineDistance, ...), by metric name.
DISTANCES: dict[str, type[DistanceOp]] = {
    m.name: type(m.node, (DistanceOp,), {"metric": m.name, "operator": m.operator, "__module__": __name__})
    for m in METRICS.values()
}
BIT_DISTANCES: dict[str, type[BitDistanceOp]] = {
    m.name: type(m.node, (BitDistanceOp,), {"metric": m.name, "operator": m.operator, "__module__": __name__})
    for m in BIT_METRICS.values()
}

# pgvector's dense vector types; each is held by vsql as float32 (vectors.TYPES says how it rounds).
VECTOR_KINDS = ("vector", "halfvec")
SPARSE = "sparsevec"  # pgvector's sparse type: a dimension, 1-based indices and float32 values
MAX_SPARSE_DIM = 1_000_000_000


def type_kind(dtype: exp.DataType) -> str | None:
    """The pgvector type a SQL type names ("vector", "halfvec", "sparsevec", "bit"), None for any other."""
    if dtype.is_type(exp.DType.VECTOR):
        return "vector"
    if dtype.is_type(exp.DType.BIT):
        return "bit"
    if dtype.this == exp.DType.USERDEFINED:
        name = dtype.args["kind"].name.lower() if dtype.args.get("kind") is not None else ""
        return {"halfvec": "halfvec", "sparsevec": SPARSE, "varbit": "bit"}.get(name)
    return None


class InnerProduct(VectorOp):
    """pgvector's inner_product(a, b): the positive inner product, not an ordering distance."""

    arg_types = {"this": True, "expression": True}


class VectorDims(VectorOp):
    arg_types = {"this": True}


class VectorNorm(VectorOp):
    arg_types = {"this": True}


class L2Normalize(VectorOp):
    arg_types = {"this": True}


class Subvector(VectorOp):
    arg_types = {"this": True, "start": True, "count": True}


class VectorAdd(VectorOp):
    arg_types = {"this": True, "expression": True}


class VectorSub(VectorOp):
    arg_types = {"this": True, "expression": True}


class VectorMul(VectorOp):
    arg_types = {"this": True, "expression": True}


class VectorConcat(VectorOp):
    arg_types = {"this": True, "expression": True}


class VectorAvg(VectorOp, exp.AggFunc):
    arg_types = {"this": True}


class VectorSum(VectorOp, exp.AggFunc):
    arg_types = {"this": True}


class VectorToText(VectorOp):
    arg_types = {"this": True}


class VectorCast(VectorOp):
    """Turns a list-valued expression (real[], a bound list) into a vector of `dim` dimensions."""

    arg_types = {"this": True, "dim": True}


class VectorLiteral(VectorOp):
    """A constant vector, validated at analysis; `this` is a tuple of float32-exact floats."""

    arg_types = {"this": True}

    @property
    def values(self) -> tuple[float, ...]:
        return self.args["this"]


class SparseLiteral(VectorOp):
    """A constant sparsevec, validated at analysis: `this` is (dimension, 1-based indices, float32-exact
    values), the indices ascending and the values non-zero."""

    arg_types = {"this": True}

    @property
    def dim(self) -> int:
        return self.args["this"][0]

    @property
    def indices(self) -> tuple[int, ...]:
        return self.args["this"][1]

    @property
    def values(self) -> tuple[float, ...]:
        return self.args["this"][2]


class VectorConvert(VectorOp):
    """A vector of one type as another (vector -> halfvec rounds to float16): meta["vtype"] is the target."""

    arg_types = {"this": True}


class BinaryQuantize(exp.Expression, exp.Func):
    """pgvector's binary_quantize(v): a bit string, 1 where an element is > 0."""

    arg_types = {"this": True}


class Embed(VectorOp):
    """embed('model', text): the model's vector for a text; analysis resolves the model."""

    arg_types = {"this": True, "expression": True}


DISTANCE_OPS: dict[str, type[DistanceOp]] = {op.operator: op for op in [*DISTANCES.values(), *BIT_DISTANCES.values()]}
_TOKENS = {**{METRICS[name].token: node for name, node in DISTANCES.items()},
           **{BIT_METRICS[name].token: node for name, node in BIT_DISTANCES.items()}}

# Name -> node for pgvector's functions; element-wise ops and aggregates are typed by analysis.
FUNCTIONS = {
    **{m.function.upper(): DISTANCES[m.name] for m in METRICS.values() if m.function},
    "INNER_PRODUCT": InnerProduct,
    "VECTOR_DIMS": VectorDims,
    **{m.function.upper(): BIT_DISTANCES[m.name] for m in BIT_METRICS.values()},
    "VECTOR_NORM": VectorNorm,
    "L2_NORM": VectorNorm,  # pgvector's name for halfvec and sparsevec
    "BINARY_QUANTIZE": BinaryQuantize,
    "L2_NORMALIZE": L2Normalize,
    "SUBVECTOR": Subvector,
    "EMBED": Embed,
}


def _vector_literal_sql(self, e: VectorLiteral) -> str:
    text = "[" + ",".join(format(v, "g") for v in e.values) + "]"
    return f"{self.sql(exp.Literal.string(text))}::vector"


def _sparse_literal_sql(self, e: SparseLiteral) -> str:
    text = "{" + ",".join(f"{i}:{v!r}" for i, v in zip(e.indices, e.values)) + f"}}/{e.dim}"  # exact digits
    return f"{self.sql(exp.Literal.string(text))}::sparsevec"


class _ParametersFirst(TokenizerCore):
    """sqlglot's tokenizer, reading `$` then a digit as a parameter, as PostgreSQL does: a
    dollar-quote's tag cannot begin with a digit (sqlglot reads `$1,$2` as a string tagged `1,`)."""

    __slots__ = ()

    def _scan_string(self, start: str) -> bool:
        if start == "$" and self._peek.isdigit():
            self._add(TokenType.PARAMETER)
            return True
        return super()._scan_string(start)


class VSQL(Postgres):
    """PostgreSQL with pgvector: reads and writes vsql SQL (round-trips for tests and display)."""

    ORIGINAL_NAME_META_KEY = "pg_name"  # a call's function name as written: its result column's name

    class Tokenizer(Postgres.Tokenizer):
        KEYWORDS = {
            **{k: v for k, v in Postgres.Tokenizer.KEYWORDS.items() if k != "?::"},  # ?::vector
            **{m.operator: m.token for m in [*METRICS.values(), *BIT_METRICS.values()]},
            **statements.KEYWORDS,
        }

        def _init_core(self) -> TokenizerCore:
            core = super()._init_core()
            core.__class__ = _ParametersFirst  # sqlglot builds the core itself, with two dozen settings
            return core

    class Parser(Postgres.Parser):
        STATEMENT_PARSERS = {**Postgres.Parser.STATEMENT_PARSERS, **statements.STATEMENT_PARSERS}
        ID_VAR_TOKENS = {*Postgres.Parser.ID_VAR_TOKENS, TokenType.ROLLBACK}  # ABORT, a word PostgreSQL does not reserve
        FUNCTIONS = {
            **Postgres.Parser.FUNCTIONS,
            **{name: node.from_arg_list for name, node in FUNCTIONS.items()},
        }
        # the tokens the operators reuse keep no meaning of their own (<=> as equality, <-> as a factor)
        EQUALITY = {k: v for k, v in Postgres.Parser.EQUALITY.items() if k not in _TOKENS}
        COMPARISON = {k: v for k, v in Postgres.Parser.COMPARISON.items() if k not in _TOKENS}
        TERM = {k: v for k, v in Postgres.Parser.TERM.items() if k not in _TOKENS}
        FACTOR = {k: v for k, v in Postgres.Parser.FACTOR.items() if k not in _TOKENS}
        # PostgreSQL binds user-defined operators below + and - and above comparisons.
        BITWISE = {**Postgres.Parser.BITWISE, **_TOKENS}

    class Generator(Postgres.Generator):
        TRANSFORMS = {
            **Postgres.Generator.TRANSFORMS,
            **{op: (lambda self, e: self.binary(e, e.operator)) for op in DISTANCE_OPS.values()},
            VectorLiteral: _vector_literal_sql,
            SparseLiteral: _sparse_literal_sql,
            **statements.TRANSFORMS,
        }
