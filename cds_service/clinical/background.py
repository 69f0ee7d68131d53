"""Background facts named as the condition itself: "smokes cigarettes", "drug use", "drug allergies".

ConText calls a condition historical when it began more than two weeks before the visit
[CONTEXT]; a habit or an allergy is long-standing by what it is, so a span whose whole text
names one is historical, asserted or denied. ``background.yaml`` holds the patterns and says
why this never ends a current risk: whether a habit goes on is read from cessation cues.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .provenance import check_provenance


@dataclass(frozen=True)
class BackgroundRules:
    """The compiled patterns of each kind (``habit``, ``allergy``), matched against a whole span."""

    kinds: Mapping[str, re.Pattern[str]]

    def kind_of(self, text: str) -> str | None:
        """The kind of background fact ``text`` (a condition's words) names and nothing more, or None."""
        words = " ".join(text.split())
        return next((kind for kind, pattern in self.kinds.items() if pattern.fullmatch(words)), None)


def parse_background(raw: Mapping[str, Any], sources: Mapping[str, str]) -> BackgroundRules:
    """``background.yaml`` -> BackgroundRules; ``ValueError`` names the kind at fault."""
    kinds = raw.get("kinds")
    if not isinstance(kinds, Mapping) or not kinds:
        raise ValueError("background.yaml: needs a kinds mapping")
    compiled = {}
    for kind, row in kinds.items():
        where = f"background.yaml: {kind}"
        if not isinstance(row, Mapping):
            raise ValueError(f"{where} must be a mapping")
        check_provenance(row, sources, where)
        patterns = row.get("patterns")
        if not (isinstance(patterns, list) and patterns
                and all(isinstance(p, str) and p.strip() for p in patterns)):
            raise ValueError(f"{where}: patterns must be a non-empty list of regular expressions")
        try:
            compiled[str(kind)] = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"{where}: a pattern does not compile ({exc})") from None
    return BackgroundRules(compiled)
