"""Verify the EHR's JWT on every hook call: trust only the clients we know.

The recipe (CDS Hooks 2.0 security section and best practices): the algorithm is on our
allowlist (never ``none`` or HMAC), ``kid`` is present, ``iss`` is a configured client, a
``jku`` is honoured only when it exactly matches a URL allowlisted for that issuer (checked
before any network call), the signature verifies with the client's key, ``aud`` is the URL
of the endpoint called, ``exp``/``iat`` (and ``nbf``) hold within the clock skew, the tenant
matches when configured, and the ``jti`` has not been seen. Any failure is an
AuthenticationError whose message is a reason for the log: it never contains the token.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from jwt.exceptions import (ExpiredSignatureError, ImmatureSignatureError, InvalidAudienceError,
                            InvalidIssuedAtError, InvalidIssuerError, InvalidTokenError,
                            MissingRequiredClaimError, PyJWKError)

from ..errors import AuthenticationError, ConfigurationError
from ..logs import log_event
from ..settings import Settings
from .replay import open_replay_store
from .trust import TrustedClient, check_algorithms, check_jwks_url, load_trust_file

_MAX_JWKS_BYTES = 256 * 1024
_MAX_FIELD = 512  # kid, jti, iss: longer values are refused, not stored or logged
_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]
# Clients sign one token per call (sandbox: 5 min, Epic: 15 min). A token valid for longer than
# this is refused: its jti would have to be remembered for that long (and a huge exp overflows).
MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600


def _short(value: Any) -> str:
    """A header or claim value safe to put in a log reason (never the token itself)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:80]


@dataclass
class _CachedJwks:
    keys: dict[str, dict[str, Any]]
    fetched_at: float


@dataclass
class JwksCache:
    """Per-process cache of fetched JWK Sets, refreshed when an unknown ``kid`` shows up.

    A refresh happens at most once per ``refresh_interval`` per URL, so a stream of tokens
    with made-up ``kid`` values cannot turn us into a request amplifier.
    """

    timeout: float
    cache_seconds: float
    refresh_interval: float
    allow_http: bool
    _entries: dict[str, _CachedJwks] = field(default_factory=dict)
    _last_fetch: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def key(self, url: str, kid: str) -> dict[str, Any] | None:
        """The JWK with ``kid`` at ``url`` (None when it is not there even after a refresh)."""
        with self._lock:
            now = time.monotonic()
            entry = self._entries.get(url)
            if entry is None or now - entry.fetched_at > self.cache_seconds:
                entry = self._refresh(url, now, stale=entry)
            if kid not in entry.keys and now - self._last_fetch.get(url, 0.0) >= self.refresh_interval:
                entry = self._refresh(url, now, stale=entry)
            return entry.keys.get(kid)

    def _refresh(self, url: str, now: float, stale: _CachedJwks | None) -> _CachedJwks:
        self._last_fetch[url] = now
        try:
            keys = fetch_jwks(url, self.timeout, self.allow_http)
        except AuthenticationError:
            if stale is not None:  # keep serving known keys while the EHR's JWKS is down
                return stale
            raise
        entry = _CachedJwks(keys=keys, fetched_at=now)
        self._entries[url] = entry
        return entry


def fetch_jwks(url: str, timeout: float, allow_http: bool) -> dict[str, dict[str, Any]]:
    """GET a JWK Set (HTTPS, short timeout, no redirects, size-capped), as keys by ``kid``."""
    try:
        check_jwks_url(url, allow_http)
    except ValueError:
        raise AuthenticationError("JWKS URL not acceptable (https required)") from None
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise AuthenticationError(f"JWKS fetch answered HTTP {response.status_code}")
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > _MAX_JWKS_BYTES:
                        raise AuthenticationError("JWKS response too large")
    except httpx.HTTPError as exc:
        raise AuthenticationError(f"JWKS fetch failed ({type(exc).__name__})") from None
    try:
        return keys_by_kid(json.loads(body))
    except ValueError:
        raise AuthenticationError("JWKS response is not a JWK Set") from None


def keys_by_kid(jwks: Any) -> dict[str, dict[str, Any]]:
    """The keys of a JWK Set that carry a ``kid`` (the spec requires one), by ``kid``."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError("not a JWK Set")
    return {k["kid"]: k for k in jwks["keys"] if isinstance(k, dict) and isinstance(k.get("kid"), str)}


class TokenVerifier:
    """Checks ``Authorization: Bearer <JWT>``; returns the trusted issuer or raises AuthenticationError."""

    def __init__(self, settings: Settings, clients: dict[str, TrustedClient] | None = None) -> None:
        self.settings = settings
        self.algorithms = check_algorithms(tuple(settings.allowed_algorithms), "CDS_ALLOWED_ALGORITHMS")
        if clients is None:
            clients = (load_trust_file(settings.trust_file, settings.allow_http_jwks)
                       if settings.require_auth and settings.trust_file else {})
        self.clients = clients
        self.jwks = JwksCache(timeout=settings.jwks_timeout_seconds, cache_seconds=settings.jwks_cache_seconds,
                              refresh_interval=settings.jwks_refresh_interval_seconds,
                              allow_http=settings.allow_http_jwks)
        self.replay = open_replay_store(settings)  # shared table on PostgreSQL, else per-host SQLite
        if settings.require_auth and settings.max_token_bytes <= 0:
            raise ConfigurationError("CDS_MAX_TOKEN_BYTES must be positive")

    def startup_warnings(self) -> list[str]:
        """What an operator must know at start (logged by create_app)."""
        if not self.settings.require_auth:
            return ["CDS_REQUIRE_AUTH=false: hook calls are NOT authenticated (local development only)"]
        if not self.clients:
            return ["no trusted clients (CDS_TRUST_FILE unset or empty): every hook call will be refused"]
        return []

    def verify(self, authorization: str | None, audience: str) -> str | None:
        """The verified issuer, or None when authentication is off.

        Raises:
            AuthenticationError: anything wrong with the token; the message is the log reason.
        """
        if not self.settings.require_auth:
            log_event("auth-disabled", level=logging.WARNING,
                      message="CDS_REQUIRE_AUTH=false: request not authenticated (development only)")
            return None
        token = self._bearer(authorization)
        header = self._header(token)
        claims = _unverified_claims(token)
        client = self._client(claims.get("iss"))
        algorithm = header["alg"]
        if algorithm not in (client.algorithms or self.algorithms):
            raise AuthenticationError(f"algorithm {_short(algorithm)} not allowed for this issuer")
        key = self._key(client, header)
        verified = self._decode(token, key, algorithm, audience, client.issuer)
        if client.tenant is not None and verified.get("tenant") != client.tenant:
            raise AuthenticationError("tenant does not match the configured tenant")
        jti = verified["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > _MAX_FIELD:
            raise AuthenticationError("jti is not a usable string")
        expires = int(verified["exp"]) + self.settings.clock_skew_seconds
        if expires - time.time() > MAX_TOKEN_LIFETIME_SECONDS:
            raise AuthenticationError("token valid for more than 24 hours")
        if not self.replay.remember(client.issuer, jti, expires):
            raise AuthenticationError("replayed jti")
        return client.issuer

    def _bearer(self, authorization: str | None) -> str:
        if not authorization:
            raise AuthenticationError("missing Authorization header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("Authorization header is not a Bearer token")
        token = token.strip()
        if len(token.encode("utf-8", "replace")) > self.settings.max_token_bytes:
            raise AuthenticationError(f"token over {self.settings.max_token_bytes} bytes")
        return token

    def _header(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except InvalidTokenError:
            raise AuthenticationError("malformed token") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.all_algorithms():
            raise AuthenticationError(f"algorithm {_short(algorithm)} not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > _MAX_FIELD:
            raise AuthenticationError("kid missing from the token header")
        if "jku" in header and not isinstance(header["jku"], str):
            raise AuthenticationError("jku is not a string")
        return header

    def all_algorithms(self) -> set[str]:
        """Every algorithm some client may use (global list plus per-client lists)."""
        allowed = set(self.algorithms)
        for client in self.clients.values():
            allowed.update(client.algorithms or ())
        return allowed

    def _client(self, issuer: Any) -> TrustedClient:
        if not isinstance(issuer, str) or issuer not in self.clients:
            raise AuthenticationError(f"unknown issuer {_short(issuer)}")
        return self.clients[issuer]

    def _key(self, client: TrustedClient, header: dict[str, Any]) -> dict[str, Any]:
        """The client's JWK for ``kid``: pinned keys (``jwks``/``jwks_file``), then the allowlisted
        ``jku`` (or, without one, the client's ``jwks_url`` entries)."""
        kid = header["kid"]
        jku = header.get("jku")
        if jku is not None:
            if jku not in client.jwks_urls:  # exact match, before any network call
                raise AuthenticationError(f"jku {_short(jku)} not allowlisted for this issuer")
            sources = [jku]
        else:
            sources = list(client.jwks_urls)
        if client.jwks is not None:  # pinned keys first: no network call when the kid is known
            key = keys_by_kid(client.jwks).get(kid)
            if key is not None:
                return key
        for url in sources:
            key = self.jwks.key(url, kid)
            if key is not None:
                return key
        raise AuthenticationError(f"unknown kid {_short(kid)}")

    def _decode(self, token: str, jwk: dict[str, Any], algorithm: str, audience: str,
                issuer: str) -> dict[str, Any]:
        if jwk.get("alg") not in (None, algorithm) or jwk.get("use") not in (None, "sig"):
            raise AuthenticationError("key is not for this algorithm or not a signing key")
        try:
            key = jwt.PyJWK(jwk, algorithm=algorithm).key
        except (PyJWKError, ValueError, TypeError):
            raise AuthenticationError("key does not fit the token's algorithm") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[algorithm], audience=audience, issuer=issuer,
                leeway=self.settings.clock_skew_seconds,
                options={"require": _REQUIRED_CLAIMS, "verify_signature": True})
        except ExpiredSignatureError:
            raise AuthenticationError("token expired") from None
        except ImmatureSignatureError:
            raise AuthenticationError("token not yet valid (nbf/iat in the future)") from None
        except InvalidAudienceError:
            raise AuthenticationError("aud is not this endpoint's URL") from None
        except InvalidIssuerError:
            raise AuthenticationError("iss mismatch") from None
        except InvalidIssuedAtError:
            raise AuthenticationError("iat is not a number") from None
        except MissingRequiredClaimError as exc:
            raise AuthenticationError(f"required claim {exc.claim} missing") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("bad signature") from None
        except InvalidTokenError as exc:
            raise AuthenticationError(f"invalid token ({type(exc).__name__})") from None
        return claims


def _unverified_claims(token: str) -> dict[str, Any]:
    """The payload before verification, only to find the issuer (nothing else is trusted yet)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except InvalidTokenError:
        raise AuthenticationError("malformed token payload") from None
    if not isinstance(claims, dict):
        raise AuthenticationError("malformed token payload")
    return claims
