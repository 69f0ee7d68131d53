"""CdsService: what a CDS service is to the rest of the system, typed.

The registry holds these objects and the routes call nothing else (HAPI's ``@CdsService``
method, as one object). A service declares its discovery entries, filters the raw FHIR
it does not read before anything is validated, names the card topics that must go out
even when the time budget runs out, and answers a call from the record and the hook
context. A second service (a chest-pain one, say) is another object with these members.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..clinical.knowledge import Source
from ..fhir.record import PatientRecord, ResourceFilter
from ..protocol.context import HookContext
from ..protocol.registry import ServiceDefinition


@dataclass(frozen=True)
class Handout:
    """A patient page a service serves (its content as data, and the sources it cites)."""

    path: str
    content: Mapping[str, Any]
    sources: Mapping[str, Source] = field(default_factory=dict)


class CdsService(Protocol):
    @property
    def definitions(self) -> tuple[ServiceDefinition, ...]:
        """One discovery entry per hook the service answers (ids unique across services)."""

    @property
    def urgent_topics(self) -> frozenset[str]:
        """Card topics sent even on overrun: guidance that needs action now (red flags)."""

    def record_filters(self) -> Mapping[str, ResourceFilter]:
        """resourceType -> keep(raw) for types where most resources are never read."""

    def handle(self, record: PatientRecord, context: HookContext) -> list[dict[str, Any]]:
        """The cards for this record and call (an empty list when there is nothing to say)."""

    def handouts(self) -> tuple[Handout, ...]:
        """Patient pages the service's cards link to (may be none)."""
