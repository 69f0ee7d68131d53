"""PLACEHOLDER (being replaced): Findings + card templates -> CDS Hooks cards (JSON)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .clinical.model import Findings
from .fhir.record import PatientRecord

if TYPE_CHECKING:
    from .services.call import CallContext


@dataclass(frozen=True)
class CardLibrary:
    pass


@dataclass(frozen=True)
class CardOptions:
    guideline_links: bool = True
    handout_link: bool = True


def load_card_library() -> CardLibrary:
    return CardLibrary()


def build_cards(findings: Findings, record: PatientRecord, library: CardLibrary, options: CardOptions,
                call: CallContext) -> list[dict[str, Any]]:
    return []
