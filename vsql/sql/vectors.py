"""Vector values: pgvector's text form, NumPy and Python sequences, validated as pgvector does."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from vsql.errors import VectorError
from vsql.sql.dialect import MAX_DIM

# One element as strtof reads it (hexadecimal floats aside, which vsql refuses): a decimal number,
# or an infinity or NaN spelling, which are read and then refused.
_ELEMENT = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE | re.ASCII)
_SPACE = " \t\n\r\v\f"  # PostgreSQL's scanner_isspace
_OVERFLOW = 2.0 ** 128 - 2.0 ** 103  # halfway from the largest float32 to 2^128: from here on strtof gives inf


def parse_text(text: str, kind: str = "vector") -> np.ndarray:
    """Parse pgvector's text form '[1,2.5,3]' into a float32 array, as pgvector's `vector_in` does
    (`halfvec_in` for kind "halfvec": each float32 then rounded to float16, held as float32).

    The scan follows vector_in step by step, so that the first fault found is the one pgvector
    reports: elements are read left to right, each rounded once to float32 as strtof rounds it,
    an element out of float32's range is named as written, and only whitespace may follow `]`.
    """
    pos = _skip_space(text, 0)
    if not text.startswith("[", pos):
        raise _malformed(text, kind)
    pos = _skip_space(text, pos + 1)
    if text.startswith("]", pos):
        raise VectorError(f"{kind} must have at least 1 dimension")
    tokens: list[str] = []
    values: list[float] = []
    while True:
        if len(tokens) == MAX_DIM:
            raise VectorError(f"{kind} cannot have more than {MAX_DIM} dimensions")
        pos = _skip_space(text, pos)
        match = _ELEMENT.match(text, pos)
        if match is None:
            raise _malformed(text, kind)
        token = match.group()
        value = float(token)
        spelt = token.lstrip("+-")[:1].isalpha()  # nan, inf, infinity
        if not spelt and abs(value) >= _OVERFLOW and (math.isinf(value) or _overflows(token)):
            raise VectorError(f'"{_clip(token)}" is out of range for type {kind}')
        if math.isnan(value):
            raise VectorError(f"NaN not allowed in {kind}")
        if math.isinf(value):
            raise VectorError(f"infinite value not allowed in {kind}")
        tokens.append(token)
        values.append(value)
        pos = _skip_space(text, match.end())
        if text.startswith(",", pos):
            pos += 1
        elif text.startswith("]", pos):
            break
        else:
            raise _malformed(text, kind)
    if _skip_space(text, pos + 1) != len(text):
        raise _malformed(text, kind)  # junk after the closing bracket
    return TYPES[kind].narrow(_round_to_float32(tokens, np.asarray(values, dtype=np.float64)), tokens)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos


def _malformed(text: str, kind: str = "vector") -> VectorError:
    return VectorError(f'invalid input syntax for type {kind}: "{_clip(text)}"')


def _overflows(token: str) -> bool:
    """Whether strtof makes `token` (whose float64 is at or past the overflow point) infinite."""
    return abs(Fraction(token)) >= _OVERFLOW


def _round_to_float32(tokens: list[str], wide: np.ndarray) -> np.ndarray:
    """The float32 nearest each decimal token, rounded once as strtof rounds.

    Going through float64 rounds twice; that differs from rounding once only where the float64
    lands exactly halfway between two float32 (or among the subnormals), so those elements are
    rounded again from their digits."""
    with np.errstate(over="ignore"):
        narrow = wide.astype(np.float32)
    halfway = (wide.view(np.int64) & ((1 << 29) - 1)) == 1 << 28
    tiny = (np.abs(wide) < 2.0 ** -126) & (wide != 0)
    for i in np.flatnonzero(halfway | tiny):
        narrow[i] = _nearest_float32(Fraction(tokens[i]), narrow[i])
    return narrow


def _nearest_float32(exact: Fraction, guess: np.float32) -> np.float32:
    """The float32 nearest `exact`, ties to even, looking at `guess` and its two neighbours."""
    candidates = {guess, np.nextafter(guess, np.float32(np.inf)), np.nextafter(guess, np.float32(-np.inf))}

    def key(c: np.float32):
        value = Fraction(2 ** 128) * (1 if c > 0 else -1) if np.isinf(c) else Fraction(float(c))
        return abs(exact - value), int(np.array(c, np.float32).view(np.uint32)) & 1

    best = min(candidates, key=key)
    return np.float32(np.copysign(best, float(exact)) if best == 0 else best)


def check(values: np.ndarray, kind: str = "vector") -> np.ndarray:
    """Validate a 1-D array as a vector (of `kind`, see TYPES) and return it as float32."""
    return TYPES[kind].narrow(_check(values), None)


def _check(values: np.ndarray) -> np.ndarray:
    if values.ndim != 1:
        raise VectorError(f"expected a 1-dimensional vector, got an array of shape {values.shape}")
    if values.size == 0:
        raise VectorError("vector must have at least 1 dimension")
    if values.size > MAX_DIM:
        raise VectorError(f"vector cannot have more than {MAX_DIM} dimensions")
    if values.dtype.kind not in "fiub":
        raise VectorError(f"expected numbers in a vector, got {values.dtype}")
    if values.dtype == np.float32 and np.isfinite(values).all():
        return values  # the common case: already a valid float32 vector
    values = values.astype(np.float64, copy=False)
    if np.isnan(values).any():
        raise VectorError("NaN not allowed in vector")
    if np.isinf(values).any():
        raise VectorError("infinite value not allowed in vector")
    big = np.abs(values) >= _OVERFLOW  # rounds to an infinite float32
    if big.any():
        # pgvector says "infinite value not allowed in vector" for arrays; vsql's tests pin this one
        raise VectorError(f'"{values[big][0]:g}" is out of range for type vector')
    return values.astype(np.float32)


def coerce(value: Any, kind: str = "vector") -> np.ndarray:
    """A float32 vector from a NumPy array, a sequence of numbers or pgvector's text form."""
    if isinstance(value, str):
        return parse_text(value, kind)
    if isinstance(value, np.ndarray):
        return check(value, kind)
    if isinstance(value, (list, tuple)):
        if any(v is None for v in value):
            raise VectorError("array must not contain nulls")
        if not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in value):
            raise VectorError("expected a vector: a sequence of numbers")
        return check(np.asarray(value, dtype=np.float64), kind)
    raise VectorError(f"expected a vector (NumPy array, list of numbers or '[1,2,3]'), got {type(value).__name__}")


def is_vector_value(value: Any) -> bool:
    """True for values that can only mean a vector when bound: 1-D numeric NumPy arrays."""
    return isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "fiu"


def format_text(values: np.ndarray) -> str:
    """pgvector's text form: shortest float32 round-trip digits, '[1,2.5,3]'."""
    return "[" + ",".join(_format_float(v) for v in np.asarray(values, dtype=np.float32)) + "]"


def _format_float(v: np.float32) -> str:
    """PostgreSQL's float4out: the shortest digits that read back as `v`, written like printf's %g
    (fixed point for decimal exponents -4 to 5, else d.ddde+XX)."""
    scientific = np.format_float_scientific(v, trim="-", exp_digits=2)
    if -4 <= int(scientific[scientific.index("e") + 1:]) < 6:
        return np.format_float_positional(v, trim="-")
    return scientific


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def check_matrix(matrix: np.ndarray) -> np.ndarray:
    """Validate a (rows, dims) array of vectors at once; the first bad row is named."""
    matrix = np.asarray(matrix)
    if matrix.dtype.kind not in "fiub":
        raise VectorError(f"expected numbers in vectors, got {matrix.dtype}")
    bad = ~np.isfinite(matrix).all(axis=1)
    if matrix.dtype != np.float32:  # wider values may round to an infinite float32
        bad |= (np.abs(matrix.astype(np.float64, copy=False)) >= _OVERFLOW).any(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        check(np.asarray(matrix[row], dtype=np.float64))  # raises pgvector's message
    return matrix.astype(np.float32, copy=False)


# -- pgvector's dense vector types ---------------------------------------------------------------

HALF_MAX = 65504.0  # the largest float16


def to_half(values: np.ndarray, tokens: list[str] | None = None) -> np.ndarray:
    """float32 values rounded to float16 as pgvector's Float4ToHalf rounds them (so a decimal is
    rounded twice, to float32 by strtof, then to float16), held as float32. A value past float16's
    range is named as written (`tokens`) or in float4out's digits."""
    with np.errstate(over="ignore"):
        half = np.asarray(values, np.float32).astype(np.float16)
    over = np.isinf(half)
    if over.any():
        i = int(np.argmax(over))
        raise VectorError(f'"{_clip(tokens[i]) if tokens else _format_float(np.float32(values[i]))}" '
                          f'is out of range for type halfvec')
    return half.astype(np.float32)


@dataclass(frozen=True)
class VectorType:
    """One of pgvector's dense vector types: its values, held as float32 by vsql, and what the
    DB-API hands back for it."""

    name: str
    narrow: Callable[[np.ndarray, list[str] | None], np.ndarray]  # checked float32 -> the type's values
    dtype: type  # NumPy dtype of the values a client gets


TYPES = {t.name: t for t in [
    VectorType("vector", lambda values, tokens: values, np.float32),
    VectorType("halfvec", to_half, np.float16),
]}
