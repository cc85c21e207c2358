"""Vector values: pgvector's text form, NumPy and Python sequences, validated as pgvector does."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from vsql.errors import VectorError
from vsql.sql.dialect import MAX_DIM

_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*\Z", re.ASCII)
_SPECIAL = re.compile(r"\s*[+-]?(?:nan|inf|infinity)\s*\Z", re.I | re.ASCII)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def parse_text(text: str) -> np.ndarray:
    """Parse pgvector's text form '[1,2.5,3]' into a float32 array, with pgvector's errors."""
    body = text.strip()
    if len(body) < 2 or body[0] != "[" or body[-1] != "]":
        raise VectorError(f'malformed vector literal: "{_clip(text)}"')
    inner = body[1:-1]
    if not inner.strip():
        raise VectorError("vector must have at least 1 dimension")
    parts = inner.split(",")
    if len(parts) > MAX_DIM:
        raise VectorError(f"vector cannot have more than {MAX_DIM} dimensions")
    values = []
    for part in parts:
        if _SPECIAL.match(part):
            kind = "NaN" if "nan" in part.lower() else "infinite value"
            raise VectorError(f"{kind} not allowed in vector")
        if not _NUMBER.match(part):
            raise VectorError(f'malformed vector literal: "{_clip(text)}"')
        values.append(float(part))
    return check(np.asarray(values, dtype=np.float64))


def check(values: np.ndarray) -> np.ndarray:
    """Validate a 1-D array as a vector and return it as float32."""
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
    big = np.abs(values) > _FLOAT32_MAX
    if big.any():
        raise VectorError(f'"{values[big][0]:g}" is out of range for type vector')
    return values.astype(np.float32)


def coerce(value: Any) -> np.ndarray:
    """A float32 vector from a NumPy array, a sequence of numbers or pgvector's text form."""
    if isinstance(value, str):
        return parse_text(value)
    if isinstance(value, np.ndarray):
        return check(value)
    if isinstance(value, (list, tuple)):
        if any(v is None for v in value):
            raise VectorError("array must not contain nulls")
        if not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in value):
            raise VectorError("expected a vector: a sequence of numbers")
        return check(np.asarray(value, dtype=np.float64))
    raise VectorError(f"expected a vector (NumPy array, list of numbers or '[1,2,3]'), got {type(value).__name__}")


def is_vector_value(value: Any) -> bool:
    """True for values that can only mean a vector when bound: 1-D numeric NumPy arrays."""
    return isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "fiu"


def format_text(values: np.ndarray) -> str:
    """pgvector's text form: shortest float32 round-trip digits, '[1,2.5,3]'."""
    return "[" + ",".join(_format_float(v) for v in np.asarray(values, dtype=np.float32)) + "]"


def _format_float(v: np.float32) -> str:
    if v == 0 or 1e-4 <= abs(v) < 1e15:
        return np.format_float_positional(v, trim="-")
    return np.format_float_scientific(v, trim="-", exp_digits=2)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def check_matrix(matrix: np.ndarray) -> np.ndarray:
    """Validate a (rows, dims) array of vectors at once; the first bad row is named."""
    matrix = np.asarray(matrix)
    if matrix.dtype.kind not in "fiub":
        raise VectorError(f"expected numbers in vectors, got {matrix.dtype}")
    bad = ~np.isfinite(matrix).all(axis=1) | (np.abs(matrix) > _FLOAT32_MAX).any(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        check(np.asarray(matrix[row], dtype=np.float64))  # raises pgvector's message
    return matrix.astype(np.float32, copy=False)
