"""The trust file (``CDS_TRUST_FILE``): which EHRs may call us, and where their keys are.

Only clients listed here are accepted. Each names its issuer, where its public keys come
from (an allowlist of exact JWKS URLs, an inline JWKS, or a JWKS file), and optionally the
tenant it must present and the signing algorithms it may use::

    clients:
      - issuer: https://ehr.example.org
        jwks_url: [https://ehr.example.org/.well-known/jwks.json]
        tenant: 2ddd6c3a-8e9a-44c6-a305-52111ad302a2
        algorithms: [RS384]

A token's ``jku`` header is honoured only when it is one of the client's ``jwks_url``
entries, even when the key itself is pinned (``jwks``/``jwks_file``): a client whose tokens
always carry a ``jku`` (the CDS Hooks sandbox) needs that URL listed too (see
``trust.sandbox.yaml``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigurationError
from ..network import is_allowed_url

# Asymmetric algorithms we can verify; ``none`` and every HMAC algorithm are never among them.
SUPPORTED_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512"})


@dataclass(frozen=True)
class TrustedClient:
    """One CDS client (EHR) we accept tokens from."""

    issuer: str
    jwks_urls: tuple[str, ...] = ()
    jwks: dict[str, Any] | None = None  # inline or read from jwks_file at start-up
    tenant: str | None = None
    algorithms: tuple[str, ...] | None = None  # None = CDS_ALLOWED_ALGORITHMS


def check_algorithms(algorithms: tuple[str, ...], where: str) -> tuple[str, ...]:
    """Refuse a configuration that would allow ``none``, HMAC or an algorithm we do not know."""
    bad = [a for a in algorithms if a not in SUPPORTED_ALGORITHMS]
    if bad or not algorithms:
        raise ConfigurationError(
            f"{where}: algorithms must be among {sorted(SUPPORTED_ALGORITHMS)}, got {list(algorithms)}")
    return algorithms


def check_jwks_url(url: str, allow_http: bool) -> None:
    """HTTPS only; plain http only to a loopback address and only with CDS_ALLOW_HTTP_JWKS=true.

    Raises:
        ValueError: the URL is not acceptable (the message says why, without secrets).
    """
    if is_allowed_url(url, allow_http_loopback=allow_http):
        return
    raise ValueError(f"JWKS URL {url!r} must be https (http only to loopback with CDS_ALLOW_HTTP_JWKS=true)")


def load_trust_file(path: str | Path, allow_http_jwks: bool = False) -> dict[str, TrustedClient]:
    """Trusted clients by issuer, read from a YAML trust file.

    Raises:
        ConfigurationError: the file is missing, not YAML, or a client entry is wrong.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"CDS_TRUST_FILE: cannot read trust file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"CDS_TRUST_FILE: trust file {path} is not valid YAML: "
                                 + " ".join(str(exc).split())) from None
    entries = (document or {}).get("clients") if isinstance(document or {}, dict) else None
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise ConfigurationError(f"trust file {path}: 'clients' must be a list")
    clients: dict[str, TrustedClient] = {}
    for index, entry in enumerate(entries):
        client = _client(entry, f"trust file {path}: clients[{index}]", path.parent, allow_http_jwks)
        if client.issuer in clients:
            raise ConfigurationError(f"trust file {path}: issuer {client.issuer!r} listed twice")
        clients[client.issuer] = client
    return clients


_KNOWN_FIELDS = {"issuer", "jwks_url", "jwks", "jwks_file", "tenant", "algorithms"}


def _client(entry: Any, where: str, base: Path, allow_http: bool) -> TrustedClient:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: must be a mapping")
    unknown = set(entry) - _KNOWN_FIELDS
    if unknown:
        raise ConfigurationError(f"{where}: unknown field(s) {sorted(unknown)}")
    issuer = entry.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise ConfigurationError(f"{where}: 'issuer' is required")
    urls = entry.get("jwks_url") or []
    urls = [urls] if isinstance(urls, str) else urls
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ConfigurationError(f"{where}: 'jwks_url' must be a URL or a list of URLs")
    for url in urls:
        try:
            check_jwks_url(url, allow_http)
        except ValueError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
    jwks = _static_jwks(entry, where, base)
    if not urls and jwks is None:
        raise ConfigurationError(f"{where}: one of 'jwks_url', 'jwks' or 'jwks_file' is required")
    tenant = entry.get("tenant")
    if tenant is not None and not isinstance(tenant, str):
        raise ConfigurationError(f"{where}: 'tenant' must be a string")
    algorithms = entry.get("algorithms")
    if algorithms is not None:
        if not isinstance(algorithms, list):
            raise ConfigurationError(f"{where}: 'algorithms' must be a list")
        algorithms = check_algorithms(tuple(str(a) for a in algorithms), where)
    return TrustedClient(issuer=issuer, jwks_urls=tuple(urls), jwks=jwks, tenant=tenant,
                         algorithms=algorithms)


def _static_jwks(entry: dict[str, Any], where: str, base: Path) -> dict[str, Any] | None:
    if "jwks" in entry and "jwks_file" in entry:
        raise ConfigurationError(f"{where}: give 'jwks' or 'jwks_file', not both")
    jwks = entry.get("jwks")
    if "jwks_file" in entry:
        file = Path(str(entry["jwks_file"]))
        file = file if file.is_absolute() else base / file
        try:
            jwks = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigurationError(f"{where}: cannot read jwks_file {file}: {exc.strerror or exc}") from None
        except (ValueError, RecursionError) as exc:
            raise ConfigurationError(f"{where}: jwks_file {file} is not JSON: {exc}") from None
    if jwks is None:
        return None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ConfigurationError(f"{where}: a JWKS must be an object with a 'keys' list")
    if any("d" in key for key in jwks["keys"] if isinstance(key, dict)):
        raise ConfigurationError(f"{where}: the JWKS holds a private key; give the public JWKS only")
    return jwks
