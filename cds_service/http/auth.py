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

import http.client
import json
import logging
import math
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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

    Each URL has its own lock, and a call never queues behind another call's fetch: if a
    fetch of that URL is already under way, the caller uses the keys already known (or is
    refused at once), so a hanging or dripping JWKS holds at most one thread per URL, for at
    most ``timeout`` seconds in total, and never the calls of other issuers. A refresh happens
    at most once per ``refresh_interval`` per URL (made-up ``kid`` values cannot turn us into a
    request amplifier), and a failed fetch is not retried for ``failure_cache_seconds``.
    """

    timeout: float
    cache_seconds: float
    refresh_interval: float
    allow_http: bool
    failure_cache_seconds: float = 10.0
    _entries: dict[str, _CachedJwks] = field(default_factory=dict)
    _last_fetch: dict[str, float] = field(default_factory=dict)
    _failed_at: dict[str, float] = field(default_factory=dict)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def key(self, url: str, kid: str) -> dict[str, Any] | None:
        """The JWK with ``kid`` at ``url`` (None when it is not there even after a refresh).

        Raises:
            AuthenticationError: no keys known for ``url`` and they cannot be fetched now.
        """
        entry, fetch = self._without_fetch(url, kid)
        if not fetch:
            return entry.keys.get(kid) if entry is not None else None
        lock = self._lock(url)
        if not lock.acquire(blocking=False):  # another call is fetching this URL: never wait for it
            if entry is not None:
                return entry.keys.get(kid)
            raise AuthenticationError("JWKS of this issuer is being fetched by another call")
        try:
            entry, fetch = self._without_fetch(url, kid)  # that other call may just have finished
            if fetch:
                entry = self._refresh(url, entry)
            return entry.keys.get(kid) if entry is not None else None
        finally:
            lock.release()

    def _without_fetch(self, url: str, kid: str) -> tuple[_CachedJwks | None, bool]:
        """The cached entry and whether a fetch is due now.

        Raises:
            AuthenticationError: nothing cached and the last fetch failed only just now.
        """
        now = time.monotonic()
        entry = self._entries.get(url)
        fresh = entry is not None and now - entry.fetched_at <= self.cache_seconds
        if fresh and entry is not None and kid in entry.keys:
            return entry, False
        if fresh and now - self._last_fetch.get(url, -1e18) < self.refresh_interval:
            return entry, False
        failed = self._failed_at.get(url)
        if failed is not None and now - failed < self.failure_cache_seconds:
            if entry is None:
                raise AuthenticationError(
                    f"JWKS fetch failed less than {self.failure_cache_seconds:g} s ago (not retried yet)")
            return entry, False
        return entry, True

    def _lock(self, url: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(url, threading.Lock())

    def _refresh(self, url: str, stale: _CachedJwks | None) -> _CachedJwks | None:
        self._last_fetch[url] = time.monotonic()
        try:
            keys = fetch_jwks(url, self.timeout, self.allow_http)
        except AuthenticationError:
            self._failed_at[url] = time.monotonic()
            if stale is not None:  # keep serving known keys while the EHR's JWKS is down
                return stale
            raise
        self._failed_at.pop(url, None)
        entry = _CachedJwks(keys=keys, fetched_at=time.monotonic())
        self._entries[url] = entry
        return entry


_TLS = ssl.create_default_context()


def fetch_jwks(url: str, timeout: float, allow_http: bool) -> dict[str, dict[str, Any]]:
    """GET a JWK Set (HTTPS, no redirects, no proxy, size-capped), as keys by ``kid``.

    ``timeout`` is a total deadline for the whole fetch (connect, TLS, request, headers and
    every read of the body): a timer shuts the socket down when it passes, so a server that
    hangs or drips one byte a second cannot hold the call longer. (Name resolution is the
    operating system's and is not covered; trust files name hosts that resolve.)
    """
    try:
        check_jwks_url(url, allow_http)
    except ValueError:
        raise AuthenticationError("JWKS URL not acceptable (https required)") from None
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection = (
        http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout, context=_TLS)
        if parts.scheme == "https" else http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout))
    watchdog = threading.Timer(timeout, _abort, args=(conn,))
    watchdog.daemon = True
    watchdog.start()
    try:
        body = _get(conn, target, deadline)
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() >= deadline:
            raise AuthenticationError(f"JWKS fetch took longer than {timeout:g} s") from None
        raise AuthenticationError(f"JWKS fetch failed ({type(exc).__name__})") from None
    finally:
        watchdog.cancel()
        conn.close()
    try:
        return keys_by_kid(json.loads(body))
    except (ValueError, RecursionError):
        raise AuthenticationError("JWKS response is not a JWK Set") from None


def _get(conn: http.client.HTTPConnection, target: str, deadline: float) -> bytes:
    conn.request("GET", target, headers={"Accept": "application/json"})
    response = conn.getresponse()
    if response.status != 200:
        raise AuthenticationError(f"JWKS fetch answered HTTP {response.status}")
    body = bytearray()
    while True:
        if time.monotonic() >= deadline:
            raise TimeoutError("JWKS deadline")
        chunk = response.read1(65536)  # one socket read: the deadline is checked between reads
        if not chunk:
            if time.monotonic() >= deadline or (response.length or 0) > 0:  # cut by the watchdog, or short
                raise TimeoutError("JWKS deadline")
            return bytes(body)
        body += chunk
        if len(body) > _MAX_JWKS_BYTES:
            raise AuthenticationError("JWKS response too large")


def _abort(conn: http.client.HTTPConnection) -> None:
    """Deadline passed: shut the socket down so a blocked connect/read returns at once."""
    sock = conn.sock
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket call, also under TLS
        except OSError:
            pass


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
        self.clients = check_configuration(settings) if clients is None else clients
        self.jwks = JwksCache(timeout=settings.jwks_timeout_seconds, cache_seconds=settings.jwks_cache_seconds,
                              refresh_interval=settings.jwks_refresh_interval_seconds,
                              allow_http=settings.allow_http_jwks,
                              failure_cache_seconds=settings.jwks_failure_cache_seconds)
        self.replay = open_replay_store(settings)  # shared table on PostgreSQL, else per-host SQLite
        self._auth_off_warning = _RateLimitedWarning(AUTH_OFF_WARNING_INTERVAL_SECONDS)
        if settings.require_auth and settings.max_token_bytes <= 0:
            raise ConfigurationError("CDS_MAX_TOKEN_BYTES must be positive")

    def startup_warnings(self) -> list[str]:
        """What an operator must know at start (logged by create_app)."""
        if not self.settings.require_auth:
            return ["CDS_REQUIRE_AUTH=false: hook calls are NOT authenticated (local development only)"]
        if not self.clients:
            return ["no trusted clients (CDS_TRUST_FILE unset or empty): every hook call will be refused"]
        return []

    def audiences(self, path: str) -> list[str]:
        """The ``aud`` values accepted for a call to ``path``: each configured base URL + the path.

        Only ``CDS_BASE_URL`` decides; the request's Host and X-Forwarded-* headers never do.
        """
        return [base + path for base in self.settings.base_urls]

    def verify(self, authorization: str | None, path: str) -> str | None:
        """The verified issuer of a call to ``path`` (the request path), or None when auth is off.

        Raises:
            AuthenticationError: anything wrong with the token; the message is the log reason.
        """
        if not self.settings.require_auth:
            self._auth_off_warning.log()
            return None
        token = self._bearer(authorization)
        header = self._header(token)
        claims = _unverified_claims(token)
        client = self._client(claims.get("iss"))
        algorithm = header["alg"]
        if algorithm not in (client.algorithms or self.algorithms):
            raise AuthenticationError(f"algorithm {_short(algorithm)} not allowed for this issuer")
        key = self._key(client, header)
        verified = self._decode(token, key, algorithm, self.audiences(path), client.issuer)
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
        except (InvalidTokenError, RecursionError, ValueError, TypeError):  # a nested header must not be a 500
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

    def _decode(self, token: str, jwk: dict[str, Any], algorithm: str, audience: Sequence[str],
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
    """The payload before verification, to find the issuer and check the claim types.

    ``exp``, ``iat`` and ``nbf`` must be JSON numbers (RFC 7519 NumericDate), finite, and not
    booleans: a numeric string, ``true`` or ``1e400`` (which the JSON parser reads as infinity)
    is refused before any library does arithmetic on it.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except (InvalidTokenError, RecursionError, ValueError, TypeError):
        raise AuthenticationError("malformed token payload") from None
    if not isinstance(claims, dict):
        raise AuthenticationError("malformed token payload")
    for name in _TIME_CLAIMS:
        if name in claims and not _is_numeric_date(claims[name]):
            raise AuthenticationError(f"{name} is not a JSON number")
    return claims


_TIME_CLAIMS = ("exp", "iat", "nbf")


def _is_numeric_date(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def check_configuration(settings: Settings) -> dict[str, TrustedClient]:
    """Everything about authentication that can be wrong at start, checked at once: the trusted
    clients (from ``CDS_TRUST_FILE``), the algorithms, ``CDS_BASE_URL`` and the token size.

    ``cds-service serve`` calls it before gunicorn starts, so a bad setting is one line and a
    non-zero exit, not a traceback per worker.

    Raises:
        ConfigurationError: the message names the setting (or the trust file entry) and why.
    """
    check_algorithms(tuple(settings.allowed_algorithms), "CDS_ALLOWED_ALGORITHMS")
    if not settings.require_auth:
        return {}
    check_base_urls(settings.base_urls)
    if settings.max_token_bytes <= 0:
        raise ConfigurationError("CDS_MAX_TOKEN_BYTES must be positive")
    return load_trust_file(settings.trust_file, settings.allow_http_jwks) if settings.trust_file else {}


def check_base_urls(base_urls: tuple[str, ...]) -> None:
    """With auth on, ``CDS_BASE_URL`` must name the public URL(s) clients call (``aud``).

    Raises:
        ConfigurationError: it is empty or one entry is not an absolute http(s) URL.
    """
    if not base_urls:
        raise ConfigurationError(
            "CDS_BASE_URL is required when CDS_REQUIRE_AUTH is true: set it to the public base URL the EHR "
            "calls (e.g. https://cds.example.org; comma-separated for several names), since JWT aud is "
            "checked against it and never against the request's Host header")
    for base in base_urls:
        try:
            parts = urlsplit(base)
            host = parts.hostname
        except ValueError:
            raise ConfigurationError(f"CDS_BASE_URL: {base!r} is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment:
            raise ConfigurationError(f"CDS_BASE_URL: {base!r} is not an absolute http(s) URL without query")


#: ``auth-disabled`` is logged at most once per this many seconds per process (plus at start).
AUTH_OFF_WARNING_INTERVAL_SECONDS = 300.0


class _RateLimitedWarning:
    """The per-call "auth is off" warning, at most once per interval, with a count of the calls."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = -1e18
        self._calls = 0
        self._lock = threading.Lock()

    def log(self) -> None:
        with self._lock:
            self._calls += 1
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last, calls, self._calls = now, self._calls, 0
        log_event("auth-disabled", level=logging.WARNING, unauthenticatedCalls=calls,
                  message="CDS_REQUIRE_AUTH=false: requests are not authenticated (development only); "
                          f"logged at most every {self.interval:g} s")
