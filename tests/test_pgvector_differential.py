"""vsql against real pgvector: the same statements on both, result against result, error against error.

PostgreSQL 17 with pgvector 0.8 runs from the benchmark's peer (`benchmarks/peers/pgvector_peer.py`):
one server for the module, which is skipped with the peer's reason when it cannot start. vsql runs
in memory. Each case is one statement (or one statement per hypothesis example) run on both; they
agree when both succeed with the same rows, or both fail. Error messages are compared in a test of
their own, so a wrong message and a wrong result count separately. Every known divergence is a
strict xfail whose reason says why vsql differs and which file its fix belongs in; the README's
"Differences from pgvector" lists them.

Normalisations, the only ones made:
- a vector pgvector returns (its text, psycopg has no adapter here) and one vsql returns (a float32
  NumPy array) both become a tuple of float32 values, -0 kept apart from 0; a sparsevec (pgvector's
  text, a vsql.SparseVector) its text form; text outputs
  (`::text`) are compared as strings, untouched;
- float elements of arrays (`real[]`) are compared as float32: psycopg reads pgvector's `{0.1}` as
  the double 0.1, vsql hands back the float32 0.1 widened;
- distances and norms are compared within a tolerance (`tol`, relative to the size of the terms
  summed): pgvector sums float32 terms in SIMD order and returns a double, DuckDB sums them in
  order and returns its L2 distance as float32; everything else must be equal, bit for bit;
- an error message agrees when vsql's starts with pgvector's primary message (vsql may add a hint).
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vsql

STATS = Counter()  # statements compared, cases and generated examples together

SETUP = [
    "CREATE TABLE items (id int PRIMARY KEY, g int, v vector(3))",
    ("INSERT INTO items VALUES (1, 1, '[1,2,3]'), (2, 1, '[4,5,6]'), (3, 2, NULL), (4, 3, '[-0,0,1]'),"
     " (5, 3, '[0,0,1]'), (6, 4, '[1,2,3]'), (7, 4, '[1e-45,-2.5,3.4028235e38]')"),
    # sums that overflow float32 part way (g 1: 3e38 + 3e38) or not at all (g 2)
    "CREATE TABLE big (id int PRIMARY KEY, g int, v vector(1))",
    ("INSERT INTO big VALUES (1, 1, '[3e38]'), (2, 1, '[3e38]'), (3, 1, '[-3e38]'), (4, 2, '[3e38]'),"
     " (5, 2, '[-3e38]'), (6, 2, '[3e38]')"),
    # the table the index DDL builds on: an integer primary key, plain values
    "CREATE TABLE docs (id int PRIMARY KEY, v vector(3))",
    "INSERT INTO docs SELECT i, ARRAY[i, i % 7, -i]::real[]::vector FROM generate_series(1, 40) AS s(i)",
    "CREATE TABLE cmp (id int PRIMARY KEY, v vector(3))",
    # sparsevec(5) and unsized sparsevec values: NULLs, an empty one, ties, sums past float32's range
    "CREATE TABLE sparse (id int PRIMARY KEY, s sparsevec(5), u sparsevec)",
    ("INSERT INTO sparse VALUES (1, '{1:1,3:2}/5', '{1:1}/3'), (2, '{2:-1.5,5:0.25}/5', '{}/2'), (3, NULL, NULL),"
     " (4, '{}/5', '{2:1,4:-1}/4'), (5, '{1:1,3:2}/5', '{3:7}/3'), (6, '{1:3e38,2:3e38}/5', '{1:-1}/1')"),
    "CREATE TABLE sorts (id int PRIMARY KEY, x sparsevec)",
    ("INSERT INTO sorts VALUES (1, '{1:1}/3'), (2, '{2:1,4:-1}/4'), (3, '{}/2'), (4, '{3:7}/3'), (5, '{1:-1}/9'),"
     " (6, '{2:-1}/2'), (7, '{1:1}/2'), (8, '{}/9'), (9, '{1:1,2:1}/2'), (10, '{9:-1}/10'), (11, NULL)"),
]


class Both:
    """A pgvector connection and a vsql connection that run the same statements."""

    def __init__(self, pg, vs):
        self.pg, self.vs = pg, vs
        self.vector_oid = pg.execute("SELECT 'vector'::regtype::oid").fetchone()[0]
        self.sparse_oid = pg.execute("SELECT 'sparsevec'::regtype::oid").fetchone()[0]

    def on_pg(self, sql: str, params=None):
        """("ok", rows) or ("error", pgvector's primary message)."""
        import psycopg

        try:
            cur = self.pg.execute(sql, params)
        except psycopg.Error as error:
            return "error", error.diag.message_primary or str(error)
        if cur.description is None:
            return "ok", None
        kinds = [{self.vector_oid: "vector", self.sparse_oid: "sparsevec"}.get(c.type_code) for c in cur.description]
        return "ok", [tuple(_pg_value(x, kind) for x, kind in zip(row, kinds)) for row in cur.fetchall()]

    def on_vsql(self, sql: str, params=None):
        """("ok", rows) or ("error", message); anything but a vsql.Error fails the test."""
        try:
            cur = self.vs.cursor()
            cur.execute(sql, params)
            rows = cur.fetchall() if cur.description else None
        except vsql.Error as error:
            return "error", str(error).strip().splitlines()[0]
        return "ok", None if rows is None else [tuple(_vsql_value(x) for x in row) for row in rows]

    def compare(self, sql: str, params=None, tol: float = 0.0, scale=None) -> tuple:
        """Run on both and assert the same outcome; returns both outcomes."""
        pg, vs = self.on_pg(sql, params), self.on_vsql(sql, params)
        STATS["compared"] += 1
        shown = f"{_clip(sql)} {_clip(params or '')}\n  pgvector: {_clip(pg)}\n  vsql:     {_clip(vs)}"
        assert pg[0] == vs[0], shown
        if pg[0] == "ok":
            assert _same(pg[1], vs[1], tol, scale), shown
        return pg, vs

    def both(self, sql: str, params=None) -> None:
        """Run a statement on both that the comparison does not cover (setup, cleanup)."""
        self.on_pg(sql, params)
        self.on_vsql(sql, params)


@pytest.fixture(scope="module")
def both(postgres):
    vs = vsql.connect(":memory:", autocommit=True)
    runner = Both(postgres, vs)
    for sql in SETUP:
        for outcome in (runner.on_pg(sql), runner.on_vsql(sql)):
            assert outcome[0] == "ok", (sql, outcome)
    yield runner
    print(f"\npgvector differential: {STATS['compared']} statements compared")  # shown with -s
    vs.close()


def _clip(value, limit: int = 400) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


# -- normalisation ------------------------------------------------------------------------------

def _f32(x: float) -> float:
    return float(np.float32(x))


def _pg_value(x, kind: str | None):
    if kind == "vector" and x is not None:
        return ("vector", tuple(_f32(float(s)) for s in x.strip("[]").split(",")))
    if kind == "sparsevec" and x is not None:
        return ("sparsevec", x)  # pgvector's text form, which vsql.SparseVector writes
    if isinstance(x, list):
        return ("array", tuple(_f32(e) if isinstance(e, float) else e for e in x))
    return x


def _vsql_value(x):
    if isinstance(x, vsql.SparseVector):
        return ("sparsevec", x.to_text())
    if isinstance(x, np.ndarray):
        return ("vector", tuple(float(e) for e in x.astype(np.float32)))
    if isinstance(x, list):
        return ("array", tuple(_f32(e) if isinstance(e, float) else e for e in x))
    return x


def _same(a, b, tol: float, scale=None) -> bool:
    """Equal values; floats within `tol` of `scale` (default: their own size) when tol is set."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        scales = scale if isinstance(scale, (list, tuple)) else [scale] * len(a)
        return len(a) == len(b) and all(_same(x, y, tol, s) for x, y, s in zip(a, b, scales))
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if not tol or math.isinf(a) or math.isinf(b):
            return a == b and math.copysign(1, a) == math.copysign(1, b)
        size = max(abs(a), abs(b)) if scale is None else scale
        return abs(a - b) <= tol * size + 1e-30
    return a == b and type(a) is type(b) or (isinstance(a, int) and isinstance(b, int) and a == b)


# -- the cases ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    sql: str
    params: tuple | None = None
    error: bool = False  # pgvector refuses it (checked: the table must say so)
    tol: float = 0.0
    diverges: str | None = None  # why vsql's outcome differs, and where the fix belongs
    message: str | None = None  # why vsql's error message differs, and where the fix belongs
    after: str | None = None  # run on both afterwards, not compared (cleanup)


def ok(sql, *params, **kw) -> Case:
    return Case(sql, params or None, **kw)


def err(sql, *params, **kw) -> Case:
    return Case(sql, params or None, error=True, **kw)


TO_ANALYZE = "fix in vsql/sql/analyze.py"
TO_LOWERING = "fix in vsql/engine/duckdb/lowering.py"
TEXT = [
    ok("SELECT '[1e-05,1.5e20,-0,3.4028235e38,1.4e-45,0.1,123456789]'::vector::text"),
    ok("SELECT '[1.5,-2.25,1e6,999999,1234567,100000,0.5e-4,0.0001,1e15,9.999e14]'::vector::text"),
    ok("SELECT '[16777217,-16777219]'::vector::text"),
    ok("SELECT '[1.0000000596046447753906250001]'::vector::text"),  # rounds once, as strtof: not 1
    ok("SELECT '[7e-46,-7e-46,-1e-45,3e-39,1.17549435e-38]'::vector::text"),  # subnormals, underflow to ±0
    ok("SELECT '[3.4028235677973366e38]'::vector::text"),  # just under the overflow point: the largest float32
    ok("SELECT '[+1, -.5, 5., 1E2, 1e+2]'::vector::text"),
    ok("SELECT '[1,2e-500]'::vector::text"),
    ok("SELECT ' [ 1 , 2 ] '::vector::text"),
    ok("SELECT E'\\n[1,\\t2]\\n'::vector::text"),
    ok("SELECT v::text FROM items ORDER BY id"),
    ok("SELECT v FROM items ORDER BY id"),
    ok("SELECT %s::vector::text", "[0.1,1e7,-0]"),
    ok("SELECT %s::vector", "[0.1,1e7,-0]"),
    ok("SELECT vector_dims(%s::vector)", "[" + ",".join(["1"] * 16000) + "]"),
]

CASTS = [
    ok("SELECT '[0.1,-0,1e-45]'::vector::real[]"),
    ok("SELECT '[0.1,-0,1e-45]'::vector::real[]::vector::text"),
    err("SELECT '[1,2,3]'::vector::double precision[]", diverges=f"pgvector has no cast vector -> double precision[]; {TO_ANALYZE} (refuse the cast)"),
    err("SELECT '[1,2,3]'::vector::int[]", diverges=f"pgvector has no cast vector -> int[]; {TO_ANALYZE} (refuse the cast)"),
    err("SELECT '[1,2,3]'::vector::numeric[]", diverges=f"pgvector has no cast vector -> numeric[]; {TO_ANALYZE} (refuse the cast)"),
    err("SELECT ARRAY['1','2']::text[]::vector", diverges=f"pgvector has no cast text[] -> vector, vsql reads the strings as numbers; {TO_ANALYZE}"),
    ok("SELECT '[1,2]'::text::vector::text"),
    ok("SELECT '[1,2]'::vector::text::vector::text"),
    ok("SELECT CAST('[1,2]' AS vector(2))::text"),
    ok("SELECT '[1,2]'::vector::vector(2)::text"),
    ok("SELECT ARRAY[1.5,2,3]::real[]::vector::text"),
    ok("SELECT ARRAY[0.1]::double precision[]::vector::text"),
    ok("SELECT ARRAY[1,2]::int[]::vector::text"),
    ok("SELECT ARRAY[16777217]::int[]::vector::text"),
    ok("SELECT ARRAY[1.5,2,3]::numeric[]::vector::text"),
    ok("SELECT ARRAY[1.23456789]::numeric[]::vector::text",
       diverges="numeric[] becomes DuckDB's DECIMAL(18,3), which rounds 1.23456789 to 1.235 before the vector sees it; "
                "fix in vsql/sql/dialect.py (numeric without a typmod -> DOUBLE)"),
    ok("SELECT '{0.1,2}'::real[]::vector::text",
       diverges=f"DuckDB reads an array's text as '[..]', not PostgreSQL's '{{..}}'; {TO_LOWERING} (cast text -> real[])"),
    err("SELECT '{1,2}'::real[]::vector(3)", message="DuckDB fails to read '{1,2}' first (see the case above)"),
    err("SELECT ARRAY[1e300]::double precision[]::vector",
        message="pgvector: 'infinite value not allowed in vector' (its array cast rounds to float4, then refuses inf); "
                "vsql says '\"1e+300\" is out of range', which tests/test_bad_input.py pins for bound vectors: "
                "vsql/sql/analyze.py could ask vectors.check for pgvector's words on array literals"),
    err("SELECT ARRAY[1e300]::numeric[]::vector", message=f"DuckDB's DECIMAL conversion error; {TO_ANALYZE}"),
    err("SELECT ARRAY[]::real[]::vector"),
    err("SELECT ARRAY[1,NULL]::real[]::vector"),
    err("SELECT ARRAY[[1,2],[3,4]]::real[]::vector", message=f"pgvector: 'array must be 1-D', vsql: DuckDB's cast error; {TO_ANALYZE}"),
    err("SELECT '[1,2]'::vector(3)"),
    err("SELECT v::vector(2) FROM items"),
    err("SELECT ARRAY[1,2]::real[]::vector(3)"),
    err("SELECT '[1,2]'::vector(0)", message=f"pgvector: 'dimensions for type vector must be at least 1'; {TO_ANALYZE} `_declared_dim`"),
    err("SELECT '[1,2]'::vector(16001)", message=f"pgvector: 'dimensions for type vector cannot exceed 16000'; {TO_ANALYZE} `_declared_dim`"),
    err("CREATE TABLE bad (v vector(16001))", message=f"pgvector: 'dimensions for type vector cannot exceed 16000'; {TO_ANALYZE}"),
]

COMPARISONS = [
    ok("SELECT '[1,2]'::vector < '[1,3]'::vector, '[1,2]'::vector <= '[1,2]'::vector, '[1,2]'::vector = '[1,2]'::vector,"
       " '[1,2]'::vector <> '[1,3]'::vector, '[2,0]'::vector > '[1,9]'::vector, '[2,0]'::vector >= '[2,1]'::vector"),
    ok("SELECT '[-0,0]'::vector = '[0,-0]'::vector, '[-0]'::vector < '[0]'::vector"),
    ok("SELECT '[1,2]'::vector < '[1,2,3]'::vector",
       diverges=f"pgvector compares vectors of different dimensions (elements first, then length), vsql refuses them; {TO_ANALYZE}"),
    ok("SELECT '[1,2]'::vector = '[1,2,3]'::vector", diverges=f"as above (different dimensions compare unequal); {TO_ANALYZE}"),
    ok("SELECT '[2]'::vector > '[1,2,3]'::vector", diverges=f"as above; {TO_ANALYZE}"),
    ok("SELECT x::text FROM (VALUES ('[1,2]'::vector), ('[1,2,3]'::vector), ('[1]'::vector), ('[0,5]'::vector)) s(x) ORDER BY x",
       diverges=f"ORDER BY over vectors of different dimensions; {TO_ANALYZE}"),
    ok("SELECT id FROM items ORDER BY v, id"),
    ok("SELECT id FROM items ORDER BY v DESC, id"),
    ok("SELECT count(DISTINCT v) FROM items"),
    ok("SELECT min(id), count(*) FROM items GROUP BY v ORDER BY 1"),
    ok("SELECT id FROM items WHERE v = '[0,0,1]' ORDER BY id"),
    err("SELECT max(v) FROM items", diverges=f"pgvector defines no min/max over vectors, DuckDB compares arrays; {TO_ANALYZE}"),
]

FUNCTIONS = [
    ok("SELECT subvector('[1,2,3,4,5]'::vector, 2, 2)::text, subvector('[1,2,3,4,5]'::vector, 1, 5)::text"),
    ok("SELECT subvector(v, 2, 2)::text FROM items ORDER BY id"),
    ok("SELECT subvector('[1,2,3,4,5]'::vector, 0, 2)::text"),
    ok("SELECT subvector('[1,2,3,4,5]'::vector, -1, 3)::text"),
    ok("SELECT subvector('[1,2,3,4,5]'::vector, 4, 10)::text"),
    err("SELECT subvector('[1,2,3,4,5]'::vector, -5, 3)"),
    err("SELECT subvector('[1,2,3,4,5]'::vector, 6, 1)"),
    err("SELECT subvector('[1,2,3,4,5]'::vector, 2, 0)"),
    ok("SELECT vector_dims('[1,2,3]'::vector), vector_dims(v) FROM items ORDER BY id"),
    ok("SELECT vector_norm('[3,4]'::vector), vector_norm('[-0,0]'::vector)"),
    ok("SELECT vector_norm(v) FROM items WHERE id < 7 ORDER BY id", tol=1e-6),
    ok("SELECT vector_norm('[3e38,3e38]'::vector)"),
    ok("SELECT vector_norm('[1e-45]'::vector)"),
    ok("SELECT l2_normalize('[3,4]'::vector)::text, l2_normalize('[0,0]'::vector)::text, l2_normalize('[-0,0]'::vector)::text"),
    ok("SELECT l2_normalize('[3e38,3e38]'::vector)::text, l2_normalize('[1e-45,0]'::vector)::text"),
    ok("SELECT l2_normalize(v)::text FROM items ORDER BY id"),
    ok("SELECT binary_quantize('[1,-1,0]'::vector)::text"),
    ok("SELECT ('[1,2]'::vector || '[3]'::vector)::text, ('[1,2]'::vector + '[3,4]'::vector)::text,"
       " ('[1,2]'::vector - '[3,4]'::vector)::text, ('[1.5,2]'::vector * '[3,4]'::vector)::text"),
    ok("SELECT ('[1,2]'::vector + '[3e38,3.4e38]'::vector)::text"),
    err("SELECT '[3e38]'::vector + '[3e38]'::vector"),
    err("SELECT '[-3e38]'::vector - '[3e38]'::vector"),
    err("SELECT '[1e30]'::vector * '[1e30]'::vector"),
    err("SELECT '[1e-30]'::vector * '[1e-30]'::vector"),  # pgvector refuses the underflow
    err("SELECT '[1,2]'::vector + '[3]'::vector"),
    err("SELECT '[1]'::vector || %s::vector", "[" + ",".join(["1"] * 16000) + "]",
        diverges=f"pgvector refuses a concatenation past 16000 dimensions, vsql returns it; {TO_ANALYZE} (VectorConcat)"),
]

DISTANCES = [
    ok("SELECT v <-> '[1,1,1]', v <#> '[1,1,1]', v <=> '[1,1,1]', v <+> '[1,1,1]' FROM items WHERE id < 7 ORDER BY id", tol=1e-5),
    ok("SELECT l2_distance(v, '[1,1,1]'), inner_product(v, '[1,1,1]'), cosine_distance(v, '[1,1,1]'),"
       " l1_distance(v, '[1,1,1]') FROM items WHERE id < 7 ORDER BY id", tol=1e-5),
    ok("SELECT id FROM items ORDER BY v <-> '[1,1,1]', id LIMIT 5"),
    ok("SELECT id FROM items ORDER BY v <=> '[1,1,1]', id"),
    ok("SELECT cosine_distance('[1,2]'::vector, '[2,4]'::vector), '[1,2]'::vector <=> '[-1,-2]'::vector", tol=1e-7),
    ok("SELECT '[0,0]'::vector <=> '[1,1]'::vector, cosine_distance('[0,0]'::vector, '[0,0]'::vector)"),  # NaN
    ok("SELECT '[1,2]'::vector <-> '[3e38,1]'::vector, l2_distance('[3e38]'::vector, '[-3e38]'::vector)"),  # inf
    ok("SELECT '[3e38,3e38]'::vector <#> '[3e38,3e38]'::vector, inner_product('[3e38]'::vector, '[3e38]'::vector)"),
    ok("SELECT '[-3e38]'::vector <+> '[3e38]'::vector, l1_distance('[3e38,3e38]'::vector, '[-3e38,0]'::vector)"),
    ok("SELECT '[1e20,1e20]'::vector <=> '[-1e20,-1e20]'::vector",
       diverges=f"pgvector's float32 sums overflow (NaN), DuckDB's cosine gives 2; {TO_LOWERING} (DISTANCES['cosine'])"),
    ok("SELECT '[1e-30,1e-30]'::vector <=> '[1e-30,1e-30]'::vector",
       diverges=f"pgvector's float32 norms underflow (NaN), DuckDB's cosine gives 0; {TO_LOWERING} (DISTANCES['cosine'])"),
    *[err(f"SELECT '[1,2]'::vector {op} '[3]'::vector") for op in ("<->", "<#>", "<=>", "<+>")],
    *[err(f"SELECT {fn}('[1,2]'::vector, '[3]'::vector)") for fn in ("l2_distance", "inner_product", "cosine_distance", "l1_distance")],
    err("SELECT v <-> '[1,2]' FROM items",
        message=f"pgvector reads the literal as a vector of its own length: 'different vector dimensions 3 and 2'; vsql "
                f"casts it to the column's: 'expected 3 dimensions, not 2'; {TO_ANALYZE} `to_vector`"),
]

AGGREGATES = [
    ok("SELECT g, avg(v)::text, sum(v)::text, count(v) FROM items WHERE id < 7 GROUP BY g ORDER BY g"),
    ok("SELECT avg(v), sum(v) FROM items WHERE false"),
    ok("SELECT avg(v), sum(v) FROM items WHERE g = 2"),  # only NULLs
    ok("SELECT avg(v)::text FROM big WHERE g = 1"),
    err("SELECT sum(v) FROM big WHERE g = 1"),  # 3e38 + 3e38 overflows float32 before -3e38 comes
    ok("SELECT sum(v)::text, avg(v)::text FROM big WHERE g = 2"),
    err("SELECT g, sum(v) FROM big GROUP BY g"),
    ok("SELECT avg(v)::text FROM items WHERE id = 7"),
    err("SELECT avg(x) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]'::vector)) s(x)",
        message=f"vsql does not see a vector in a derived column and DuckDB has no avg(FLOAT[n]); {TO_ANALYZE}"),
    err("SELECT sum(x) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]'::vector)) s(x)", message=f"as above; {TO_ANALYZE}"),
    ok("SELECT sum(x)::text FROM (VALUES ('[1,2]'::vector), (NULL::vector)) s(x)", diverges=f"as above; {TO_ANALYZE}"),
]

NULLS = [
    ok("SELECT %s::vector <-> '[1,2,3]'::vector", None),
    ok("SELECT l2_distance(%s, v), v <-> %s, v <#> %s, v <=> %s, v <+> %s FROM items ORDER BY id", None, None, None, None, None),
    ok("SELECT id FROM items ORDER BY v <-> %s, id", None),
    ok("SELECT vector_dims(%s::vector), vector_norm(%s::vector), l2_normalize(%s::vector)", None, None, None),
    ok("SELECT subvector(%s::vector, 1, 2), subvector('[1,2,3]'::vector, %s, 2), subvector('[1,2,3]'::vector, 1, %s)", None, None, None),
    ok("SELECT l2_distance(NULL::vector, '[1,2]'::vector), inner_product('[1,2]'::vector, NULL::vector),"
       " cosine_distance('[1,2]'::vector, NULL::vector), l1_distance(NULL::vector, '[1,2]'::vector)"),
    ok("SELECT NULL::vector <-> '[1]'::vector, NULL::vector <#> '[1]'::vector, NULL::vector <=> '[1]'::vector,"
       " NULL::vector <+> '[1]'::vector"),
    ok("SELECT NULL::vector + '[1]'::vector, NULL::vector - '[1]'::vector, NULL::vector * '[1]'::vector"),
    ok("SELECT NULL::vector = '[1]'::vector, NULL::vector < '[1]'::vector"),
    ok("SELECT NULL::vector::text, NULL::vector::real[], NULL::real[]::vector, vector_dims(NULL::vector)"),
    ok("SELECT NULL::vector || '[1]'::vector", diverges=f"DuckDB's list_concat treats NULL as empty: vsql gives [1]; {TO_LOWERING} `_concat`"),
    ok("SELECT inner_product(NULL::vector, NULL::vector), l2_distance(NULL::vector, NULL::vector)",
       diverges=f"DuckDB cannot choose a function for two untyped NULL lists; {TO_LOWERING} (cast NULL to FLOAT[])"),
    err("SELECT vector_dims(NULL)",
        diverges="pgvector 0.7+ overloads its functions on halfvec and sparsevec, so an untyped NULL (or literal) is "
                 "ambiguous; vsql has one vector type and takes it as a vector (deliberately lenient; vsql/sql/analyze.py)"),
    ok("INSERT INTO cmp VALUES (99, %s)", None, after="DELETE FROM cmp"),
]

LITERALS = [
    *[err(f"SELECT '{text}'::vector") for text in ("[1,2,NaN]", "[nan]", "[1,2,inf]", "[-inf]", "[Infinity]", "[]", "[ ]",
                                                   "[1e39]", "[-1e39]", "[3.4028236e38]", "[1e39, x]")],
    *[err(f"SELECT '{text}'::vector")
      for text in ("[1,2", "1,2", "[1,,2]", "[1 2]", "[1,2] x", "[1,2,]", "[1,2]]", "[[1,2]]", "", "[1e]", "[.]", "[x, 1e39]")],
    err("SELECT %s::vector", "[1,2"),
    err("SELECT %s::vector", "[1,NaN]"),
    err("SELECT '[" + ",".join(["1"] * 16001) + "]'::vector"),
    err("SELECT '[1,2e500]'::vector"),
    ok("SELECT '[0x10]'::vector::text",
       diverges="pgvector reads hexadecimal floats (strtof), vsql refuses them on purpose (tests/test_bad_input.py pins "
                "'[0x10,1,2]' as malformed): vsql/sql/vectors.py `_ELEMENT`, if wanted"),
]

INDEXES = [
    *[ok(f"CREATE INDEX ix ON docs USING {using} (v {ops}){options}", after="DROP INDEX ix") for using, ops, options in [
        ("hnsw", "vector_l2_ops", " WITH (m = 2, ef_construction = 4)"),
        ("hnsw", "vector_ip_ops", ""),
        ("hnsw", "vector_cosine_ops", " WITH (m = 100, ef_construction = 1000)"),
        ("hnsw", "vector_l1_ops", " WITH (m = 8)"),
        ("hnsw", "vector_l2_ops", " WITH (M = 4)"),
        ("ivfflat", "vector_l2_ops", " WITH (lists = 1)"),
        ("ivfflat", "vector_ip_ops", " WITH (lists = 3)"),
        ("ivfflat", "vector_cosine_ops", ""),
    ]],
    *[err(f"CREATE INDEX ix ON docs USING {using} (v vector_l2_ops) WITH ({option})") for using, option in [
        ("hnsw", "m = 1"), ("hnsw", "m = 101"), ("hnsw", "ef_construction = 3"), ("hnsw", "ef_construction = 1001"),
        ("hnsw", "m = 16, ef_construction = 31"), ("hnsw", "foo = 1"), ("ivfflat", "lists = 0"),
        ("ivfflat", "lists = 32769"), ("ivfflat", "m = 4")]],
    err("CREATE INDEX ix ON docs USING hnsw (v vector_l2_ops) WITH (m = 'x')"),
    err("CREATE INDEX ix ON docs USING hnsw (v vector_l2_ops) WITH (m = -1)"),
    ok("CREATE INDEX ix ON docs USING hnsw (v vector_l2_ops) WITH (m = '8')", after="DROP INDEX ix"),
    ok("CREATE INDEX ix ON docs USING hnsw (v vector_l2_ops) WITH (m = 4.5)", after="DROP INDEX ix"),
    err("CREATE INDEX ix ON docs USING hnsw (v vector_l2_ops) WITH (m = 4, m = 5)", after="DROP INDEX IF EXISTS ix"),
    ok("CREATE INDEX ix ON docs USING ivfflat (v)", after="DROP INDEX ix"),
    err("CREATE INDEX ix ON docs USING hnsw (v)"),
    err("CREATE INDEX ix ON docs USING ivfflat (v vector_l1_ops)"),
    err("CREATE INDEX ix ON docs USING hnsw (v vector_foo_ops)"),
    err("CREATE INDEX ix ON docs USING hnsw (id int4_ops)"),
    err("CREATE INDEX ix ON docs USING hnsw ((v + v) vector_l2_ops)"),
    ok("CREATE INDEX ix ON docs USING hnsw ((v::halfvec(3)) halfvec_l2_ops)", after="DROP INDEX ix"),
    ok("CREATE INDEX ix ON docs USING hnsw ((binary_quantize(v)::bit(3)) bit_hamming_ops)", after="DROP INDEX ix"),
    ok("CREATE INDEX ix ON docs USING hnsw ((subvector(v, 1, 2)::vector(2)) vector_cosine_ops)", after="DROP INDEX ix"),
    err("CREATE INDEX ix ON docs USING hnsw ((binary_quantize(v)::bit(3)) bit_jaccard_ops) WITH (lists = 3)"),
    err("CREATE INDEX ix ON docs USING ivfflat ((binary_quantize(v)::bit(3)) bit_jaccard_ops)"),
    err("CREATE INDEX ix ON docs USING hnsw (v halfvec_l2_ops)"),
]

SPARSE_BAD = ["{1:1,1:2}/3", "{0:1}/3", "{4:1}/3", "{-1:1}/3", "{1:nan}/3", "{1:inf}/3", "{1:-Infinity}/3", "{1:1e39}/3",
              "{1:1e-46}/3", "{1:1}/0", "{}/0", "{1:1}/1000000001", "{1:1}/99999999999", "{1:1}", "{1:1}/", "{1:1}/3x",
              "[1,2]", "{1:}/3", "{:1}/3", "{1 1}/3", "{1:1,}/3", "{1.5:1}/3", "{1:1}/3.5", "", "{1:1,1:1,5:1}/3",
              "{99999999999:1}/3", "{1:1}/-3", "{1:1 2}/3", "{a:1}/3", "{1:1,2:1,3:1,4:1}/3"]
SPARSE = [
    ok("SELECT '{1:1.5,3:2}/5'::sparsevec::text, '{3:2,1:1.5, 2:0, 4:-0}/5'::sparsevec::text, '{}/3'::sparsevec::text"),
    ok("SELECT ' { 1 : 1 } / 3 '::sparsevec::text, '{+1:1}/+3'::sparsevec::text, '{1:1e-45,2:3.4028235e38}/3'::sparsevec::text"),
    ok("SELECT '{1:0.1,2:1e-5,3:123456789,4:1e15,5:-0.0001}/5'::sparsevec::text, '{1:1}/1000000000'::sparsevec::text"),
    ok("SELECT '{2:1,2:0,5:0,0:0}/3'::sparsevec::text"),  # zeros are dropped before indices are checked
    ok("SELECT s, u FROM sparse ORDER BY id"),
    ok("SELECT %s::sparsevec::text, %s::sparsevec", "{1:1,2:0.5}/3", "{3:-2}/3"),
    *[err(f"SELECT '{text}'::sparsevec") for text in SPARSE_BAD],
    err("SELECT '{" + ",".join(f"{i}:1" for i in range(1, 16002)) + "}/20000'::sparsevec"),
    ok("SELECT length('{" + ",".join(f"{i}:1" for i in range(1, 16001)) + "}/20000'::sparsevec::text)"),
    ok("SELECT '{1:0x10}/3'::sparsevec::text",
       diverges="pgvector reads hexadecimal floats (strtof), vsql refuses them on purpose, as for vector (vsql/sql/vectors.py)"),
    # casts
    ok("SELECT '[1,0,2]'::vector::sparsevec::text, '[0,0,0]'::vector::sparsevec::text, '[1,-0,2]'::vector::sparsevec(3)::text"),
    ok("SELECT '{1:1}/3'::sparsevec::vector::text, '{1:1}/3'::sparsevec::vector(3)::text, '{3:2}/3'::text::sparsevec(3)::text"),
    ok("SELECT '{1:1.5}/3'::sparsevec::halfvec::text, '{1:1e-8}/3'::sparsevec::halfvec::text, '[1,0,0.1]'::halfvec::sparsevec::text"),
    ok("SELECT ARRAY[1,0,2]::real[]::sparsevec::text, ARRAY[1,0,2]::int[]::sparsevec::text, ARRAY[0.1]::double precision[]::sparsevec::text"),
    ok("SELECT '{1:1}/3'::sparsevec::sparsevec(3)::text, '{1:1}/3'::sparsevec::varchar"),
    ok("SELECT s::vector::text, s::text, s::halfvec::text FROM sparse WHERE id < 6 ORDER BY id"),
    ok("SELECT u::sparsevec(3)::text FROM sparse WHERE id IN (1, 5)"),
    *[err(sql) for sql in [
        "SELECT '[1,0,2]'::vector::sparsevec(4)", "SELECT '{1:1}/3'::sparsevec::vector(4)",
        "SELECT '{1:1}/16001'::sparsevec::vector", "SELECT '{1:1}/16001'::sparsevec::halfvec",
        "SELECT '{1:70000}/3'::sparsevec::halfvec", "SELECT '{1:1}/3'::sparsevec::real[]",
        "SELECT ARRAY[1,NULL]::real[]::sparsevec", "SELECT ARRAY[]::real[]::sparsevec", "SELECT ARRAY[1,0,2]::real[]::sparsevec(2)",
        "SELECT '{1:1}/3'::sparsevec::sparsevec(4)", "SELECT u::sparsevec(3) FROM sparse", "SELECT '{1:1}/3'::sparsevec(0)",
        "SELECT '{1:1}/3'::sparsevec(1000000001)", "CREATE TABLE bad (s sparsevec(0))", "SELECT s::vector(4) FROM sparse"]],
    # distances, functions
    ok("SELECT id, s <-> '{1:1,2:1}/5', s <#> '{1:1,2:1}/5', s <=> '{1:1,2:1}/5', s <+> '{1:1,2:1}/5' FROM sparse ORDER BY id", tol=1e-6),
    ok("SELECT id, l2_distance(s, '{1:1,2:1}/5'), inner_product(s, '{1:1,2:1}/5'), cosine_distance(s, '{1:1,2:1}/5'),"
       " l1_distance(s, '{1:1,2:1}/5') FROM sparse ORDER BY id", tol=1e-6),
    ok("SELECT id FROM sparse ORDER BY s <-> '{1:1,2:1}/5', id LIMIT 3"),
    ok("SELECT id, s <=> %s FROM sparse ORDER BY s <=> %s, id LIMIT 4", "{1:1}/5", "{1:1}/5", tol=1e-6),
    ok("SELECT a.id, b.id, a.u <-> b.u FROM sparse a JOIN sparse b ON vector_dims(a.u::vector) = vector_dims(b.u::vector)"
       " ORDER BY 1, 2", tol=1e-6),
    ok("SELECT '{1:1}/3'::sparsevec <-> '[1,2,3]'::vector, '[1,2,3]'::vector <=> '{1:1}/3'::sparsevec,"
       " '{1:1}/3'::sparsevec <-> '[1,2,3]'::halfvec, inner_product('{1:1}/3'::sparsevec, '[1,2,3]'::vector)", tol=1e-6),
    ok("SELECT '{1:1}/3'::sparsevec <-> '{1:1}/3', l2_distance('{1:1}/3'::sparsevec, '{2:1}/3'), '{1:2}/3' <#> '{1:1,2:1}/3'::sparsevec"),
    ok("SELECT '{}/3'::sparsevec <=> '{1:1}/3'::sparsevec, '{}/3'::sparsevec <=> '{}/3'::sparsevec"),  # NaN
    ok("SELECT '{1:3e38}/3'::sparsevec <-> '{1:-3e38}/3'::sparsevec, '{1:3e38}/3'::sparsevec <+> '{1:-3e38}/3'::sparsevec,"
       " '{1:3e38,2:3e38}/3'::sparsevec <#> '{1:3e38,2:3e38}/3'::sparsevec, '{1:1e20,2:1e20}/3'::sparsevec <=> '{1:-1e20,2:-1e20}/3'::sparsevec"),
    *[err(f"SELECT '{{1:1}}/3'::sparsevec {op} '{{1:1}}/4'::sparsevec") for op in ("<->", "<#>", "<=>", "<+>")],
    *[err(f"SELECT {fn}('{{1:1}}/3'::sparsevec, '{{1:1}}/4'::sparsevec)")
      for fn in ("l2_distance", "inner_product", "cosine_distance", "l1_distance")],
    err("SELECT '{1:1}/3'::sparsevec <-> '[1,2]'::vector"),
    err("SELECT s <-> u FROM sparse"),
    err("SELECT s <-> '{1:1}/3' FROM sparse",
        message=f"as for vector: pgvector 'different sparsevec dimensions 5 and 3', vsql 'expected 5 dimensions, not 3'; "
                f"{TO_ANALYZE} `to_sparse`"),
    ok("SELECT id, l2_norm(s), l2_normalize(s)::text, l2_norm(u), l2_normalize(u) FROM sparse ORDER BY id", tol=1e-12),
    ok("SELECT l2_normalize('{1:3,2:4}/3'::sparsevec)::text, l2_normalize('{}/3'::sparsevec)::text,"
       " l2_normalize('{1:3e38,2:3e38}/3'::sparsevec)::text, l2_normalize('{1:1e-45,2:1}/3'::sparsevec)::text"),
    *[err(sql) for sql in [
        "SELECT vector_dims('{1:1}/3'::sparsevec)", "SELECT '{1:1}/3'::sparsevec + '{1:1}/3'::sparsevec",
        "SELECT s - s FROM sparse", "SELECT s * s FROM sparse", "SELECT s || s FROM sparse", "SELECT avg(s) FROM sparse",
        "SELECT sum(u) FROM sparse", "SELECT subvector('{1:1}/3'::sparsevec, 1, 2)", "SELECT binary_quantize(s) FROM sparse"]],
    err("SELECT max(s) FROM sparse", diverges=f"pgvector defines no min/max over sparsevec, DuckDB compares structs; {TO_ANALYZE}"),
    err("SELECT l2_norm('{1:1}/3')", message="pgvector: 'function l2_norm(unknown) is not unique'; vsql takes an untyped "
                                              "literal as a vector (on purpose, as above)"),
    err("SELECT '{1:1}/3' <-> '{1:1}/3'", message="pgvector: 'operator is not unique', vsql reads both as vectors"),
    # NULLs, comparisons, ORDER BY
    ok("SELECT NULL::sparsevec <-> '{1:1}/3'::sparsevec, l2_norm(NULL::sparsevec), l2_normalize(NULL::sparsevec),"
       " NULL::sparsevec::text, NULL::sparsevec::vector, inner_product(NULL::sparsevec, '{1:1}/3'::sparsevec)"),
    ok("SELECT s <-> %s, s <#> %s, cosine_distance(s, %s) FROM sparse ORDER BY id", None, None, None),
    ok("SELECT %s::sparsevec <-> '{1:1}/3'::sparsevec", None),
    ok("SELECT '{1:1}/3'::sparsevec = '{1:1}/3'::sparsevec, '{1:1}/3'::sparsevec < '{1:2}/3'::sparsevec,"
       " '{1:1}/3'::sparsevec = '{1:1}/4'::sparsevec, '{1:1}/3'::sparsevec < '{1:1}/4'::sparsevec,"
       " '{1:1}/3'::sparsevec <> '{2:1}/3'::sparsevec, '{1:1}/3'::sparsevec = '[1,0,0]'::vector"),
    ok("SELECT '{1:2,2:1}/3'::sparsevec < '{1:1,2:5}/3'::sparsevec, '{2:1}/3'::sparsevec < '{1:1}/3'::sparsevec,"
       " '{2:-1}/3'::sparsevec < '{}/3'::sparsevec, '{1:1}/2'::sparsevec < '{1:1}/3'::sparsevec,"
       " '{1:1}/5'::sparsevec >= '{1:1,2:1}/3'::sparsevec, '{1:-1}/3'::sparsevec <= '{1:-1,3:-1}/3'::sparsevec"),
    # (a `u::text` output column is itself named u, which PostgreSQL's ORDER BY u would sort by)
    ok("SELECT id, u::text AS t FROM sparse ORDER BY u, id"),
    ok("SELECT id, s::text AS t FROM sparse ORDER BY s, id"),
    ok("SELECT id FROM sorts WHERE id <> 10 ORDER BY x, id"),
    ok("SELECT id FROM sorts ORDER BY x, id",
       diverges="pgvector compares {9:-1}/10 and {}/2 by their dimensions (its next element lies past 2), vsql's sort key "
                "(udfs/vector_udfs.py sparsevec_key) by that element: only ORDER BY, `<` is pgvector's own comparison"),
    ok("SELECT a.id, b.id, a.x < b.x, a.x = b.x, a.x >= b.x FROM sorts a, sorts b ORDER BY 1, 2"),
    ok("SELECT x::text AS t FROM (VALUES ('{1:1}/3'::sparsevec), ('{}/2'::sparsevec)) s(x) ORDER BY x",
       diverges=f"as for vector: vsql does not see a sparsevec in a column of VALUES (its text is DuckDB's struct); {TO_ANALYZE}"),
    ok("SELECT id FROM sparse ORDER BY s DESC, id"),
    ok("SELECT a.id, b.id, a.s < b.s, a.s <= b.s, a.s = b.s, a.s <> b.s, a.s >= b.s, a.s > b.s, a.u < b.u, a.u = b.u"
       " FROM sparse a, sparse b ORDER BY 1, 2"),
    ok("SELECT count(DISTINCT s), count(DISTINCT u) FROM sparse"),
    ok("SELECT min(id), count(*) FROM sparse GROUP BY s ORDER BY 1"),
    ok("SELECT id FROM sparse WHERE s = '{1:1,3:2}/5' ORDER BY id"),
    # writes and indexes
    err("INSERT INTO sparse VALUES (99, '{1:1}/4', NULL)"),
    err("UPDATE sparse SET s = '{1:1}/4' WHERE id = 1"),
    err("INSERT INTO sparse VALUES (99, '[1,2,3,4,5]', NULL)"),
    err("INSERT INTO sparse VALUES (99, '[1,2,3]'::vector, NULL)"),
    ok("INSERT INTO sparse VALUES (99, '[1,0,0,0,2]'::vector, %s)", "{1:1}/9", after="DELETE FROM sparse WHERE id = 99"),
    ok("UPDATE sparse SET u = '{2:2}/2' WHERE id = 99"),
    err("CREATE INDEX ix ON sparse USING ivfflat (s sparsevec_l2_ops)"),
    ok("CREATE INDEX ix ON sparse USING hnsw (s sparsevec_l2_ops)", after="DROP INDEX IF EXISTS ix"),
    ok("CREATE INDEX ix ON sparse USING hnsw (s sparsevec_cosine_ops)", after="DROP INDEX IF EXISTS ix"),
    err("CREATE INDEX ix ON sparse USING hnsw (s vector_l2_ops)"),
]

CASES = {"text": TEXT, "casts": CASTS, "comparisons": COMPARISONS, "functions": FUNCTIONS, "distances": DISTANCES,
         "aggregates": AGGREGATES, "nulls": NULLS, "literals": LITERALS, "indexes": INDEXES, "sparsevec": SPARSE}


def _params(marks_from: str, only_errors: bool = False):
    out = []
    for group, cases in CASES.items():
        for i, case in enumerate(cases):
            if only_errors and not case.error:
                continue
            reason = case.diverges if marks_from == "outcome" else case.diverges or case.message
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(case, marks=marks, id=f"{group}-{i}-{case.sql[:50]}"))
    return out


@pytest.mark.parametrize("case", _params("outcome"))
def test_same_outcome(both, case):
    """Both succeed with the same rows, or both fail."""
    try:
        pg, _ = both.compare(case.sql, case.params, case.tol)
        assert (pg[0] == "error") == case.error, f"the table says pgvector {'fails' if case.error else 'succeeds'}: {pg}"
    finally:
        if case.after:
            both.both(case.after)


@pytest.mark.parametrize("case", _params("message", only_errors=True))
def test_same_error_message(both, case):
    """vsql's message starts with pgvector's primary message."""
    try:
        pg, vs = both.on_pg(case.sql, case.params), both.on_vsql(case.sql, case.params)
    finally:
        if case.after:
            both.both(case.after)
    assert pg[0] == "error" and vs[0] == "error", (pg, vs)
    assert vs[1].startswith(pg[1]), f"pgvector: {pg[1]}\nvsql:     {vs[1]}"


# -- generated inputs -----------------------------------------------------------------------

FLOAT32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
GENERATED = settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _spell(value: float, short: bool) -> str:
    """A float32 as text: its shortest digits, or the exact float64 digits of its value."""
    v = np.float32(value)
    return np.format_float_scientific(v, trim="-") if short else repr(float(v))


@GENERATED
@given(values=st.lists(st.tuples(FLOAT32, st.booleans()), min_size=1, max_size=8))
def test_text_form_of_generated_float32(both, values):
    """pgvector's text form (shortest round-trip digits, exponents as %g writes them) of any float32,
    tiny, huge and -0 included; the same value read back through real[]."""
    literal = "[" + ",".join(_spell(v, short) for v, short in values) + "]"
    both.compare(f"SELECT '{literal}'::vector::text, %s::vector::text, %s::vector::real[]", (literal, literal))


DECIMAL = st.builds(lambda sign, digits, exponent: f"{sign}{digits[:1]}.{digits[1:] or '0'}e{exponent}",
                    st.sampled_from(["", "-", "+"]), st.text("0123456789", min_size=1, max_size=30),
                    st.integers(-50, 40))


@GENERATED
@given(elements=st.lists(DECIMAL, min_size=1, max_size=6))
def test_decimal_input_rounds_once(both, elements):
    """Long decimals near float32's limits read as strtof reads them: rounded once, out of range
    past the largest float32, to ±0 below the smallest subnormal."""
    pg, vs = both.compare("SELECT '[" + ",".join(elements) + "]'::vector::text")
    if pg[0] == "error":
        assert vs[1].startswith(pg[1]), (pg, vs)


VECTOR_PAIRS = st.integers(1, 12).flatmap(lambda n: st.tuples(
    *[st.lists(st.floats(-1e4, 1e4, width=32, allow_subnormal=False), min_size=n, max_size=n)] * 2))


@GENERATED
@given(pair=VECTOR_PAIRS)
def test_distances_of_generated_vectors(both, pair):
    """Every distance operator and function, the norm and element-wise arithmetic. Distances within
    1e-5 of the sum of the magnitudes of their terms: pgvector adds float32 terms in SIMD order, DuckDB
    in order (its L2 distance and norm also in float32); arithmetic exactly."""
    a, b = (np.asarray(x, np.float32) for x in pair)
    x, y = (format_literal(v) for v in (a, b))
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    l2 = float(np.sum((a64 - b64) ** 2)) ** 0.5
    ip = float(np.sum(np.abs(a64 * b64)))
    l1 = float(np.sum(np.abs(a64 - b64)))
    norm = float(np.sum(a64 * a64)) ** 0.5
    scale = [l2, ip, 1.0, l1, l2, ip, 1.0, l1, norm]
    both.compare(f"SELECT {x} <-> {y}, {x} <#> {y}, {x} <=> {y}, {x} <+> {y}, l2_distance({x}, {y}), "
                 f"inner_product({x}, {y}), cosine_distance({x}, {y}), l1_distance({x}, {y}), vector_norm({x})",
                 tol=1e-5, scale=[scale])
    both.compare(f"SELECT ({x} + {y})::text, ({x} - {y})::text, ({x} || {y})::text, {x} = {y}, {x} < {y}")
    both.compare(f"SELECT l2_normalize({x})", tol=1e-6)


def text_of(v: np.ndarray) -> str:
    """A float32 vector as pgvector's input text, each element's exact float64 digits."""
    return "[" + ",".join(repr(float(e)) for e in v) + "]"


def format_literal(v: np.ndarray) -> str:
    return f"'{text_of(v)}'::vector"


SPARSE_PAIRS = st.integers(1, 12).flatmap(lambda n: st.tuples(*[st.lists(
    st.one_of(st.just(0.0), st.floats(-1e4, 1e4, width=32, allow_subnormal=False)), min_size=n, max_size=n)] * 2))


def sparse_literal(v: np.ndarray) -> str:
    """A float32 vector as a sparsevec literal, each non-zero element's exact float64 digits."""
    return "'{" + ",".join(f"{i + 1}:{float(e)!r}" for i, e in enumerate(v) if e) + f"}}/{len(v)}'::sparsevec"


@GENERATED
@given(pair=SPARSE_PAIRS)
def test_distances_of_generated_sparsevecs(both, pair):
    """The four distances, their functions, l2_norm and l2_normalize over sparsevecs, within 1e-5 of
    the size of their terms; comparisons and text exactly."""
    a, b = (np.asarray(x, np.float32) for x in pair)
    x, y = sparse_literal(a), sparse_literal(b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    l2 = float(np.sum((a64 - b64) ** 2)) ** 0.5
    ip = float(np.sum(np.abs(a64 * b64)))
    l1 = float(np.sum(np.abs(a64 - b64)))
    scale = [l2, ip, 1.0, l1, l2, ip, 1.0, l1, float(np.sum(a64 * a64)) ** 0.5]
    both.compare(f"SELECT {x} <-> {y}, {x} <#> {y}, {x} <=> {y}, {x} <+> {y}, l2_distance({x}, {y}), "
                 f"inner_product({x}, {y}), cosine_distance({x}, {y}), l1_distance({x}, {y}), l2_norm({x})",
                 tol=1e-5, scale=[scale])
    both.compare(f"SELECT {x}::text, l2_normalize({x})::text, {x}::vector::sparsevec = {x}, {x} < {y}, {x} >= {y}")


ELEMENT = st.sampled_from([-1.0, -0.0, 0.0, 0.5, 1.0, 2.0])


@settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.one_of(st.none(), st.lists(ELEMENT, min_size=3, max_size=3)), min_size=1, max_size=6))
def test_order_and_aggregates_of_generated_rows(both, rows):
    """Comparison operators, ORDER BY, GROUP BY and avg/sum over rows with ties, -0 and NULLs."""
    both.both("DELETE FROM cmp")
    for i, row in enumerate(rows):
        both.compare("INSERT INTO cmp VALUES (%s, %s)", (i, None if row is None else text_of(np.float32(row))))
    both.compare("SELECT a.id, b.id, a.v < b.v, a.v <= b.v, a.v = b.v, a.v <> b.v, a.v >= b.v, a.v > b.v "
                 "FROM cmp a, cmp b ORDER BY 1, 2")
    both.compare("SELECT id FROM cmp ORDER BY v, id")
    both.compare("SELECT id FROM cmp ORDER BY v DESC NULLS LAST, id")
    both.compare("SELECT min(id), count(*) FROM cmp GROUP BY v ORDER BY 1")
    both.compare("SELECT avg(v)::text, sum(v)::text, count(v) FROM cmp")


# -- a crash, kept out of the test process ---------------------------------------------------

CRASH = """
import vsql
con = vsql.connect(":memory:", autocommit=True)
con.execute("CREATE TABLE t (id int PRIMARY KEY, v vector(2))")
con.execute("INSERT INTO t VALUES (1, '[1,2]'), (2, '[3e38,3e38]')")
con.execute("CREATE INDEX ON t USING ivfflat (v vector_l2_ops) WITH (lists = 1)")
"""


def test_ivfflat_over_vectors_whose_distances_overflow(both):
    both.both("CREATE TABLE huge (id int PRIMARY KEY, v vector(2))")
    both.both("INSERT INTO huge VALUES (1, '[1,2]'), (2, '[3e38,3e38]')")
    assert both.on_pg("CREATE INDEX ON huge USING ivfflat (v vector_l2_ops) WITH (lists = 1)")[0] == "ok"
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(CRASH)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-500:]
