"""The vsql SQL dialect: PostgreSQL plus pgvector's type, operators and functions.

Parsing builds vsql's own expression nodes, so every later stage (analysis, planning,
execution on an engine) sees vector operations as such, never as look-alike SQL.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.tokens import TokenType

# TokenType is a closed enum: pgvector's operators reuse members PostgreSQL never emits.
L2_OP = TokenType.LR_ARROW  # <->
NEG_IP_OP = TokenType.DCOLONPERCENT  # <#>
COSINE_OP = TokenType.NULLSAFE_EQ  # <=>, MySQL's null-safe equality in the base tokenizer
L1_OP = TokenType.DCOLONQMARK  # <+>

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


class L2Distance(DistanceOp):
    metric, operator = "l2", "<->"


class NegativeInnerProduct(DistanceOp):
    metric, operator = "ip", "<#>"


class CosineDistance(DistanceOp):
    metric, operator = "cosine", "<=>"


class L1Distance(DistanceOp):
    metric, operator = "l1", "<+>"


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


class Embed(VectorOp):
    """embed('model', text): the model's vector for a text; analysis resolves the model."""

    arg_types = {"this": True, "expression": True}


class Explain(exp.Expression):
    """EXPLAIN [ANALYZE] of a statement vsql rewrites (sqlglot keeps EXPLAIN as raw text)."""

    arg_types = {"this": True, "analyze": False}


DISTANCE_OPS: dict[str, type[DistanceOp]] = {
    op.operator: op for op in (L2Distance, NegativeInnerProduct, CosineDistance, L1Distance)
}

# Name -> node for pgvector's functions; element-wise ops and aggregates are typed by analysis.
FUNCTIONS = {
    "L2_DISTANCE": L2Distance,
    "COSINE_DISTANCE": CosineDistance,
    "L1_DISTANCE": L1Distance,
    "INNER_PRODUCT": InnerProduct,
    "VECTOR_DIMS": VectorDims,
    "VECTOR_NORM": VectorNorm,
    "L2_NORMALIZE": L2Normalize,
    "SUBVECTOR": Subvector,
    "EMBED": Embed,
}


def _vector_literal_sql(self, e: VectorLiteral) -> str:
    text = "[" + ",".join(format(v, "g") for v in e.values) + "]"
    return f"{self.sql(exp.Literal.string(text))}::vector"


class VSQL(Postgres):
    """PostgreSQL with pgvector: reads and writes vsql SQL (round-trips for tests and display)."""

    class Tokenizer(Postgres.Tokenizer):
        KEYWORDS = {
            **{k: v for k, v in Postgres.Tokenizer.KEYWORDS.items() if k != "?::"},  # ?::vector
            "<->": L2_OP,
            "<#>": NEG_IP_OP,
            "<=>": COSINE_OP,
            "<+>": L1_OP,
        }

    class Parser(Postgres.Parser):
        FUNCTIONS = {
            **Postgres.Parser.FUNCTIONS,
            **{name: node.from_arg_list for name, node in FUNCTIONS.items()},
        }
        EQUALITY = {k: v for k, v in Postgres.Parser.EQUALITY.items() if k != COSINE_OP}
        FACTOR = {k: v for k, v in Postgres.Parser.FACTOR.items() if k != L2_OP}
        # PostgreSQL binds user-defined operators below + and - and above comparisons.
        BITWISE = {
            **Postgres.Parser.BITWISE,
            L2_OP: L2Distance,
            NEG_IP_OP: NegativeInnerProduct,
            COSINE_OP: CosineDistance,
            L1_OP: L1Distance,
        }

    class Generator(Postgres.Generator):
        TRANSFORMS = {
            **Postgres.Generator.TRANSFORMS,
            **{op: (lambda self, e: self.binary(e, e.operator)) for op in DISTANCE_OPS.values()},
            VectorLiteral: _vector_literal_sql,
            Explain: lambda self, e: f"EXPLAIN {'ANALYZE ' if e.args.get('analyze') else ''}{self.sql(e.this)}",
        }
