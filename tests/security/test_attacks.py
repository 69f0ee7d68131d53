"""Attack suite against the REAL server over HTTP: each row one attack, each refused.

The server runs with 2 gunicorn workers, a trust file with a sandbox-style client (ES384,
keys fetched from an allowlisted loopback JWKS URL) and an Epic-style client (RS384, keys
from a JWKS file, tenant required). Every refused call must answer 401 with
``WWW-Authenticate: Bearer`` and no detail, never read the body (its hookInstance never
reaches the log), and log a reason that does not contain the token.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cds_service.client import sign_token

from .conftest import EPIC_ISS, SANDBOX_ISS, SecurityEnv, hook_body


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(env: SecurityEnv, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": SANDBOX_ISS, "aud": env.url(), "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(env: SecurityEnv, key: dict[str, Any] | None = None, headers: dict[str, Any] | None = None,
            **changes: Any) -> str:
    """A token signed with ``key`` (default: the trusted sandbox key), with changed claims/header."""
    key = key or env.sandbox_key
    head = {"kid": key["kid"], "jku": env.jwks_server.url, **(headers or {})}
    head = {k: v for k, v in head.items() if v is not None}
    return jwt.encode(_claims(env, **changes), jwt.PyJWK(key).key, algorithm=key["alg"], headers=head)


def _raw_claims(env: SecurityEnv, **raw: str) -> str:
    """A token signed with the trusted key whose payload has claims written as raw JSON text
    (``exp='1e400'`` puts the number 1e400 itself in the payload, not a string)."""
    claims = json.dumps(_claims(env, **{k: None for k in raw}))[:-1]
    payload = claims + "".join(f', "{name}": {text}' for name, text in raw.items()) + "}"
    key = env.sandbox_key
    return jwt.api_jws.encode(payload.encode(), jwt.PyJWK(key).key, algorithm=key["alg"],
                              headers={"kid": key["kid"], "jku": env.jwks_server.url, "typ": "JWT"})


def _unsigned(env: SecurityEnv) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": env.sandbox_key["kid"], "jku": env.jwks_server.url}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(env)).encode())}."


def _hs256_with_public_key(env: SecurityEnv) -> str:
    """The classic key-confusion attack: HMAC keyed with the issuer's PUBLIC key."""
    public = {k: v for k, v in env.sandbox_key.items() if k != "d"}
    # the PEM of the public key, as a naive verifier would feed it to HMAC
    secret = jwt.PyJWK(public).key.public_bytes(encoding=Encoding.PEM, format=PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", "kid": env.sandbox_key["kid"], "jku": env.jwks_server.url}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(env)).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@dataclass(frozen=True)
class Attack:
    name: str
    authorization: Callable[[SecurityEnv], str | None]  # the full Authorization header (None = absent)
    reason: str  # a fragment of the logged reason
    service: str = "leg-weakness"
    host: str = ""  # a Host header to send (aud must never be taken from it)
    forwarded: str = ""  # an X-Forwarded-Host header to send


def _bearer(make: Callable[[SecurityEnv], str]) -> Callable[[SecurityEnv], str]:
    return lambda env: f"Bearer {make(env)}"


ATTACKS = [
    Attack("no header", lambda env: None, "missing Authorization"),
    Attack("not bearer", lambda env: "Basic dXNlcjpwYXNz", "not a Bearer"),
    Attack("malformed token", _bearer(lambda env: "not.a.jwt"), "malformed"),
    Attack("alg none", _bearer(_unsigned), "algorithm"),
    Attack("HS256 with the public key as secret", _bearer(_hs256_with_public_key), "algorithm"),
    Attack("no kid", _bearer(lambda env: _signed(env, headers={"kid": None})), "kid missing"),
    Attack("wrong key (trusted kid)", _bearer(
        lambda env: _signed(env, env.attacker_key, headers={"kid": env.sandbox_key["kid"]})), "bad signature"),
    Attack("unknown kid", _bearer(lambda env: _signed(env, env.attacker_key)), "unknown kid"),
    Attack("jku not on the allowlist", _bearer(
        lambda env: _signed(env, env.attacker_key, headers={"jku": env.attacker_server.url})), "not allowlisted"),
    Attack("expired", _bearer(
        lambda env: _signed(env, iat=int(time.time()) - 1200, exp=int(time.time()) - 600)), "expired"),
    Attack("not yet valid (nbf)", _bearer(
        lambda env: _signed(env, nbf=int(time.time()) + 600, exp=int(time.time()) + 900)), "not yet valid"),
    Attack("issued in the future", _bearer(
        lambda env: _signed(env, iat=int(time.time()) + 600, exp=int(time.time()) + 900)), "not yet valid"),
    Attack("wrong aud", _bearer(
        lambda env: _signed(env, aud="https://evil.example/cds-services/leg-weakness")), "aud"),
    Attack("token for another endpoint", _bearer(
        lambda env: _signed(env, aud=env.url("leg-weakness-patient-view"))), "aud"),
    Attack("unknown iss", _bearer(lambda env: _signed(env, iss="https://evil.example")), "unknown issuer"),
    Attack("exp far in the future", _bearer(lambda env: _signed(env, exp=int(time.time()) + 3 * 86400)),
           "more than 24 hours"),
    Attack("exp beyond 64 bits", _bearer(lambda env: _signed(env, exp=10**30)), "more than 24 hours"),
    Attack("no exp", _bearer(lambda env: _signed(env, exp=None)), "exp missing"),
    Attack("no jti", _bearer(lambda env: _signed(env, jti=None)), "jti missing"),
    Attack("epic client with ES384 (not its algorithm)", _bearer(
        lambda env: _signed(env, iss=EPIC_ISS, headers={"jku": None})), "not allowed for this issuer"),
    Attack("epic client, wrong tenant", _bearer(
        lambda env: jwt.encode(_claims(env, iss=EPIC_ISS, tenant="other"), jwt.PyJWK(env.epic_key).key,
                               algorithm="RS384", headers={"kid": env.epic_key["kid"]})), "tenant"),
    Attack("oversize token", _bearer(lambda env: _signed(env, padding="x" * 9000)), "token over"),
    Attack("exp as a numeric string", _bearer(lambda env: _signed(env, exp=str(int(time.time()) + 300))),
           "exp is not a JSON number"),
    Attack("iat as a numeric string", _bearer(lambda env: _signed(env, iat=str(int(time.time())))),
           "iat is not a JSON number"),
    Attack("nbf as a numeric string", _bearer(lambda env: _signed(env, nbf=str(int(time.time()) - 10))),
           "nbf is not a JSON number"),
    Attack("exp true", _bearer(lambda env: _raw_claims(env, exp="true")), "exp is not a JSON number"),
    Attack("exp 1e400 (infinity)", _bearer(lambda env: _raw_claims(env, exp="1e400")), "exp is not a JSON number"),
    Attack("exp NaN", _bearer(lambda env: _raw_claims(env, exp="NaN")), "exp is not a JSON number"),
    Attack("iat -Infinity", _bearer(lambda env: _raw_claims(env, iat="-Infinity")), "iat is not a JSON number"),
    Attack("deeply nested header", _bearer(
        lambda env: _b64(b'{"alg":"ES384","x":' + b"[" * 3000 + b"]" * 3000 + b"}") + "." + _b64(b"{}") + ".x"),
           "malformed token"),
    Attack("token signed for another service, sent with that service's Host", _bearer(
        lambda env: _signed(env, aud="http://other-cds.example/cds-services/leg-weakness")), "aud",
           host="other-cds.example"),
    Attack("aud from X-Forwarded-Host", _bearer(
        lambda env: _signed(env, aud="https://proxy-name.example/cds-services/leg-weakness")), "aud",
           host="", forwarded="proxy-name.example"),
    Attack("feedback without a token", lambda env: None, "missing Authorization", "leg-weakness/feedback"),
    Attack("hook-call token replayed on feedback", _bearer(lambda env: _signed(env)), "aud",
           "leg-weakness/feedback"),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_refused(security_env: SecurityEnv, attack: Attack) -> None:
    env = security_env
    attacker_requests = env.attacker_server.requests
    authorization = attack.authorization(env)
    marker = str(uuid.uuid4())
    before = env.log_size()
    headers = {"Host": attack.host} if attack.host else {}
    if attack.forwarded:
        headers |= {"X-Forwarded-Host": attack.forwarded, "X-Forwarded-Proto": "https"}
    response = env.post(None, body=hook_body(marker), authorization=authorization, service=attack.service,
                        headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"error": "unauthorized"}
    log = env.new_log(before, "auth-failed")
    failures = [json.loads(line) for line in log.splitlines() if '"auth-failed"' in line]
    assert failures and attack.reason in failures[-1]["reason"], log
    assert marker not in log  # the body was never read
    token = (authorization or "").partition(" ")[2]
    if token:
        assert token not in env.server.log_text()
        signature = token.split(".")[-1]
        assert not signature or signature not in log
    assert env.attacker_server.requests == attacker_requests == 0


def test_sandbox_style_token_is_accepted(security_env: SecurityEnv) -> None:
    response = security_env.post(security_env.sandbox_token())
    assert response.status_code == 200, response.text
    assert "cards" in response.json()
    assert security_env.jwks_server.requests >= 1  # the key really came over HTTP


def test_epic_style_token_is_accepted(security_env: SecurityEnv) -> None:
    token = security_env.epic_token()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["nbf"] == claims["iat"] - 300
    response = security_env.post(token)
    assert response.status_code == 200, response.text


def test_replayed_jti_is_refused_across_workers(security_env: SecurityEnv) -> None:
    token = security_env.sandbox_token()
    assert security_env.post(token).status_code == 200
    before = security_env.log_size()
    # new connections each time: gunicorn hands them to either of the 2 workers
    statuses = [security_env.post(token).status_code for _ in range(6)]
    assert statuses == [401] * 6
    assert '"reason": "replayed jti"' in security_env.new_log(before, "replayed jti")


def test_no_auth_needed_for_discovery_health_preflight_and_openapi(security_env: SecurityEnv) -> None:
    base = security_env.server.url
    assert httpx.get(base + "/cds-services").status_code == 200
    assert httpx.get(base + "/healthz").status_code == 200
    assert httpx.get(base + "/openapi.json").status_code == 200
    preflight = httpx.options(security_env.url(), headers={
        "Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code in (200, 204)


def test_no_server_banner_and_security_headers(security_env: SecurityEnv) -> None:
    for response in (httpx.get(security_env.server.url + "/healthz"), security_env.post(None)):
        assert "server" not in response.headers
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


HOSTILE_BODIES = [
    ("deeply nested", _deep(5000)),
    ("deeply nested object", b'{"a":' * 3000 + b"1" + b"}" * 3000),
    ("huge string", json.dumps({"hook": "encounter-start", "hookInstance": "x" * 3_000_000,
                                "context": {}}).encode()),
    ("wrong types", json.dumps({"hook": 5, "hookInstance": [], "context": "p1", "prefetch": 7}).encode()),
    ("wrong types in prefetch", json.dumps({**json.loads(hook_body()),
                                            "prefetch": {"patient": [1, 2], "encounter": "x"}}).encode()),
    ("invalid UTF-8", b'{"hook": "encounter-start", "hookInstance": "\xff\xfe"}'),
    ("duplicate keys", b'{"hook": "encounter-start", "hook": "patient-view", "hookInstance": "a", "context": {}}'),
    ("not an object", b"[1, 2, 3]"),
    ("empty", b""),
    ("over the size limit", b'{"x": "' + b"a" * (6 * 1024 * 1024) + b'"}'),
]


@pytest.mark.parametrize("body", [b for _, b in HOSTILE_BODIES], ids=[n for n, _ in HOSTILE_BODIES])
def test_hostile_body_with_a_valid_token(security_env: SecurityEnv, body: bytes) -> None:
    response = security_env.post(security_env.sandbox_token(), body=body)
    assert 400 <= response.status_code < 500
    assert response.headers["Content-Type"].startswith("application/json")
    assert "error" in response.json()
    assert httpx.get(security_env.server.url + "/healthz").status_code == 200


def test_feedback_with_its_own_token_is_accepted(security_env: SecurityEnv) -> None:
    env = security_env
    feedback = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "overridden",
                              "outcomeTimestamp": "2026-01-01T10:00:00Z"}]}
    token = env.sandbox_token(aud=env.url("leg-weakness/feedback"))
    response = env.post(token, body=json.dumps(feedback).encode(), service="leg-weakness/feedback")
    assert response.status_code == 200, response.text


def test_every_configured_base_url_is_an_accepted_audience(security_env: SecurityEnv) -> None:
    """CDS_BASE_URL is 'https://cds-public.example.org, <loopback URL>': both names work."""
    from .conftest import PUBLIC_BASE
    token = security_env.sandbox_token(aud=f"{PUBLIC_BASE}/cds-services/leg-weakness")
    assert security_env.post(token).status_code == 200
    assert security_env.post(security_env.sandbox_token()).status_code == 200


def test_sandbox_double_slash_url_is_served_with_its_exact_aud(security_env: SecurityEnv) -> None:
    """The sandbox posts to discoveryUrl + '/' + id: '/cds-services//{id}', aud = that URL."""
    env = security_env
    url = f"{env.server.url}/cds-services//leg-weakness"
    token = sign_token(env.sandbox_key, SANDBOX_ISS, url, jku=env.jwks_server.url)
    response = httpx.post(url, content=hook_body(), follow_redirects=False, timeout=30,
                          headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert "cards" in response.json()
    feedback_url = url + "/feedback"
    token = sign_token(env.sandbox_key, SANDBOX_ISS, feedback_url, jku=env.jwks_server.url)
    feedback = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "overridden",
                              "outcomeTimestamp": "2026-01-01T10:00:00.375Z"}]}
    answer = httpx.post(feedback_url, json=feedback, follow_redirects=False, timeout=30,
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
