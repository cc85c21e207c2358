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


# -- pgvector's sparsevec ------------------------------------------------------------------------

SPARSE_MAX_DIM = 1_000_000_000  # pgvector 0.8's SPARSEVEC_MAX_DIM
SPARSE_MAX_NNZ = 16000  # and SPARSEVEC_MAX_NNZ
_INDEX = re.compile(r"[+-]?\d+", re.ASCII)  # an index or a dimension, as strtol reads it
_INT_MAX = 2 ** 31 - 1
_UNDERFLOW = 2.0 ** -150  # halfway to the smallest float32 subnormal: at or below it strtof gives 0


class SparseVector:
    """A sparse vector, as pgvector-python's `pgvector.SparseVector`: its dimension, the 0-based
    indices of its non-zero elements, ascending, and their values.

        >>> SparseVector({0: 1.5, 2: 2}, 5)
        SparseVector({0: 1.5, 2: 2.0}, 5)
        >>> SparseVector([1, 0, 2]).to_text()
        '{1:1,3:2}/3'

    `str()` gives pgvector's text form (1-based indices), which is how the shell and the notebook
    magics show it.
    """

    __slots__ = ("_dim", "_indices", "_values")

    def __init__(self, value: Any, dimensions: int | None = None):
        if isinstance(value, dict):
            if dimensions is None:
                raise ValueError("missing dimensions")
            elements = sorted((int(i), float(v)) for i, v in value.items() if v != 0)
            self._dim = int(dimensions)
        elif dimensions is not None:
            raise ValueError("extra argument")
        elif hasattr(value, "tocoo"):  # a SciPy sparse array of one row
            coo = value.tocoo()
            coo.sum_duplicates()
            self._dim = int(coo.shape[-1])
            columns = coo.coords[-1] if hasattr(coo, "coords") else coo.col
            elements = sorted((int(i), float(v)) for i, v in zip(columns, coo.data) if v != 0)
        else:
            dense = np.asarray(value)
            if dense.ndim != 1:
                raise ValueError("expected ndim to be 1")
            self._dim = len(dense)
            elements = [(int(i), float(dense[i])) for i in np.flatnonzero(dense)]
        self._indices = [i for i, _ in elements]
        self._values = [v for _, v in elements]

    @classmethod
    def _from_parts(cls, dim: int, indices, values) -> SparseVector:
        made = cls.__new__(cls)
        made._dim, made._indices, made._values = int(dim), [int(i) for i in indices], [float(v) for v in values]
        return made

    @classmethod
    def from_text(cls, text: str) -> SparseVector:
        """pgvector's text form, '{1:1.5,3:2}/5', read and checked as pgvector's `sparsevec_in` does."""
        return parse_sparse(text)

    def dimensions(self) -> int:
        return self._dim

    def indices(self) -> list[int]:
        return self._indices

    def values(self) -> list[float]:
        return self._values

    def to_list(self) -> list[float]:
        dense = [0.0] * self._dim
        for i, v in zip(self._indices, self._values):
            dense[i] = v
        return dense

    def to_numpy(self) -> np.ndarray:
        dense = np.zeros(self._dim, np.float32)
        dense[self._indices] = self._values
        return dense

    def to_text(self) -> str:
        """pgvector's text form: 1-based indices, float32 values in their shortest digits."""
        return format_sparse(self._dim, np.asarray(self._indices, np.int64) + 1, np.asarray(self._values, np.float32))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseVector):
            return NotImplemented
        return (self._dim, self._indices, self._values) == (other._dim, other._indices, other._values)

    __hash__ = None  # mutable lists inside, as pgvector-python's

    def __repr__(self) -> str:
        return f"SparseVector({dict(zip(self._indices, self._values))}, {self._dim})"

    def __str__(self) -> str:
        return self.to_text()


def is_sparse_value(value: Any) -> bool:
    """A vsql.SparseVector, or anything shaped like pgvector-python's (dimensions(), indices(),
    values()), which pgvector-python need not be installed to bind."""
    return isinstance(value, SparseVector) or all(
        callable(getattr(value, name, None)) for name in ("dimensions", "indices", "values"))


def parse_sparse(text: str, typmod: int | None = None) -> SparseVector:
    """Parse pgvector's '{1:1.5,3:2}/5' as `sparsevec_in` does, faults in its order and words:
    elements are read left to right (values as strtof reads them, zeros dropped), then the
    dimension, the typmod `typmod`, and the indices, sorted, against the dimension and each other."""
    if text.count(",") + 1 > SPARSE_MAX_NNZ:
        raise VectorError(f"sparsevec cannot have more than {SPARSE_MAX_NNZ} non-zero elements")
    pos = _skip_space(text, 0)
    if not text.startswith("{", pos):
        raise _malformed(text, "sparsevec")
    pos = _skip_space(text, pos + 1)
    indices: list[int] = []
    tokens: list[str] = []
    values: list[float] = []
    if text.startswith("}", pos):
        pos += 1
    else:
        while True:
            index, pos = _integer(text, pos)
            pos = _skip_space(text, pos)
            if not text.startswith(":", pos):
                raise _malformed(text, "sparsevec")
            pos = _skip_space(text, pos + 1)
            match = _ELEMENT.match(text, pos)
            if match is None:
                raise _malformed(text, "sparsevec")
            token = match.group()
            value = _sparse_element(token)
            if value != 0:
                indices.append(index)
                tokens.append(token)
                values.append(value)
            pos = _skip_space(text, match.end())
            if text.startswith(",", pos):
                pos += 1
            elif text.startswith("}", pos):
                pos += 1
                break
            else:
                raise _malformed(text, "sparsevec")
    pos = _skip_space(text, pos)
    if not text.startswith("/", pos):
        raise _malformed(text, "sparsevec")
    dim, pos = _integer(text, pos + 1)
    if _skip_space(text, pos) != len(text):
        raise _malformed(text, "sparsevec")
    check_sparse_dim(dim, typmod)
    order = np.argsort(np.asarray(indices, np.int64), kind="stable")
    sorted_indices = np.asarray(indices, np.int64)[order]
    _check_indices(sorted_indices, dim)
    narrow = _round_to_float32([tokens[i] for i in order], np.asarray(values, np.float64)[order])
    return SparseVector._from_parts(dim, sorted_indices - 1, narrow.tolist())


def _integer(text: str, pos: int) -> tuple[int, int]:
    """An integer as strtol reads it (after whitespace), kept within int32 as pgvector keeps it."""
    match = _INDEX.match(text, _skip_space(text, pos))
    if match is None:
        raise _malformed(text, "sparsevec")
    return max(-_INT_MAX, min(int(match.group()), _INT_MAX)), match.end()


def _sparse_element(token: str) -> float:
    """A sparsevec element as float64 (rounded to float32 later), refused as `sparsevec_in` refuses
    it: past float32's range or rounding to zero from non-zero digits is out of range."""
    value = float(token)
    if not token.lstrip("+-")[:1].isalpha():
        mantissa = token.lower().split("e")[0]
        over = abs(value) >= _OVERFLOW and (math.isinf(value) or _overflows(token))
        under = any(c in "123456789" for c in mantissa) and abs(value) <= _UNDERFLOW and (
            abs(value) < _UNDERFLOW or abs(Fraction(token)) <= Fraction(_UNDERFLOW))
        if over or under:
            raise VectorError(f'"{_clip(token)}" is out of range for type sparsevec')
    if math.isnan(value):
        raise VectorError("NaN not allowed in sparsevec")
    if math.isinf(value):
        raise VectorError("infinite value not allowed in sparsevec")
    return value


def check_sparse_dim(dim: int, typmod: int | None = None) -> None:
    """pgvector's CheckDim and CheckExpectedDim for a sparsevec of `dim` dimensions."""
    if dim < 1:
        raise VectorError("sparsevec must have at least 1 dimension")
    if dim > SPARSE_MAX_DIM:
        raise VectorError(f"sparsevec cannot have more than {SPARSE_MAX_DIM} dimensions")
    if typmod and typmod != dim:
        raise VectorError(f"expected {typmod} dimensions, not {dim}")


def _check_indices(indices: np.ndarray, dim: int) -> None:
    """1-based sorted indices: within the dimension and without duplicates, the first fault named."""
    outside = (indices < 1) | (indices > dim)
    repeated = np.concatenate([[False], indices[1:] == indices[:-1]])
    bad = outside | repeated
    if bad.any():
        first = int(np.argmax(bad))
        raise VectorError("sparsevec index out of bounds" if outside[first]
                          else "sparsevec indices must not contain duplicates")


def coerce_sparse(value: Any, typmod: int | None = None) -> SparseVector:
    """A checked sparse vector from pgvector's text form, a sparse vector object (vsql's or
    pgvector-python's), or a dense vector (NumPy array or list, as pgvector casts vector to sparsevec)."""
    if isinstance(value, str):
        return parse_sparse(value, typmod)
    if is_sparse_value(value):
        dim = int(value.dimensions())
        indices = np.asarray(value.indices(), np.int64).reshape(-1)
        values = np.asarray(value.values(), np.float64).reshape(-1)
        if len(indices) != len(values):
            raise VectorError("expected as many sparsevec values as indices")
        check_sparse_dim(dim, typmod)
        if len(indices) > SPARSE_MAX_NNZ:
            raise VectorError(f"sparsevec cannot have more than {SPARSE_MAX_NNZ} non-zero elements")
        if np.isnan(values).any():
            raise VectorError("NaN not allowed in sparsevec")
        if np.isinf(values).any() or (np.abs(values) >= _OVERFLOW).any():
            raise VectorError("infinite value not allowed in sparsevec")
        order = np.argsort(indices, kind="stable")
        indices, values = indices[order], values[order].astype(np.float32)
        _check_indices(indices + 1, dim)
        kept = values != 0
        return SparseVector._from_parts(dim, indices[kept], values[kept].tolist())
    dense = coerce(value)
    check_sparse_dim(len(dense), typmod)
    return sparse_from_dense(dense)


def sparse_from_dense(values: np.ndarray) -> SparseVector:
    """pgvector's vector -> sparsevec: the non-zero elements (-0 is zero) of a float32 vector."""
    kept = np.flatnonzero(values)
    return SparseVector._from_parts(len(values), kept, np.asarray(values, np.float32)[kept].tolist())


def sparse_struct(value: SparseVector) -> dict:
    """A checked sparse vector as the engine binds it: its dimension, 1-based indices and values
    (lowering's STORAGE["sparsevec"])."""
    return {"sparsevec_dim": value.dimensions(), "sparsevec_idx": [i + 1 for i in value.indices()],
            "sparsevec_val": value.values()}


def format_sparse(dim: int, indices: np.ndarray, values: np.ndarray) -> str:
    """pgvector's sparsevec text form from 1-based indices: '{1:1.5,3:2}/5'."""
    return "{" + ",".join(f"{i}:{_format_float(v)}" for i, v in zip(indices.tolist(), values)) + f"}}/{dim}"
