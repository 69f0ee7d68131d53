"""Build every CDS service this deployment offers, and the registry discovery is rendered from.

Shared by the HTTP app and the command line, so both answer with the same logic.
"""
from __future__ import annotations

from typing import Any

from ..card_builder import CardOptions, load_card_library
from ..clinical.knowledge import load_knowledge
from ..fhir.fetch import FetchLimits, HttpxFetcher
from ..fhir.prefetch import Fetcher
from ..protocol.registry import Registry
from ..settings import Settings
from .leg_weakness import LegWeaknessService


def build_services(settings: Settings) -> tuple[Registry, dict[str, Any], Fetcher | None]:
    """(registry, service id -> service object, fetcher for missing prefetch)."""
    leg_weakness = LegWeaknessService(
        knowledge=load_knowledge(), cards=load_card_library(),
        options=CardOptions(guideline_links=settings.guideline_links, handout_link=settings.handout_link,
                            cpt_codes=settings.card_cpt_codes))
    definitions = leg_weakness.definitions()
    registry = Registry.of((d, leg_weakness.handle) for d in definitions)
    return registry, {d.id: leg_weakness for d in definitions}, make_fetcher(settings)


def make_fetcher(settings: Settings) -> Fetcher | None:
    """The FHIR fetcher for missing prefetch keys (one per process: it holds the connection pool)."""
    return HttpxFetcher(FetchLimits(max_pages=settings.fetch_max_pages,
                                    max_resources=settings.fetch_max_resources,
                                    reserve_ms=settings.fetch_reserve_ms,
                                    pool_size=settings.fetch_pool_size))
