"""The per-app state the routes use, kept in ``app.extensions["cds"]``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from ..events import Observer
from ..fhir.prefetch import Fetcher
from ..protocol.registry import Registry
from ..services.service import CdsService
from ..settings import Settings


@dataclass
class AppState:
    settings: Settings
    registry: Registry[CdsService]
    fetcher: Fetcher | None = None
    verifier: Any = None  # http.auth.TokenVerifier
    observers: list[Observer] = field(default_factory=list)
    handouts: dict[str, str] = field(default_factory=dict)  # path -> rendered patient page
    extras: dict[str, Any] = field(default_factory=dict)  # storage, metrics registry, ...


def get_state() -> AppState:
    state = current_app.extensions["cds"]
    assert isinstance(state, AppState)
    return state
