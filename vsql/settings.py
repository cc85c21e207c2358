"""pgvector's search settings (`SET hnsw.ef_search = 100`), with PostgreSQL's scoping rules.

A plain SET lasts for the session but is undone if its transaction rolls back; SET LOCAL lasts
until the transaction ends. Settings vsql does not own (DuckDB's `threads`, ...) go to DuckDB.
Unset search depths mean "as calibrated for each index at build time".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vsql.errors import ProgrammingError


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    default: Any = None
    doc: str = ""

    def parse(self, value: Any) -> Any:
        if self.kind is int:
            try:
                number = int(str(value))
            except ValueError:
                raise ProgrammingError(f'invalid value for parameter "{self.name}": "{value}"') from None
            if not self.low <= number <= self.high:
                raise ProgrammingError(
                    f"{number} is outside the valid range for parameter \"{self.name}\" ({self.low} .. {self.high})"
                )
            return number
        text = str(value).lower()
        if text not in self.choices:
            raise ProgrammingError(
                f'invalid value for parameter "{self.name}": "{value}" (one of {", ".join(self.choices)})'
            )
        return text


SETTINGS = {
    s.name: s
    for s in [
        Setting("hnsw.ef_search", int, 1, 1000, doc="HNSW search depth; unset: each index's calibrated depth"),
        Setting("ivfflat.probes", int, 1, 32768, doc="IVFFlat lists searched; unset: each index's calibrated probes"),
        Setting("hnsw.iterative_scan", str, choices=("off", "relaxed_order", "strict_order"), default="off",
                doc="accepted for pgvector compatibility: vsql always widens a search that returns fewer than k rows"),
        Setting("ivfflat.iterative_scan", str, choices=("off", "relaxed_order"), default="off",
                doc="accepted for pgvector compatibility, as hnsw.iterative_scan"),
        Setting("hnsw.max_scan_tuples", int, 1, 2**31 - 1, default=20000, doc="accepted for pgvector compatibility"),
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
        parsed = SETTINGS[name].parse(value)
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
        return "auto" if value is None else str(value)

    def begin(self) -> None:
        self._local, self._saved = {}, dict(self.values)

    def end(self, committed: bool) -> None:
        if not committed and self._saved is not None:
            self.values = self._saved
        self._local = self._saved = None
