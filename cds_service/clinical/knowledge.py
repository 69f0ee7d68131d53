"""PLACEHOLDER (being replaced by the clinical knowledge loader).

Contract: ``load_knowledge() -> Knowledge``; ``Knowledge.observation_codes()`` lists the
(system, code) pairs of Observations the logic reads; ``Knowledge.is_relevant_observation(raw)``
says whether a raw Observation dict should be validated and kept.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Knowledge:
    def observation_codes(self) -> list[tuple[str, str]]:
        return []

    def is_relevant_observation(self, raw: Mapping[str, Any]) -> bool:
        return False


def load_knowledge() -> Knowledge:
    return Knowledge()
