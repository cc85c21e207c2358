"""pgvector's search settings (`SET hnsw.ef_search = 100`), with PostgreSQL's scoping rules.

A plain SET lasts for the session but is undone if its transaction rolls back; SET LOCAL lasts
until the transaction ends. Settings vsql does not own (DuckDB's `threads`, ...) go to DuckDB.
Unset search depths mean "as calibrated for each index at build time".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vsql.errors import ProgrammingError


_INT_RANGE = (-(2**31), 2**31 - 1)  # PostgreSQL's integer settings are 32-bit


@dataclass(frozen=True)
class Setting:
    """One setting: its kind (int, float, or str for a choice among `choices`), PostgreSQL's
    bounds and default; values are read, checked and shown as PostgreSQL does."""

    name: str
    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    default: Any = None
    doc: str = ""

    def parse(self, value: Any) -> Any:
        return _PARSERS[self.kind](self, str(value))

    def show(self, value: Any) -> str:
        return _format(value) if self.kind is float else str(value)

    def invalid(self, value: str, hint: str = "") -> ProgrammingError:
        message = f'invalid value for parameter "{self.name}": "{value}"'
        return _pg_error(message + (f"\nHINT:  {hint}" if hint else ""))

    def in_range(self, number: float) -> float:
        if not self.low <= number <= self.high:
            raise _pg_error(f'{_format(number)} is outside the valid range for parameter "{self.name}" '
                            f"({_format(self.low)} .. {_format(self.high)})")
        return number


def _pg_error(message: str) -> ProgrammingError:
    error = ProgrammingError(message)
    error.sqlstate = "22023"  # invalid_parameter_value
    return error


def _format(number: float) -> str:
    """A number as PostgreSQL prints a setting's (`%d`, `%g`): 1000000000, 2, 2.5, 1e-05, Infinity."""
    if isinstance(number, int):
        return str(number)
    return {float("inf"): "Infinity", float("-inf"): "-Infinity"}.get(number) or format(number, "g")


def _number(text: str) -> int | float | None:
    """PostgreSQL's reading of a number setting (strtol, then strtod): `0x10`, ` 7 `, `2.5`, `1e2`."""
    text = text.strip()
    if not text or "_" in text:  # Python reads 1_000, C does not
        return None
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    overflow = number in (float("inf"), float("-inf")) and text.lstrip("+-").lower() not in ("inf", "infinity")
    return None if number != number or overflow else number


def _parse_int(setting: Setting, text: str) -> int:
    number = _number(text)
    if number is None or number in (float("inf"), float("-inf")):
        raise setting.invalid(text)
    number = round(number)  # half to even, as C's rint
    if not _INT_RANGE[0] <= number <= _INT_RANGE[1]:
        raise setting.invalid(text, "Value exceeds integer range.")
    return int(setting.in_range(number))


def _parse_float(setting: Setting, text: str) -> float:
    number = _number(text)
    if number is None:
        raise setting.invalid(text)
    return float(setting.in_range(float(number)))


def _parse_choice(setting: Setting, text: str) -> str:
    if text.lower() not in setting.choices:
        raise setting.invalid(text, f"Available values: {', '.join(setting.choices)}.")
    return text.lower()


_PARSERS = {int: _parse_int, float: _parse_float, str: _parse_choice}

SETTINGS = {
    s.name: s
    for s in [
        Setting("hnsw.ef_search", int, 1, 1000, doc="HNSW search depth; unset: each index's calibrated depth"),
        Setting("ivfflat.probes", int, 1, 32768, doc="IVFFlat lists searched; unset: each index's calibrated probes"),
        # pgvector's iterative scans: vsql's filtered search always goes on until k rows are found
        # whenever k rows match, whatever these say; they are kept, validated and shown as pgvector does.
        Setting("hnsw.iterative_scan", str, choices=("off", "relaxed_order", "strict_order"), default="off",
                doc="accepted for pgvector compatibility: vsql's search is always iterative"),
        Setting("hnsw.max_scan_tuples", int, 1, 2**31 - 1, default=20000, doc="accepted for pgvector compatibility"),
        Setting("hnsw.scan_mem_multiplier", float, 1, 1000, default=1.0, doc="accepted for pgvector compatibility"),
        Setting("ivfflat.iterative_scan", str, choices=("off", "relaxed_order"), default="off",
                doc="accepted for pgvector compatibility: vsql's search is always iterative"),
        Setting("ivfflat.max_probes", int, 1, 32768, default=32768, doc="accepted for pgvector compatibility"),
        Setting("vsql.exact_below", int, 0, 2**31 - 1, default=20000,
                doc="searches over at most this many matching rows are answered by brute force, exactly, as are "
                    "those where brute force reads less than the index would; 0 sends every search to the index"),
        Setting("vsql.keep_index_versions", int, 1, 1000, default=3,
                doc="how many versions of each index keep their files, for rollback without a rebuild"),
    ]
}


def owns(name: str) -> bool:
    return name.lower() in SETTINGS


@dataclass
class Settings:
    values: dict[str, Any] = field(default_factory=dict)
    _local: dict[str, Any] | None = None  # SET LOCAL values of the open transaction
    _saved: dict[str, Any] | None = None  # session values when the transaction began

    def get(self, name: str) -> Any:
        name = name.lower()
        if self._local is not None and name in self._local:
            return self._local[name]
        return self.values.get(name, SETTINGS[name].default)

    def set(self, name: str, value: Any, local: bool = False) -> None:
        name = name.lower()
        default = str(value).upper() == "DEFAULT"  # SET name = DEFAULT: the setting's default, as RESET
        parsed = SETTINGS[name].default if default else SETTINGS[name].parse(value)
        if default and not local:
            self.values.pop(name, None)
            return
        if local:
            if self._local is not None:  # outside a transaction SET LOCAL has no effect, as in PostgreSQL
                self._local[name] = parsed
        else:
            self.values[name] = parsed

    def reset(self, name: str) -> None:
        if name.upper() == "ALL":
            self.values.clear()
            return
        self.values.pop(name.lower(), None)

    def show(self, name: str) -> str:
        value = self.get(name)
        return "auto" if value is None else SETTINGS[name.lower()].show(value)

    def begin(self) -> None:
        self._local, self._saved = {}, dict(self.values)

    def end(self, committed: bool) -> None:
        if not committed and self._saved is not None:
            self.values = self._saved
        self._local = self._saved = None
