"""Security fixtures: real JWKS servers on loopback, keys, a trust file and a real server.

Everything here is real: the service runs as ``cds-service serve`` (gunicorn, 2 workers),
keys are fetched over HTTP from a ``http.server`` in a thread that counts its requests.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.client import generate_key, public_jwks, sign_token
from tests.conftest import LiveServer

SANDBOX_ISS = "https://ehr-sandbox-style.test"
EPIC_ISS = "https://ehr-epic-style.test"
EPIC_TENANT = "tenant-42"
SERVICE = "leg-weakness"
PUBLIC_BASE = "https://cds-public.example.org"  # the server's other configured name (CDS_BASE_URL)


class JwksServer:
    """A tiny HTTP server on loopback serving one JWK Set at /jwks.json, counting requests."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.requests = 0
        self.body = json.dumps(jwks).encode()  # replace to simulate key rotation
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                outer.requests += 1
                body = outer.body
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class SecurityEnv:
    server: LiveServer
    sandbox_key: dict[str, Any]  # ES384, served by jwks_server, used with jku
    epic_key: dict[str, Any]  # RS384, read from a jwks_file
    attacker_key: dict[str, Any]  # ES384, served only by attacker_server
    jwks_server: JwksServer
    attacker_server: JwksServer

    def url(self, service: str = SERVICE) -> str:
        return f"{self.server.url}/cds-services/{service}"

    def sandbox_token(self, **kwargs: Any) -> str:
        return sign_token(self.sandbox_key, SANDBOX_ISS, kwargs.pop("aud", self.url()),
                          jku=self.jwks_server.url, **kwargs)

    def epic_token(self, **kwargs: Any) -> str:
        return sign_token(self.epic_key, EPIC_ISS, kwargs.pop("aud", self.url()), style="epic",
                          tenant=EPIC_TENANT, **kwargs)

    def post(self, token: str | None, body: bytes | None = None, authorization: str | None = None,
             service: str = SERVICE, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> httpx.Response:
        headers = {"Content-Type": content_type, **(headers or {})}
        if authorization is not None:
            headers["Authorization"] = authorization
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.post(self.url(service), content=body if body is not None else hook_body(),
                          headers=headers, timeout=30)

    def new_log(self, since: int, wait_for: str, timeout: float = 3.0) -> str:
        """Log text written after offset ``since``, waiting until it contains ``wait_for``."""
        end = time.monotonic() + timeout
        while True:
            text = self.server.log_text()[since:]
            if wait_for in text or time.monotonic() > end:
                return text
            time.sleep(0.05)

    def log_size(self) -> int:
        return len(self.server.log_text())


def hook_body(hook_instance: str | None = None) -> bytes:
    """A small valid encounter-start request (Patient + Encounter prefetched)."""
    return json.dumps({
        "hook": "encounter-start", "hookInstance": hook_instance or str(uuid.uuid4()),
        "context": {"userId": "Practitioner/p1", "patientId": "p1", "encounterId": "e1"},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-01-01"},
            "encounter": {"resourceType": "Encounter", "id": "e1", "status": "in-progress",
                          "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                    "code": "AMB"},
                          "subject": {"reference": "Patient/p1"}},
        },
    }).encode()


@pytest.fixture(scope="session")
def security_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurityEnv]:
    tmp = tmp_path_factory.mktemp("security")
    sandbox_key = generate_key("ES384")
    epic_key = generate_key("RS384")
    attacker_key = generate_key("ES384")
    jwks_server = JwksServer(public_jwks([sandbox_key]))
    attacker_server = JwksServer(public_jwks([attacker_key]))
    (tmp / "epic-jwks.json").write_text(json.dumps(public_jwks([epic_key])))
    (tmp / "trust.yaml").write_text(
        "clients:\n"
        f"  - issuer: {SANDBOX_ISS}\n"
        f"    jwks_url: [{jwks_server.url}]\n"
        f"  - issuer: {EPIC_ISS}\n"
        "    jwks_file: epic-jwks.json\n"
        f"    tenant: {EPIC_TENANT}\n"
        "    algorithms: [RS384]\n")
    server = LiveServer({"CDS_REQUIRE_AUTH": "true", "CDS_TRUST_FILE": str(tmp / "trust.yaml"),
                         "CDS_BASE_URL": f"{PUBLIC_BASE}, {{url}}",  # two names, comma-separated
                         "CDS_ALLOW_HTTP_JWKS": "true", "CDS_DATA_DIR": str(tmp / "data"),
                         "CDS_JWKS_REFRESH_INTERVAL_SECONDS": "300", "CDS_MAX_TOKEN_BYTES": "8192"},
                        workers=2, log_path=tmp / "server.log")
    yield SecurityEnv(server, sandbox_key, epic_key, attacker_key, jwks_server, attacker_server)
    server.stop()
    jwks_server.stop()
    attacker_server.stop()
