"""The per-app state the routes use, kept in ``app.extensions["cds"]``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from ..events import Observer
from ..fhir.prefetch import Fetcher
from ..protocol.registry import Registry
from ..settings import Settings


@dataclass
class AppState:
    settings: Settings
    registry: Registry
    services: dict[str, Any]  # service id -> the service object (e.g. LegWeaknessService)
    fetcher: Fetcher | None = None
    verifier: Any = None  # http.auth.TokenVerifier
    observers: list[Observer] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # storage, metrics registry, ...


def get_state() -> AppState:
    state = current_app.extensions["cds"]
    assert isinstance(state, AppState)
    return state
