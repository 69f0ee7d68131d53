"""Trust file rules, the JWKS cache, the replay store, auth-off warnings and the README round trip."""
from __future__ import annotations

import json
import logging
import shutil
import os
from dataclasses import dataclass
import time
from pathlib import Path

import httpx
import jwt
import pytest

from click.testing import CliRunner

from cds_service import Settings, create_app
from cds_service.cli import main
from cds_service.client import generate_key, public_jwks, sign_token
from cds_service.errors import AuthenticationError, ConfigurationError
from cds_service.http.auth import TokenVerifier
from cds_service.http.replay import ReplayStore
from cds_service.http.trust import load_trust_file
from tests.conftest import DATA, LiveServer

from .conftest import JwksServer, hook_body

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://cds.example.org"
PATH = "/cds-services/leg-weakness"
AUD = BASE + PATH


def _trust(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trust.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("entry, problem", [
    ("{issuer: x, jwks_url: [http://ehr.example.org/jwks.json]}", "https"),
    ("{issuer: x, jwks_url: [http://127.0.0.1:9/jwks.json]}", "https"),  # loopback, but http not allowed
    ("{issuer: x, jwks_url: [https://e.org/j], algorithms: [HS256]}", "algorithms"),
    ("{issuer: x, jwks_url: [https://e.org/j], algorithms: [none]}", "algorithms"),
    ("{issuer: x, jwks: {keys: [{kty: EC, kid: a, d: secret}]}}", "private key"),
    ("{issuer: x, jwks_url: [https://e.org/j], secret: y}", "unknown field"),
    ("{issuer: x}", "required"),
    ("{jwks_url: [https://e.org/j]}", "issuer"),
    ("{issuer: x, jwks_file: missing.json}", "jwks_file"),
])
def test_bad_trust_entries_stop_start_up(tmp_path: Path, entry: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        load_trust_file(_trust(tmp_path, f"clients:\n  - {entry}\n"))


@pytest.mark.parametrize("algorithms", [("ES384", "none"), ("HS256",), ("RS384", "HS512")])
def test_symmetric_or_none_algorithms_cannot_be_configured(tmp_path: Path, algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ConfigurationError, match="ALLOWED_ALGORITHMS"):
        create_app(Settings(data_dir=str(tmp_path), allowed_algorithms=algorithms))


def test_shipped_example_trust_file_loads(tmp_path: Path) -> None:
    shutil.copy(ROOT / "trust.example.yaml", tmp_path / "trust.yaml")
    (tmp_path / "jwks.json").write_text(json.dumps(public_jwks([generate_key("ES384")])))
    clients = load_trust_file(tmp_path / "trust.yaml")
    assert list(clients) == ["https://ehr.example.org"]
    text = (ROOT / "trust.example.yaml").read_text()
    assert "#  - issuer: https://sandbox.cds-hooks.org" in text and "DEVELOPMENT ONLY" in text
    _, _, examples = text.partition("\nclients:\n")
    uncommented = "clients:\n" + examples.replace("#  ", "  ")  # each commented example is valid too
    (tmp_path / "all.yaml").write_text(uncommented)
    assert "https://sandbox.cds-hooks.org" in load_trust_file(tmp_path / "all.yaml")


def test_unknown_kids_do_not_hammer_the_jwks_url_and_rotation_is_picked_up(tmp_path: Path) -> None:
    key, rotated = generate_key("ES384"), generate_key("ES384")
    server = JwksServer(public_jwks([key]))
    try:
        trust = _trust(tmp_path, f"clients:\n  - {{issuer: https://ehr.test, jwks_url: [{server.url}]}}\n")
        settings = Settings(data_dir=str(tmp_path), base_url=BASE, trust_file=str(trust), allow_http_jwks=True,
                            jwks_refresh_interval_seconds=300)
        verifier = TokenVerifier(settings)
        assert verifier.verify("Bearer " + sign_token(key, "https://ehr.test", AUD, jku=server.url), PATH)
        for _ in range(5):
            with pytest.raises(AuthenticationError, match="unknown kid"):
                verifier.verify("Bearer " + sign_token(rotated, "https://ehr.test", AUD, jku=server.url), PATH)
        assert server.requests == 1  # the refresh interval has not passed
        server.body = json.dumps(public_jwks([key, rotated])).encode()
        eager = TokenVerifier(settings.replace(jwks_refresh_interval_seconds=0))
        assert eager.verify("Bearer " + sign_token(rotated, "https://ehr.test", AUD, jku=server.url), PATH)
    finally:
        server.stop()


def test_inline_jwks_without_jku(tmp_path: Path) -> None:
    key = generate_key("RS384")
    trust = _trust(tmp_path, "clients:\n  - issuer: https://ehr.test\n    jwks: "
                   + json.dumps(public_jwks([key])) + "\n")
    verifier = TokenVerifier(Settings(data_dir=str(tmp_path), base_url=BASE, trust_file=str(trust)))
    assert verifier.verify("Bearer " + sign_token(key, "https://ehr.test", [AUD, "x"], style="epic"), PATH) \
        == "https://ehr.test"  # type: ignore[arg-type]


def test_replay_store_is_shared_by_two_handles_on_one_file(tmp_path: Path) -> None:
    first, second = ReplayStore(tmp_path / "r.sqlite3"), ReplayStore(tmp_path / "r.sqlite3")
    later = int(time.time()) + 60
    assert first.remember("iss", "j1", later)
    assert not second.remember("iss", "j1", later)
    assert second.remember("other-iss", "j1", later)
    assert first.remember("iss", "old", int(time.time()) - 10)
    assert second.remember("iss", "old", later)  # an expired leftover is not a replay


def test_auth_off_warns_at_start_then_at_most_once_per_interval(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cds_service"):
        app = create_app(Settings(require_auth=False, data_dir=str(tmp_path)))
        assert any("CDS_REQUIRE_AUTH=false" in str(getattr(r, "fields", {})) for r in caplog.records)
        caplog.clear()
        client = app.test_client()
        for _ in range(20):
            response = client.post("/cds-services/leg-weakness", data=hook_body(), content_type="application/json")
            assert response.status_code == 200
    warnings = [r for r in caplog.records if r.getMessage() == "auth-disabled"]
    assert len(warnings) == 1  # not one per call (issue 11): once, then at most every interval
    assert warnings[0].fields["unauthenticatedCalls"] == 1  # type: ignore[attr-defined]


@dataclass
class _Result:
    returncode: int
    stdout: str
    stderr: str


def _cli(*args: str, cwd: Path) -> _Result:
    """Run ``cds-service ARGS`` in ``cwd`` through click, in this process (no interpreter start-up)."""
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    finally:
        os.chdir(previous)
    return _Result(result.exit_code, result.stdout, result.stderr)


def test_readme_round_trip(tmp_path: Path) -> None:
    """keygen -> trust file naming the jwks file -> serve -> send: a Bundle sandbox-style (ES384),
    a hook request Epic-style (RS384)."""
    for alg in ("ES384", "RS384"):
        made = _cli("client", "keygen", "--alg", alg, "--out", f"{alg}.json", "--jwks-out", f"{alg}-jwks.json",
                    cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        assert "d" not in json.loads((tmp_path / f"{alg}-jwks.json").read_text())["keys"][0]
    (tmp_path / "trust.yaml").write_text(
        "clients:\n  - issuer: https://ehr.example.org\n    jwks_file: ES384-jwks.json\n"
        "  - issuer: https://epic.example.org\n    jwks_file: RS384-jwks.json\n")
    server = LiveServer({"CDS_TRUST_FILE": str(tmp_path / "trust.yaml"), "CDS_DATA_DIR": str(tmp_path / "data"),
                         "CDS_BASE_URL": "{url}"},
                        log_path=tmp_path / "server.log")
    try:
        url = f"{server.url}/cds-services/leg-weakness"
        bundle = min((DATA / "fhir" / "synthea" / "generated-sample-data-r4").glob("*.json"),
                     key=lambda p: p.stat().st_size)  # the smallest real Synthea Bundle
        (tmp_path / "request.json").write_bytes(hook_body())
        for alg, issuer, style, file in [("ES384", "https://ehr.example.org", "sandbox", str(bundle)),
                                         ("RS384", "https://epic.example.org", "epic", "request.json")]:
            sent = _cli("client", "send", "--key", f"{alg}.json", "--iss", issuer, "--style", style,
                        "--url", url, file, cwd=tmp_path)
            assert sent.returncode == 0, sent.stderr + sent.stdout
            assert "cards" in json.loads(sent.stdout)
        unsigned = httpx.post(url, content=hook_body(), headers={"Content-Type": "application/json"})
        assert unsigned.status_code == 401
        printed = _cli("client", "token", "--key", "ES384.json", "--iss", "https://ehr.example.org",
                       "--aud", url, cwd=tmp_path)
        assert printed.returncode == 0, printed.stderr
        with_token = httpx.post(url, content=hook_body(), headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {printed.stdout.strip()}"})
        assert with_token.status_code == 200, with_token.text
        for alg in ("ES384", "RS384"):
            assert json.loads((tmp_path / f"{alg}.json").read_text())["d"] not in server.log_text()
    finally:
        server.stop()


SPEC = DATA / "cds-hooks-spec"


def test_spec_example_key_and_header_verify_against_the_spec_jwks(tmp_path: Path) -> None:
    """The CDS Hooks 2.0.1 worked example (private JWK, header with jku, payload) with fresh times."""
    private = json.loads((SPEC / "spec-2.0.1" / "jwk-private-EXAMPLE-ONLY.json").read_text())
    header = json.loads((SPEC / "spec-2.0.1" / "jwt-header.json").read_text())
    payload = json.loads((SPEC / "spec-2.0.1" / "jwt-payload.json").read_text())
    trust = _trust(tmp_path, f"clients:\n  - issuer: {payload['iss']}\n    jwks_url: [{header['jku']}]\n"
                   f"    jwks_file: {SPEC / 'spec-2.0.1' / 'jwks-public-example.json'}\n"
                   f"    tenant: {payload['tenant']}\n")
    verifier = TokenVerifier(Settings(data_dir=str(tmp_path), base_url=BASE, trust_file=str(trust)))
    now = int(time.time())
    claims = {**payload, "aud": AUD, "iat": now, "exp": now + 300}
    token = jwt.encode(claims, jwt.PyJWK(private).key, algorithm=header["alg"],
                       headers={k: v for k, v in header.items() if k != "alg"})
    # the key is pinned in the trust file, so the (unreachable) jku is never fetched
    assert verifier.verify(f"Bearer {token}", PATH) == payload["iss"]
    with pytest.raises(AuthenticationError, match="replayed"):
        verifier.verify(f"Bearer {token}", PATH)


def test_shipped_sandbox_trust_file_pins_the_sandbox_key_and_lists_its_jku(tmp_path: Path) -> None:
    """trust.sandbox.yaml: development only, the sandbox's public JWKS inline, its jku allowlisted.

    A token with the sandbox's kid and jku but another key is refused by signature, with no
    network call (the key is pinned; the jku is allowlisted, so it is not refused for that)."""
    text = (ROOT / "trust.sandbox.yaml").read_text()
    assert "DEVELOPMENT ONLY" in text and "NEVER USE THIS FILE WITH REAL PATIENT DATA" in text
    client = load_trust_file(ROOT / "trust.sandbox.yaml")["https://sandbox.cds-hooks.org"]
    jku = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
    assert client.jwks_urls == (jku,) and client.algorithms == ("ES384",)
    assert client.jwks is not None
    kid = client.jwks["keys"][0]["kid"]
    assert kid == "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f" and "d" not in client.jwks["keys"][0]
    verifier = TokenVerifier(Settings(data_dir=str(tmp_path), base_url=BASE,
                                      trust_file=str(ROOT / "trust.sandbox.yaml")))
    forged = generate_key("ES384", kid=kid)
    token = sign_token(forged, "https://sandbox.cds-hooks.org", AUD, jku=jku)
    with pytest.raises(AuthenticationError, match="bad signature"):
        verifier.verify(f"Bearer {token}", PATH)
