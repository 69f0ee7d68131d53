"""The EHR in a box: make a key pair, sign tokens like the sandbox or Epic, send hook calls.

``cds-service client keygen|token|send`` uses this module to exercise a running service
exactly as a real CDS client would (signed JWT, ``aud`` = the exact URL called, fresh
``jti``). It has no Flask and no click; the CLI only parses arguments and prints.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from .errors import ServiceError
from .fhir.prefetch import prefetch_from_resources
from .fhir.record import RecordBuilder, iter_resources

KEY_ALGORITHMS = ("ES384", "RS384")
STYLES = ("sandbox", "epic")


def generate_key(algorithm: str = "ES384", kid: str | None = None) -> dict[str, Any]:
    """A new private JWK (with ``kid``, ``use: sig`` and ``alg``) for ES384 (P-384) or RS384."""
    if algorithm == "ES384":
        jwk = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()), as_dict=True)
    elif algorithm == "RS384":
        jwk = RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048), as_dict=True)
    else:
        raise ValueError(f"algorithm must be one of {KEY_ALGORITHMS}")
    return {**jwk, "kid": kid or str(uuid.uuid4()), "use": "sig", "alg": algorithm}


_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def public_jwks(private_jwks: list[dict[str, Any]]) -> dict[str, Any]:
    """The public JWK Set for private JWKs: the same members minus the private ones."""
    return {"keys": [{k: v for k, v in key.items() if k not in _PRIVATE_MEMBERS} for key in private_jwks]}


def load_key(path: str | Path) -> dict[str, Any]:
    """A private JWK from a file written by ``generate_key`` (or any JWK with kid and alg)."""
    key = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(key, dict) or "d" not in key or not key.get("kid"):
        raise ValueError(f"{path}: not a private JWK with a kid")
    return key


def sign_token(private_jwk: dict[str, Any], issuer: str, audience: str, *, style: str = "sandbox",
               jku: str | None = None, tenant: str | None = None, now: int | None = None) -> str:
    """A CDS Hooks JWT signed like the given client.

    sandbox: ES384 (the key's alg), ``jku``, 5-minute expiry, no ``nbf``.
    epic: RS384 (the key's alg), ``nbf`` 5 minutes before ``iat``, 15-minute expiry.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}")
    algorithm = private_jwk.get("alg") or ("ES384" if private_jwk.get("kty") == "EC" else "RS384")
    now = int(time.time()) if now is None else now
    claims: dict[str, Any] = {"iss": issuer, "aud": audience, "iat": now, "jti": str(uuid.uuid4())}
    if style == "sandbox":
        claims["exp"] = now + 300
    else:
        claims.update(exp=now + 900, nbf=now - 300)
    if tenant:
        claims["tenant"] = tenant
    headers: dict[str, Any] = {"typ": "JWT", "kid": private_jwk["kid"]}
    if jku:
        headers["jku"] = jku
    key = jwt.PyJWK(private_jwk, algorithm=algorithm).key
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def request_from_bundle(bundle: dict[str, Any], definition: Mapping[str, Any],
                        user_id: str = "Practitioner/example") -> dict[str, Any]:
    """A hook request for the service ``definition`` (its discovery entry), its prefetch
    filled from a FHIR Bundle as an EHR's FHIR server would answer the templates.

    The patient is the Bundle's; the encounter is the one the service would choose (the
    latest in progress, else the most recent).

    Raises:
        ValueError: the Bundle has no single Patient, or a resource is not valid FHIR R4.
    """
    builder = RecordBuilder()
    builder.add("bundle", bundle)
    try:
        record = builder.build()
    except ServiceError as exc:
        raise ValueError(exc.message) from None
    if record.patient_id is None:
        raise ValueError("the Bundle needs one Patient with an id")
    context = {"userId": user_id, "patientId": record.patient_id}
    if record.encounter_id:
        context["encounterId"] = record.encounter_id
    resources = [resource for _, resource in iter_resources(bundle)]
    return {"hook": str(definition["hook"]), "hookInstance": str(uuid.uuid4()), "context": context,
            "prefetch": prefetch_from_resources(definition.get("prefetch") or {}, resources, context)}


def hook_request(document: Any, definition: Mapping[str, Any] | None) -> dict[str, Any]:
    """A hook request as is, or one built from a FHIR Bundle for ``definition``."""
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        if definition is None:
            raise ValueError("a Bundle needs the service's discovery entry to build a request")
        return request_from_bundle(document, definition)
    if isinstance(document, dict) and isinstance(document.get("hook"), str):
        return document
    raise ValueError("FILE must hold a CDS Hooks request or a FHIR R4 Bundle")


def discovery_entry(service_url: str, timeout: float = 10.0) -> dict[str, Any]:
    """The discovery entry of the service at ``.../cds-services/{id}``, read from its server.

    Raises:
        ValueError: the URL does not name a service the server lists.
        httpx.HTTPError: the server cannot be reached.
    """
    base, _, service_id = service_url.rstrip("/").rpartition("/")
    listed = httpx.get(base, timeout=timeout).json().get("services", [])
    for entry in listed:
        if isinstance(entry, dict) and entry.get("id") == service_id:
            return entry
    raise ValueError(f"{base} lists no service {service_id!r}")


def send(url: str, body: dict[str, Any], token: str | None, timeout: float = 30.0) -> httpx.Response:
    """POST a hook request with ``Authorization: Bearer <token>``."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(url, content=json.dumps(body).encode(), headers=headers, timeout=timeout)
