"""Service settings: one frozen dataclass, read once from ``CDS_*`` environment variables.

Every setting has a documented default (see the README table). Lower layers never
read the environment themselves; they receive the values they need as arguments.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _default_data_dir() -> str:
    return str(Path.home() / ".local" / "share" / "cds-service")


@dataclass(frozen=True)
class Settings:
    """All runtime configuration of the service.

    Field names map to environment variables by upper-casing and prefixing ``CDS_``
    (``max_body_bytes`` -> ``CDS_MAX_BODY_BYTES``).
    """

    # HTTP surface
    # public base URL(s) the clients call, comma-separated; JWT ``aud`` is checked against these only
    # (never the request's Host), so with auth on it is required. The first one is used for links.
    base_url: str = ""
    cors_origins: tuple[str, ...] = ("*",)
    max_body_bytes: int = 5 * 1024 * 1024
    # Authentication (issue: JWT verification)
    require_auth: bool = True
    trust_file: str = ""
    allowed_algorithms: tuple[str, ...] = ("ES384", "RS384")
    clock_skew_seconds: int = 60
    jwks_timeout_seconds: float = 2.0
    jwks_cache_seconds: int = 3600
    jwks_refresh_interval_seconds: int = 60
    jwks_failure_cache_seconds: int = 10  # a failed fetch is not retried for this long (per URL)
    allow_http_jwks: bool = False
    max_token_bytes: int = 16 * 1024
    # FHIR fetch and time budget
    time_budget_ms: int = 1500
    allow_http_fhir_server: bool = False
    fetch_max_pages: int = 5
    fetch_max_resources: int = 2000
    prefetch_max_resources: int = 1000  # resources read per prefetch key (bounds the work per call)
    fetch_reserve_ms: int = 150  # budget kept back from fetching for detection and cards
    fetch_pool_size: int = 16  # concurrent FHIR fetches per worker process
    # Clinical notes (DocumentReference text): bound the text read per call (~15 ms per 1 000 characters)
    note_max_chars: int = 10_000  # characters read of one note (the rest is not read)
    note_max_count: int = 3  # notes read per call: this encounter's first, then the newest
    # Storage, audit, metrics
    data_dir: str = field(default_factory=_default_data_dir)
    database_url: str = ""  # empty = sqlite file in data_dir
    audit_retention_days: int = 365
    patient_hash_salt: str = ""
    # Cards and links
    link_base_url: str = ""  # base for links to our own pages; empty = base_url / request
    guideline_links: bool = True
    handout_link: bool = True
    card_cpt_codes: bool = False  # also send CPT codings (secondary source, AMA-licensed) in orders
    # Logging
    log_level: str = "INFO"
    log_phi: bool = False

    def __post_init__(self) -> None:
        """Counts, sizes and durations cannot be negative, and a note limit of 0 characters
        would read nothing while claiming to read notes (use CDS_NOTE_MAX_COUNT=0 for that)."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise ConfigurationError(f"CDS_{f.name.upper()} must not be negative, got {value}")
        if self.note_max_chars < 1:
            raise ConfigurationError("CDS_NOTE_MAX_CHARS must be at least 1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``CDS_*`` variables; unknown ``CDS_`` names are an error.

        Raises:
            ConfigurationError: a value cannot be parsed or a ``CDS_`` name is unknown.
        """
        env = os.environ if environ is None else environ
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in env.items():
            if not key.startswith("CDS_"):
                continue
            name = key[4:].lower()
            if name not in fields:
                raise ConfigurationError(f"unknown setting {key}")
            values[name] = _parse(fields[name], key, raw)
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (settings are immutable)."""
        return dataclasses.replace(self, **changes)

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every public base URL of ``CDS_BASE_URL`` (comma-separated), without a trailing slash."""
        return tuple(part.strip().rstrip("/") for part in self.base_url.split(",") if part.strip())

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir) / 'cds-service.sqlite3'}"


def _parse(f: dataclasses.Field[Any], key: str, raw: str) -> Any:
    default: Any = f.default
    factory: Any = f.default_factory
    if default is dataclasses.MISSING and factory is not dataclasses.MISSING:
        default = factory()
    try:
        if isinstance(default, bool):
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError("expected true or false")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw
    except ValueError as exc:
        raise ConfigurationError(f"{key}: cannot parse {raw!r}: {exc}") from None
