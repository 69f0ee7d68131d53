"""Service definitions and the registry that discovery is rendered from.

A CDS service object declares its ``ServiceDefinition``s (one per hook it answers) next to
its handler, as HAPI's ``@CdsService`` annotation does, so discovery is never written by
hand. The registry holds the service objects themselves: routes look a service up by
id and call it, nothing else. This module knows nothing of what a service decides, so
the registry is generic over the service type.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

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


class Defined(Protocol):
    """What the registry needs of a service: the discovery entries it answers."""

    @property
    def definitions(self) -> tuple[ServiceDefinition, ...]: ...


S = TypeVar("S", bound=Defined)


@dataclass(frozen=True)
class Registry(Generic[S]):
    """service id -> (definition, service); ids are unique across hooks (the sandbox keys on them)."""

    entries: Mapping[str, tuple[ServiceDefinition, S]]

    @classmethod
    def of(cls, services: Iterable[S]) -> Registry[S]:
        """Register every definition of every service, in order.

        Raises:
            ConfigurationError: a duplicate id, or a required key without a template.
        """
        entries: dict[str, tuple[ServiceDefinition, S]] = {}
        for service in services:
            for definition in service.definitions:
                if definition.id in entries:
                    raise ConfigurationError(f"duplicate CDS service id {definition.id!r}")
                for key in definition.required_prefetch:
                    if key not in definition.prefetch:
                        raise ConfigurationError(f"{definition.id}: required key {key!r} has no template")
                entries[definition.id] = (definition, service)
        return cls(entries)

    def get(self, service_id: str) -> tuple[ServiceDefinition, S]:
        """Raises UnknownServiceError (404) for an id we do not serve."""
        try:
            return self.entries[service_id]
        except KeyError:
            raise UnknownServiceError(f"no CDS service with id {service_id!r}") from None

    def for_hook(self, hook: str) -> list[tuple[ServiceDefinition, S]]:
        """Every registered service answering ``hook``, in registration order."""
        return [entry for entry in self.entries.values() if entry[0].hook == hook]

    def services(self) -> list[S]:
        """Each registered service object once (a service answering two hooks has two entries)."""
        unique: dict[int, S] = {}
        for _, service in self.entries.values():
            unique.setdefault(id(service), service)
        return list(unique.values())

    def discovery(self) -> dict[str, Any]:
        """The discovery response, in registration order."""
        return {"services": [d.to_json() for d, _ in self.entries.values()]}
