"""Every CDS service this deployment offers, in one registry, and the FHIR fetcher they share.

Shared by the HTTP app and the command line, so both answer with the same logic.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..card_builder import CardOptions
from ..fhir.fetch import FetchLimits, HttpxFetcher
from ..fhir.prefetch import Fetcher
from ..protocol.registry import Registry
from ..settings import Settings
from . import leg_weakness
from .service import CdsService


@dataclass(frozen=True)
class Catalog:
    """The registry discovery is rendered from and routes dispatch on, and the fetcher."""

    registry: Registry[CdsService]
    fetcher: Fetcher | None


def card_options(settings: Settings) -> CardOptions:
    return CardOptions(guideline_links=settings.guideline_links, handout_link=settings.handout_link,
                       cpt_codes=settings.card_cpt_codes)


def default_services(settings: Settings) -> list[CdsService]:
    """The services this package ships: today, leg weakness."""
    return [leg_weakness.create(card_options(settings))]


def build_catalog(settings: Settings, services: Iterable[CdsService] | None = None) -> Catalog:
    """The catalog of ``services`` (default: the packaged ones).

    Raises:
        ConfigurationError: bad packaged data, or two services share an id.
    """
    chosen = list(services) if services is not None else default_services(settings)
    return Catalog(registry=Registry.of(chosen), fetcher=make_fetcher(settings))


def make_fetcher(settings: Settings) -> Fetcher | None:
    """The FHIR fetcher for missing prefetch keys (one per process: it holds the connection pool)."""
    return HttpxFetcher(FetchLimits(max_pages=settings.fetch_max_pages,
                                    max_resources=settings.fetch_max_resources,
                                    reserve_ms=settings.fetch_reserve_ms,
                                    pool_size=settings.fetch_pool_size))
