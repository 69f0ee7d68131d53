"""Property-based: generated Authorization headers and forged tokens never get past auth or cause a 5xx.

Headers and claims are drawn around the interesting values (our issuers, kids and jku,
huge/negative/float/string times, wrong types) and signed with the attacker's key, with
the trusted key (then something else must be wrong), or not at all.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import EPIC_ISS, SANDBOX_ISS, SecurityEnv, hook_body

ANY = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20) \
    | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@st.composite
def forged(draw: st.DrawFn, env: SecurityEnv) -> tuple[str, bool]:
    """(Authorization header value, whether the token could legitimately pass)."""
    now = int(time.time())
    times = st.sampled_from([now, now - 600, now + 600, now + 10**12, -1, 10**30]) | ANY
    header = {"alg": draw(st.sampled_from(["ES384", "RS384", "HS256", "none", "ES256"]) | ANY),
              "kid": draw(st.sampled_from([env.sandbox_key["kid"], env.epic_key["kid"], "x"]) | ANY),
              "jku": draw(st.sampled_from([env.jwks_server.url, env.attacker_server.url]) | ANY)}
    claims = {"iss": draw(st.sampled_from([SANDBOX_ISS, EPIC_ISS, "https://evil"]) | ANY),
              "aud": draw(st.sampled_from([env.url(), env.url("x")]) | ANY),
              "exp": draw(times), "iat": draw(times), "nbf": draw(times), "jti": draw(ANY),
              "tenant": draw(ANY)}
    for name in draw(st.lists(st.sampled_from(sorted(header)), max_size=3)):
        header.pop(name, None)
    for name in draw(st.lists(st.sampled_from(sorted(claims)), max_size=4)):
        claims.pop(name, None)
    signing = draw(st.sampled_from(["attacker", "trusted", "garbage"]))
    head, body = _b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode())
    if signing == "garbage":
        token = f"{head}.{body}.{_b64(draw(st.binary(max_size=64)))}"
    else:
        key = env.attacker_key if signing == "attacker" else env.sandbox_key
        signature = jwt.PyJWK(key).Algorithm.sign(f"{head}.{body}".encode(), jwt.PyJWK(key).key)
        token = f"{head}.{body}.{_b64(signature)}"
    return f"Bearer {token}", signing == "trusted"


def test_forged_tokens_are_refused_without_server_errors(security_env: SecurityEnv) -> None:
    env = security_env
    with httpx.Client(timeout=30) as http:

        @settings(max_examples=120, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
        @given(data=st.data())
        def check(data: st.DataObject) -> None:
            authorization, maybe_valid = data.draw(forged(env))
            response = http.post(env.url(), content=hook_body(), headers={
                "Content-Type": "application/json", "Authorization": authorization})
            assert response.status_code < 500, response.text
            if response.status_code != 401:  # only a token signed by the trusted key can pass
                assert maybe_valid and response.status_code == 200

        check()
    assert env.attacker_server.requests == 0


@given(value=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=300))
@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_authorization_headers_get_401(security_env: SecurityEnv, value: str) -> None:
    response = httpx.post(security_env.url(), content=hook_body(), headers={
        "Content-Type": "application/json", "Authorization": value.strip().encode("latin-1")})
    # 400: gunicorn refuses a header value HTTP does not allow (e.g. a control character)
    assert response.status_code in (400, 401)
