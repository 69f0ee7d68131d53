"""A CDS service made of one data folder: discovery entries, clinical knowledge and cards.

``service.yaml`` gives the discovery entries, ``knowledge/`` the codes, text rules,
red-flag rules and differential, ``cards/`` the wording and orders. The logic is the
shared pipeline: record -> findings (clinical layer) -> cards (card builder). The
leg-weakness service is one such folder; so can the next one be.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from string import Template
from typing import Any

import yaml

from .. import resources
from ..card_builder import CardLibrary, CardOptions, build_cards, load_cards_from
from ..clinical.findings import detect_findings
from ..clinical.knowledge import Knowledge, load_knowledge_from
from ..clinical.model import Findings
from ..errors import ConfigurationError
from ..fhir.record import DEFERRED_TYPES, PatientRecord, ResourceFilter, code_filter
from ..protocol.context import HookContext
from ..protocol.registry import ServiceDefinition
from .service import Handout


@dataclass(frozen=True)
class ClinicalRuleService:
    """Holds the loaded knowledge and cards; one object answers every hook it defines.

    Red-flag cards are the urgent ones: on overrun they still go out (they need action now,
    even from partial data); anchor cards built from partial data could advise what is
    already done or rank wrongly, so they are left out rather than sent incomplete.
    """

    definitions: tuple[ServiceDefinition, ...]
    knowledge: Knowledge
    cards: CardLibrary
    options: CardOptions
    folder: Any = None  # the data folder (a Traversable or Path); its corpus/ scores the service

    @property
    def urgent_topics(self) -> frozenset[str]:
        return frozenset(self.knowledge.red_flag_topics)

    def record_filters(self) -> Mapping[str, ResourceFilter]:
        """Validate only what decides: the Observations the knowledge base reads (a Synthea
        patient has hundreds), and the orders and results whose codes one of the cards'
        orderable tests matches (the only use of those types: "already done")."""
        return self._filters

    @cached_property
    def _filters(self) -> Mapping[str, ResourceFilter]:
        orders = {key for order in self.cards.orders.values() for key in order.key_set()}
        return {"Observation": self.knowledge.is_relevant_observation,
                **{rtype: code_filter(rtype, orders) for rtype in DEFERRED_TYPES}}

    def detect(self, record: PatientRecord, context: HookContext) -> Findings:
        with context.deadline.stage("detect"):
            return detect_findings(record, self.knowledge, context.now.date(), context.deadline)

    def cards_for(self, findings: Findings, record: PatientRecord, context: HookContext) -> list[dict[str, Any]]:
        with context.deadline.stage("cards"):
            return build_cards(findings, record, self.cards, self.options, context)

    def handle(self, record: PatientRecord, context: HookContext) -> list[dict[str, Any]]:
        return self.cards_for(self.detect(record, context), record, context)

    def handouts(self) -> tuple[Handout, ...]:
        if not self.cards.handout_path or not self.cards.handout:
            return ()
        return (Handout(self.cards.handout_path, self.cards.handout, self.knowledge.sources),)


def load_service(folder: Any, options: CardOptions) -> ClinicalRuleService:
    """The service in data folder ``folder`` (a Traversable or Path): ``service.yaml``,
    ``knowledge/`` and ``cards/``, each loaded and checked now.

    Raises:
        ConfigurationError: any of the files is missing or malformed.
    """
    knowledge = load_knowledge_from(folder / "knowledge")
    return ClinicalRuleService(definitions=load_definitions(folder, knowledge), knowledge=knowledge,
                               cards=load_cards_from(folder / "cards", knowledge), options=options, folder=folder)


def load_definitions(folder: Any, knowledge: Knowledge) -> tuple[ServiceDefinition, ...]:
    """The discovery entries of ``folder/service.yaml`` (a Traversable or Path).

    Raises:
        ConfigurationError: the file is missing or malformed, or a template names an
            unknown ``${...}`` value.
    """
    try:
        doc = resources.load_data(folder, "service.yaml")
        fills = {"observation_codes": ",".join(f"{s}|{c}" for s, c in knowledge.observation_codes())}
        shared = {k: Template(str(v)).substitute(fills) for k, v in (doc.get("prefetch") or {}).items()}
        return tuple(_definition(row, doc, shared, fills) for row in doc["services"])
    except (KeyError, TypeError, ValueError, AttributeError, OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"service.yaml is invalid: {type(exc).__name__}: {exc}") from None


def _definition(row: Mapping[str, Any], doc: Mapping[str, Any], shared: Mapping[str, str],
                fills: Mapping[str, str]) -> ServiceDefinition:
    own = {k: Template(str(v)).substitute(fills) for k, v in (row.get("prefetch") or {}).items()}
    return ServiceDefinition(
        id=str(row["id"]), hook=str(row["hook"]), title=str(row["title"]),
        description=str(row.get("description", doc["description"])) + str(row.get("description_suffix", "")),
        usage_requirements=str(row.get("usage_requirements", doc.get("usage_requirements", ""))),
        prefetch={**shared, **own}, required_prefetch=tuple(row.get("required_prefetch") or ()))
