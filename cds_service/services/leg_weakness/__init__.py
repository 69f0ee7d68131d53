"""The leg-weakness CDS service: this folder's data (service.yaml, knowledge/, cards/, corpus/).

Detects a complaint of weakness in one or both legs and answers with red-flag cards,
the workup and a differential ordered for this patient. Everything it decides is in the
data; the pipeline is the shared ``ClinicalRuleService``.
"""
from __future__ import annotations

from ... import resources
from ...card_builder import CardOptions, load_cards
from ...clinical.knowledge import load_knowledge
from ..engine import ClinicalRuleService, load_definitions

NAME = "leg_weakness"


def create(options: CardOptions) -> ClinicalRuleService:
    """The service, with its packaged knowledge and cards (each loaded and checked once)."""
    folder = resources.service_root(NAME)
    knowledge = load_knowledge(NAME)
    return ClinicalRuleService(definitions=load_definitions(folder, knowledge), knowledge=knowledge,
                               cards=load_cards(NAME), options=options, folder=folder)
