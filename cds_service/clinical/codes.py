"""Code lists from data -> CodeSet membership: which concept a (system, code) belongs to."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CodeEntry:
    """One listed code: the concept it stands for and the laterality it carries, if any."""

    concept: str
    system: str
    code: str
    display: str
    status: str
    verified_in: str
    laterality: str | None = None
    prefix: bool = False


@dataclass(frozen=True)
class CodeSet:
    """Membership test for codings, exact codes first, then ICD-10-CM family prefixes.

    A family entry (``prefix: true``, e.g. ``E11``) matches ``E11`` and ``E11.9`` but not
    ``E110`` without the dot, because ICD-10-CM descendants always follow a dot.
    """

    exact: Mapping[tuple[str, str], tuple[CodeEntry, ...]] = field(default_factory=dict)
    prefixes: tuple[CodeEntry, ...] = ()

    @classmethod
    def from_entries(cls, entries: Iterable[CodeEntry]) -> CodeSet:
        exact: dict[tuple[str, str], list[CodeEntry]] = {}
        prefixes: list[CodeEntry] = []
        for entry in entries:
            exact.setdefault((entry.system, entry.code), []).append(entry)
            if entry.prefix:
                prefixes.append(entry)
        return cls({k: tuple(v) for k, v in exact.items()}, tuple(prefixes))

    def lookup(self, system: str | None, code: str | None) -> tuple[CodeEntry, ...]:
        """Every entry a coding matches (a code may stand for several concepts)."""
        if not system or not code:
            return ()
        found = self.exact.get((system, code), ())
        family = tuple(e for e in self.prefixes
                       if e.system == system and code != e.code and code.startswith(e.code + "."))
        return found + family

    def codes(self) -> list[tuple[str, str]]:
        return sorted(self.exact)


def parse_code_entries(concept: str, raw: Any, systems: Mapping[str, str], where: str) -> list[CodeEntry]:
    """Turn the ``codes:`` list of one concept into entries; ``ValueError`` on a bad row."""
    if not isinstance(raw, list):
        raise ValueError(f"{where}: codes must be a list")
    out = []
    for i, row in enumerate(raw):
        if not isinstance(row, dict):
            raise ValueError(f"{where}: codes[{i}] must be a mapping")
        missing = {"system", "code", "display", "status", "verified_in"} - set(row)
        if missing:
            raise ValueError(f"{where}: codes[{i}] lacks {sorted(missing)}")
        if row["system"] not in systems:
            raise ValueError(f"{where}: codes[{i}] has unknown system {row['system']!r}")
        if row["status"] not in ("verified", "secondary"):
            raise ValueError(f"{where}: codes[{i}] status must be verified or secondary (never unverified)")
        laterality = row.get("laterality")
        if laterality not in (None, "left", "right", "bilateral"):
            raise ValueError(f"{where}: codes[{i}] has bad laterality {laterality!r}")
        out.append(CodeEntry(concept=concept, system=systems[row["system"]], code=str(row["code"]),
                             display=str(row["display"]), status=row["status"],
                             verified_in=str(row["verified_in"]), laterality=laterality,
                             prefix=bool(row.get("prefix", False))))
    return out
