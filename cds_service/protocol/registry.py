"""Service definitions and the registry that discovery is rendered from.

Each service module declares its ``ServiceDefinition`` next to its handler (as HAPI's
``@CdsService`` annotation does), so discovery is never written by hand.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, UnknownServiceError


@dataclass(frozen=True)
class ServiceDefinition:
    """One entry of the discovery document, plus what the service cannot do without.

    Attributes:
        required_prefetch: prefetch keys whose data the logic cannot do without; when
            such data is neither prefetched nor fetchable the call answers 412.
    """

    id: str
    hook: str
    title: str
    description: str
    usage_requirements: str = ""
    prefetch: Mapping[str, str] = field(default_factory=dict)
    required_prefetch: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"hook": self.hook, "title": self.title,
                                "description": self.description, "id": self.id}
        if self.prefetch:
            body["prefetch"] = dict(self.prefetch)
        if self.usage_requirements:
            body["usageRequirements"] = self.usage_requirements
        return body


Handler = Callable[..., Any]


@dataclass(frozen=True)
class Registry:
    """service id -> (definition, handler); ids are unique across hooks (the sandbox keys on them)."""

    entries: Mapping[str, tuple[ServiceDefinition, Handler]]

    @classmethod
    def of(cls, services: Iterable[tuple[ServiceDefinition, Handler]]) -> Registry:
        entries: dict[str, tuple[ServiceDefinition, Handler]] = {}
        for definition, handler in services:
            if definition.id in entries:
                raise ConfigurationError(f"duplicate CDS service id {definition.id!r}")
            for key in definition.required_prefetch:
                if key not in definition.prefetch:
                    raise ConfigurationError(f"{definition.id}: required key {key!r} has no template")
            entries[definition.id] = (definition, handler)
        return cls(entries)

    def get(self, service_id: str) -> tuple[ServiceDefinition, Handler]:
        """Raises UnknownServiceError (404) for an id we do not serve."""
        try:
            return self.entries[service_id]
        except KeyError:
            raise UnknownServiceError(f"no CDS service with id {service_id!r}") from None

    def discovery(self) -> dict[str, Any]:
        """The discovery response, in registration order."""
        return {"services": [d.to_json() for d, _ in self.entries.values()]}
