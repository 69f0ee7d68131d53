"""The edges answer in our shape, against the real server (gunicorn via ``cds-service serve``).

- start-up: with auth on, no CDS_BASE_URL, a missing/bad trust file or a missing jwks_file
  each give one line naming the problem and a non-zero exit (no gunicorn traceback);
- a token over CDS_MAX_TOKEN_BYTES gets our JSON 401; what gunicorn still answers itself
  (header line beyond its limit, a request line it cannot parse) is JSON with our headers;
- a client that writes the whole body before reading (urllib) reads our 413 / 401;
- TRACE gets 405 with Allow; ``/cds-services//{id}`` answers like ``/cds-services/{id}``;
- 1,000 calls to unknown services leave /metrics, the Prometheus files, worker RSS and the
  audit table within small bounds; every metric family is there before the first call.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cds_service.client import generate_key, public_jwks
from tests.conftest import LiveServer, free_port

from .conftest import SecurityEnv, hook_body

SECURITY_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def _serve(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    full |= {"CDS_DATA_DIR": str(tmp_path / "data"), **env}
    return subprocess.run([sys.executable, "-m", "cds_service", "serve", "--port", str(free_port())],
                          env=full, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("env, expected", [
    ({}, "CDS_BASE_URL is required"),
    ({"CDS_BASE_URL": "cds.example.org"}, "CDS_BASE_URL"),
    ({"CDS_BASE_URL": "https://cds.example.org", "CDS_TRUST_FILE": "/nonexistent/trust.yaml"},
     "CDS_TRUST_FILE: cannot read trust file /nonexistent/trust.yaml: No such file or directory"),
    ({"CDS_BASE_URL": "https://cds.example.org", "CDS_TRUST_FILE": "{tmp}/bad.yaml"}, "not valid YAML"),
    ({"CDS_BASE_URL": "https://cds.example.org", "CDS_TRUST_FILE": "{tmp}/missing-jwks.yaml"},
     "cannot read jwks_file"),
], ids=["no-base-url", "base-url-not-a-url", "missing-trust-file", "bad-yaml", "missing-jwks-file"])
def test_bad_start_up_settings_give_one_line_and_a_non_zero_exit(tmp_path: Path, env: dict[str, str],
                                                                  expected: str) -> None:
    (tmp_path / "bad.yaml").write_text("clients: [\n  - issuer: x\n")
    (tmp_path / "missing-jwks.yaml").write_text("clients:\n  - {issuer: https://e.test, jwks_file: gone.json}\n")
    result = _serve({k: v.replace("{tmp}", str(tmp_path)) for k, v in env.items()}, tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0] and lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr + result.stdout


# ------------------------------------------------------------------ gunicorn's edges


def test_a_token_just_over_the_limit_gets_our_json_401(security_env: SecurityEnv) -> None:
    """CDS_MAX_TOKEN_BYTES is 8192 here; gunicorn lets header lines far past it reach the app."""
    for size in (9000, 20_000, 32_000):
        response = security_env.post(None, authorization="Bearer " + "a" * size)
        assert response.status_code == 401, (size, response.text[:200])
        assert response.json() == {"error": "unauthorized"}
        assert response.headers["WWW-Authenticate"] == "Bearer"


def _raw_request(url: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("data, status", [
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", 431),
    (b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"NOT A REQUEST LINE\r\n\r\n", 400),
], ids=["header-too-large", "request-line-too-long", "garbage"])
def test_what_gunicorn_answers_itself_is_json_with_our_headers(security_env: SecurityEnv, data: bytes,
                                                                status: int) -> None:
    got, headers, body = _raw_request(security_env.server.url, data)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert "error" in json.loads(body)
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["access-control-allow-origin"] == "*"
    assert "server" not in headers and b"<html" not in body.lower()


def _urllib_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:  # a status >= 400 that urllib could read
        return error.code, error.read()


def test_urllib_writing_the_whole_body_first_reads_our_401(security_env: SecurityEnv) -> None:
    body = b'{"x": "' + b"a" * 3_000_000 + b'"}'
    for _ in range(3):
        status, answer = _urllib_post(security_env.url(), body, {"Content-Type": "application/json"})
        assert status == 401 and json.loads(answer) == {"error": "unauthorized"}


def test_urllib_writing_the_whole_body_first_reads_our_413(live_server: LiveServer) -> None:
    body = b'{"x": "' + b"a" * (6 * 1024 * 1024) + b'"}'  # over the 5 MB default
    for path in ("/evaluate", "/cds-services/leg-weakness"):
        status, answer = _urllib_post(live_server.url + path, body, {"Content-Type": "application/json"})
        assert status == 413 and json.loads(answer)["error"] == "payload-too-large"
    assert httpx.get(live_server.url + "/healthz").status_code == 200


def _with_text(reason: str, conditions: int = 0, condition_text: str = "") -> bytes:
    """``hook_body`` with ``reason`` as the encounter's reason text and ``conditions``
    Conditions of ``condition_text`` each (each text distinct, so none is read from a cache)."""
    body = json.loads(hook_body())
    body["prefetch"]["encounter"]["reasonCode"] = [{"text": reason}]
    body["prefetch"]["conditions"] = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Condition", "id": f"c{i}", "subject": {"reference": "Patient/p1"},
                      "code": {"text": f"{i} {condition_text}"}}} for i in range(conditions)]}
    return json.dumps(body).encode()


@pytest.mark.parametrize("body", [
    _with_text("weak legs, no fever, " * 100_000),  # 2.1 MB of reason: spaCy alone refuses over 1 000 000
    _with_text("sudden weakness of both legs with urinary retention. " + "legs weak no " * 15_000),
    _with_text("weak legs", conditions=60, condition_text="no fever, " * 2_000),  # 60 x 20 000 characters
], ids=["2-MB-reason", "200-KB-hostile-reason", "60-long-condition-texts"])
def test_huge_free_text_is_answered_within_the_budget(live_server: LiveServer, body: bytes) -> None:
    """Free text is read to its first 20 000 characters, and texts stop being read once the
    call's budget (1.5 s) is spent: a huge or hostile text is a 200 with cards or none, never a
    500 (spaCy raises on a text over 1 000 000 characters) and never minutes (a 200 000-character
    reason took 30 s)."""
    started = time.monotonic()
    answer = httpx.post(live_server.url + "/cds-services/leg-weakness", content=body,
                        headers={"Content-Type": "application/json"}, timeout=60)
    assert answer.status_code == 200 and isinstance(answer.json()["cards"], list)
    assert time.monotonic() - started < 6.0  # the budget plus one text, on a loaded CI machine


@pytest.mark.parametrize("method, path, allowed", [
    ("TRACE", "/cds-services/leg-weakness", {"POST", "OPTIONS"}),
    ("TRACE", "/healthz", {"GET", "HEAD", "OPTIONS"}),
    ("PUT", "/cds-services", {"GET", "HEAD", "OPTIONS"}),
])
def test_a_method_not_allowed_is_405_with_allow(live_server: LiveServer, method: str, path: str,
                                                allowed: set[str]) -> None:
    response = httpx.request(method, live_server.url + path)
    assert response.status_code == 405
    assert response.json()["error"] == "method-not-allowed"
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed


@pytest.mark.parametrize("path", ["/cds-services//leg-weakness", "/cds-services//leg-weakness/"])
def test_double_slash_before_the_id_answers_like_the_plain_path(live_server: LiveServer, path: str) -> None:
    response = httpx.post(live_server.url + path, content=hook_body(), follow_redirects=False,
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 200, response.text
    assert "cards" in response.json()
    assert httpx.post(live_server.url + "/cds-services//nope", content=hook_body(),
                      headers={"Content-Type": "application/json"}).status_code == 404


# ------------------------------------------------------------------ unauthenticated traffic


def _worker_rss_kb(server: LiveServer) -> int:
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = 0
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.fixture
def flood_server(tmp_path: Path) -> Iterator[LiveServer]:
    key = generate_key("ES384")
    (tmp_path / "jwks.json").write_text(json.dumps(public_jwks([key])))
    (tmp_path / "trust.yaml").write_text("clients:\n  - {issuer: https://ehr.test, jwks_file: jwks.json}\n")
    server = LiveServer({"CDS_TRUST_FILE": str(tmp_path / "trust.yaml"), "CDS_BASE_URL": "{url}",
                         "CDS_DATA_DIR": str(tmp_path / "data")}, workers=1, log_path=tmp_path / "server.log")
    yield server
    server.stop()


FAMILIES = ("cds_hook_calls_total", "cds_hook_call_duration_seconds_bucket", "cds_hook_stage_duration_seconds_bucket",
            "cds_cards_total", "cds_feedback_total")


def test_unknown_service_calls_cost_no_metrics_rss_or_audit_rows(flood_server: LiveServer, tmp_path: Path) -> None:
    server = flood_server
    with httpx.Client(base_url=server.url, timeout=30) as http:
        before = http.get("/metrics").text
        for family in FAMILIES:  # registered at start: /metrics is not empty before the first call
            assert family in before, family
        for _ in range(50):  # warm up allocator and caches
            http.post(f"/cds-services/{secrets.token_hex(1024)}", content=hook_body(),
                      headers={"Content-Type": "application/json"})
        warm_metrics, warm_rss = len(http.get("/metrics").text), _worker_rss_kb(server)
        prometheus = tmp_path / "data" / "prometheus-multiproc"
        warm_files = _dir_size(prometheus)
        statuses = set()
        for index in range(1000):
            service = secrets.token_hex(1024)  # a fresh 2 KB id each time
            path = f"/cds-services/{service}" + ("/feedback" if index % 2 else "")
            statuses.add(http.post(path, content=hook_body(), headers={"Content-Type": "application/json"})
                         .status_code)
        after = http.get("/metrics").text
        rss = _worker_rss_kb(server)
    assert statuses == {401}
    assert len(after) < warm_metrics + 2048, (warm_metrics, len(after))  # no new series: same size
    assert after.count("\ncds_hook_calls_total{") <= before.count("\ncds_hook_calls_total{") + 2
    assert _dir_size(prometheus) <= warm_files + 64 * 1024
    assert rss - warm_rss < 16 * 1024, (warm_rss, rss)  # KB: before, +150 MB for 1,500 calls
    server.stop()  # graceful: the audit queue is drained
    with sqlite3.connect(tmp_path / "data" / "cds-service.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM hook_calls").fetchone()[0] == 0  # refused calls: no rows
    assert "unknown" in after


def test_unknown_service_ids_are_one_label_with_auth_off(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        for _ in range(200):
            assert http.post(f"/cds-services/{secrets.token_hex(64)}", content=hook_body(),
                             headers={"Content-Type": "application/json"}).status_code == 404
        text = http.get("/metrics").text
    services = {line.split('service="')[1].split('"')[0] for line in text.splitlines()
                if line.startswith("cds_hook_calls_total{")}
    assert services <= {"leg-weakness", "leg-weakness-patient-view", "unknown"}, services
    assert 'service="unknown",status="404"' in text
