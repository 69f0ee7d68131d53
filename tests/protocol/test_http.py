"""The HTTP protocol against the real server (gunicorn via ``cds-service serve``, auth off)."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cds_service.protocol import validation
from tests.conftest import LiveServer

from .conftest import assert_json, encounter_start, post_hook

ES = "leg-weakness"
PV = "leg-weakness-patient-view"
USER_TOKENS = {"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}
#: Context fields each hook defines as prefetch tokens (CDS Hooks Library 1.0.1).
CONTEXT_TOKENS = {"encounter-start": {"userId", "patientId", "encounterId"},
                  "patient-view": {"userId", "patientId", "encounterId"}}


def absolute(http: httpx.Client, path: str) -> str:
    """Full URL: httpx would read a '//x' path as a network-path reference (host 'x')."""
    return str(http.base_url).rstrip("/") + path


# ---------------------------------------------------------------- discovery

def test_discovery_lists_both_services(http: httpx.Client) -> None:
    response = http.get("/cds-services")
    assert response.status_code == 200
    body = assert_json(response)
    assert validation.problems(body, "discovery-response") == []
    hooks = {s["id"]: s["hook"] for s in body["services"]}
    assert hooks == {ES: "encounter-start", PV: "patient-view"}
    for service in body["services"]:
        assert service["title"] and service["description"] and service["prefetch"]


def test_prefetch_templates_use_only_cds_hooks_2_0_tokens(http: httpx.Client) -> None:
    for service in http.get("/cds-services").json()["services"]:
        for key, template in service["prefetch"].items():
            tokens = re.findall(r"\{\{(.*?)\}\}", template)
            assert tokens, (key, template)
            assert "{" not in re.sub(r"\{\{.*?\}\}", "", template), template
            for token in (t.strip() for t in tokens):
                if token.startswith("context."):
                    assert token[len("context."):] in CONTEXT_TOKENS[service["hook"]], (key, token)
                else:
                    assert token in USER_TOKENS, (key, token)


def test_encounter_start_declares_the_encounter_read(http: httpx.Client) -> None:
    services = {s["id"]: s for s in http.get("/cds-services").json()["services"]}
    assert services[ES]["prefetch"]["encounter"] == "Encounter/{{context.encounterId}}"
    assert services[ES]["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert "{{context.encounterId}}" not in json.dumps(services[PV]["prefetch"])  # optional in patient-view


@pytest.mark.parametrize("path", ["/cds-services/", "//cds-services"])
def test_discovery_variants_answer_directly(http: httpx.Client, path: str) -> None:
    response = http.get(absolute(http, path), follow_redirects=False)
    assert response.status_code == 200
    assert assert_json(response)["services"]


# ---------------------------------------------------------------- hook calls

def test_hook_call_answers_cards(http: httpx.Client) -> None:
    response = post_hook(http, ES, encounter_start())
    assert response.status_code == 200
    body = response.json()
    assert set(body) <= {"cards", "systemActions"} and isinstance(body["cards"], list)


@pytest.mark.parametrize("path", [f"/cds-services/{ES}/", f"//cds-services/{ES}"])
def test_slash_variants_answer_directly(http: httpx.Client, path: str) -> None:
    response = http.post(absolute(http, path), json=encounter_start(), follow_redirects=False)
    assert response.status_code == 200, response.text
    validation.validate(assert_json(response), "response", "response")


def test_unknown_service_is_404_json(http: httpx.Client) -> None:
    response = http.post("/cds-services/no-such-service", json=encounter_start())
    assert response.status_code == 404
    assert assert_json(response)["error"] == "unknown-service"


def test_hook_mismatch_is_400(http: httpx.Client) -> None:
    body = encounter_start()
    body["hook"] = "patient-view"
    response = post_hook(http, ES, body)
    assert response.status_code == 400
    assert response.json()["error"] == "hook-mismatch"


def test_get_on_a_service_is_405_json(http: httpx.Client) -> None:
    response = http.get(f"/cds-services/{ES}")
    assert response.status_code == 405
    assert assert_json(response)["error"] == "method-not-allowed"


# ---------------------------------------------------------------- CORS

@pytest.mark.parametrize("path", ["/cds-services", f"/cds-services/{ES}", f"//cds-services/{ES}", "/cds-services/nope"])
def test_preflight_needs_no_auth_and_allows_the_call(http: httpx.Client, path: str) -> None:
    response = http.options(absolute(http, path), headers={"Origin": "https://sandbox.cds-hooks.org",
                                           "Access-Control-Request-Method": "POST",
                                           "Access-Control-Request-Headers": "authorization,content-type"},
                            follow_redirects=False)
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


@pytest.mark.parametrize(("method", "path", "content_type", "status"), [
    ("POST", "/cds-services/nope", "application/json", 404),
    ("POST", f"/cds-services/{ES}", "application/json", 400),
    ("POST", f"/cds-services/{ES}", "text/plain", 415),
    ("GET", f"/cds-services/{ES}", None, 405)])
def test_cors_headers_on_errors(http: httpx.Client, method: str, path: str, content_type: str | None,
                                status: int) -> None:
    headers = {"Origin": "https://example.org"} | ({"Content-Type": content_type} if content_type else {})
    response = http.request(method, path, headers=headers, content=b"{" if method == "POST" else None)
    assert response.status_code == status
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert_json(response)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Authentication on, no client trusted: every hook call is a 401."""
    tmp: Path = tmp_path_factory.mktemp("auth")
    server = LiveServer({"CDS_REQUIRE_AUTH": "true", "CDS_DATA_DIR": str(tmp / "data"), "CDS_BASE_URL": "{url}"},
                        log_path=tmp / "server.log")
    yield server
    server.stop()


def test_preflight_is_answered_without_auth_when_auth_is_on(auth_server: LiveServer) -> None:
    url = f"{auth_server.url}/cds-services/{ES}"
    preflight = httpx.options(url, headers={"Origin": "https://sandbox.cds-hooks.org",
                                            "Access-Control-Request-Method": "POST",
                                            "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    call = httpx.post(url, json=encounter_start(), headers={"Origin": "https://sandbox.cds-hooks.org"})
    assert call.status_code == 401
    assert call.headers["WWW-Authenticate"] == "Bearer"
    assert call.headers["Access-Control-Allow-Origin"] == "*"  # or the browser hides the 401
    assert assert_json(call) == {"error": "unauthorized"}


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("raw", [b"{", b"", b"\xff\xfe", b'{"a": 1, "a": 2}', b'{"x": NaN}',
                                 b"[" * 200 + b"]" * 200], ids=["truncated", "empty", "not-utf8",
                                                               "duplicate-key", "nan", "too-deep"])
def test_bad_json_is_400(http: httpx.Client, raw: bytes) -> None:
    response = http.post(f"/cds-services/{ES}", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert assert_json(response)["error"] == "bad-json"


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda b: b["context"].pop("encounterId"), "$.context"),
    (lambda b: b["context"].update(patientId="Patient/p1"), "$.context.patientId"),
    (lambda b: b["context"].update(userId="Patient/p1"), "$.context.userId"),
    (lambda b: b.update(hookInstance="not-a-uuid"), "$.hookInstance"),
    (lambda b: b.update(fhirAuthorization={"access_token": "t", "token_type": "Bearer", "expires_in": 300,
                                           "scope": "user/*.read", "subject": "s"}), "$"),
    (lambda b: b["prefetch"].update(conditions={"entry": []}), "$.prefetch.conditions"),
    (lambda b: b.update(extension=[]), "$.extension"),
    (lambda b: b.update(prefetch=[]), "$.prefetch"),
], ids=["no-encounterId", "typed-patientId", "patient-user", "hookInstance", "auth-without-server",
        "prefetch-no-resourceType", "extension-not-object", "prefetch-not-object"])
def test_schema_violation_names_the_field(http: httpx.Client, mutate, path: str) -> None:  # type: ignore[no-untyped-def]
    body = encounter_start()
    mutate(body)
    response = post_hook(http, ES, body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "schema-violation"
    assert path in [d["path"] for d in payload["details"]], payload


@pytest.mark.parametrize("body", [[], "text", 1, None], ids=["array", "string", "number", "null"])
def test_non_object_body_is_400(http: httpx.Client, body: object) -> None:
    response = http.post(f"/cds-services/{ES}", content=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert assert_json(response)["details"][0]["path"] == "$"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(http: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.post(f"/cds-services/{ES}", content=json.dumps(encounter_start()).encode(), headers=headers)
    assert response.status_code == 415
    assert assert_json(response)["error"] == "unsupported-media-type"


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("small")
    server = LiveServer({"CDS_REQUIRE_AUTH": "false", "CDS_DATA_DIR": str(tmp / "data"),
                         "CDS_MAX_BODY_BYTES": "2048"}, log_path=tmp / "server.log")
    yield server
    server.stop()


def test_body_over_limit_is_413(small_server: LiveServer) -> None:
    body = encounter_start()
    body["extension"] = {"org.example.padding": "x" * 4000}
    response = httpx.post(f"{small_server.url}/cds-services/{ES}", json=body, timeout=30)
    assert response.status_code == 413
    assert assert_json(response)["error"] == "payload-too-large"
    ok = httpx.post(f"{small_server.url}/cds-services/{ES}", json=encounter_start(), timeout=30)
    assert ok.status_code == 200, ok.text


def test_chunked_body_over_limit_is_413(small_server: LiveServer) -> None:
    """Without Content-Length the limit must still hold while the body is read."""
    body = encounter_start()
    body["extension"] = {"org.example.padding": "x" * 4000}
    raw = json.dumps(body).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), 512):
            yield raw[start:start + 512]

    response = httpx.post(f"{small_server.url}/cds-services/{ES}", content=chunks(),
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 413
    assert assert_json(response)["error"] == "payload-too-large"


def test_chunked_body_of_exactly_the_limit_is_read_whole(small_server: LiveServer) -> None:
    body = encounter_start()
    body["extension"] = {"org.example.padding": ""}
    padding = 2048 - len(json.dumps(body).encode())
    body["extension"]["org.example.padding"] = "x" * padding
    raw = json.dumps(body).encode()
    assert len(raw) == 2048
    response = httpx.post(f"{small_server.url}/cds-services/{ES}", content=iter([raw[:1000], raw[1000:]]),
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------- prefetch semantics

def test_missing_required_prefetch_without_fhir_server_is_412(http: httpx.Client) -> None:
    body = encounter_start()
    del body["prefetch"]
    response = post_hook(http, ES, body)
    assert response.status_code == 412
    payload = response.json()
    assert payload["error"] == "prefetch-unavailable"
    assert [m["key"] for m in payload["missing"]] == ["encounter", "patient"]
    assert all("fhirServer" in m["reason"] for m in payload["missing"])


def test_operation_outcome_for_a_required_key_is_412(http: httpx.Client) -> None:
    body = encounter_start()
    body["prefetch"]["encounter"] = {"resourceType": "OperationOutcome",
                                     "issue": [{"severity": "error", "code": "not-found"}]}
    response = post_hook(http, ES, body)
    assert response.status_code == 412
    assert [m["key"] for m in response.json()["missing"]] == ["encounter"]
    assert "OperationOutcome" in response.json()["missing"][0]["reason"]


def test_null_prefetch_for_optional_keys_is_accepted(http: httpx.Client) -> None:
    optional = ["conditions", "observations", "medications", "serviceRequests", "diagnosticReports",
                "imagingStudies", "procedures"]
    response = post_hook(http, ES, encounter_start(**{k: None for k in optional}))
    assert response.status_code == 200, response.text


def test_empty_searchset_bundles_are_accepted(http: httpx.Client) -> None:
    empty = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    response = post_hook(http, ES, encounter_start(conditions=empty, observations=empty))
    assert response.status_code == 200, response.text


def test_invalid_fhir_in_prefetch_names_key_resource_and_field(http: httpx.Client) -> None:
    condition = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                 "onsetDateTime": "yesterday-ish"}
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": condition}]}
    response = post_hook(http, ES, encounter_start(conditions=bundle))
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "invalid-prefetch"
    assert payload["prefetchKey"] == "conditions" and payload["resource"] == "Condition/c1"
    assert any(d["path"] == "conditions:Condition/c1.onsetDateTime" for d in payload["details"]), payload


def test_invalid_encounter_status_is_400(http: httpx.Client) -> None:
    body = encounter_start()
    body["prefetch"]["encounter"]["status"] = "Xin-progress"
    response = post_hook(http, ES, body)
    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == "encounter:Encounter/e1.status"


def test_prefetch_queries_have_no_empty_parameters(http: httpx.Client) -> None:
    """'code=' with no value is an invalid FHIR search; every parameter must carry a value."""
    for service in http.get("/cds-services").json()["services"]:
        for key, template in service["prefetch"].items():
            _, _, query = template.partition("?")
            for parameter in filter(None, query.split("&")):
                name, _, value = parameter.partition("=")
                assert name and value, (service["id"], key, template)


def test_prefetched_patient_must_be_the_context_patient(http: httpx.Client) -> None:
    """Another patient's data is never used: 400 naming the key and the resource."""
    body = encounter_start()
    body["context"]["patientId"] = "someone-else"
    response = post_hook(http, ES, body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "invalid-prefetch"
    assert payload["prefetchKey"] == "patient" and payload["resource"] == "Patient/p1"
    assert payload["details"][0]["path"] == "patient:Patient/p1.id"
