"""Property-based: requests generated from /openapi.json never make the real server fail (no 5xx).

Runs against the shared ``live_server`` (gunicorn, auth off, so bodies reach the pipeline).
Operations and path parameters come from the published OpenAPI document; bodies are
well-formed hook requests with random mutations, arbitrary JSON, or arbitrary bytes.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.conftest import LiveServer

from .conftest import hook_body

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30)

_VALID = json.loads(hook_body())
_FIELDS = ["hook", "hookInstance", "context", "prefetch", "fhirServer", "fhirAuthorization"]


@st.composite
def mutated_request(draw: st.DrawFn) -> bytes:
    """A valid encounter-start request with some fields (or nested prefetch parts) replaced."""
    body: dict[str, Any] = json.loads(json.dumps(_VALID))
    for name in draw(st.lists(st.sampled_from(_FIELDS), max_size=3, unique=True)):
        if draw(st.booleans()):
            body.pop(name, None)
        else:
            body[name] = draw(JSON_VALUES)
    if isinstance(body.get("prefetch"), dict) and draw(st.booleans()):
        key = draw(st.sampled_from(["patient", "encounter", "conditions", "observations"]))
        body["prefetch"][key] = draw(JSON_VALUES | st.fixed_dictionaries(
            {"resourceType": st.sampled_from(["Patient", "Encounter", "Bundle", "OperationOutcome", "Nope"])},
            optional={"id": JSON_VALUES, "entry": JSON_VALUES, "birthDate": JSON_VALUES,
                      "status": JSON_VALUES}))
    return json.dumps(body).encode()


BODIES = mutated_request() | JSON_VALUES.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200)
CONTENT_TYPES = st.sampled_from(["application/json", "application/fhir+json", "text/plain", None])


def _operations(document: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(method, path template, values for {id}) for every operation in the OpenAPI document."""
    operations = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            ids = [v for p in operation.get("parameters", []) if p["in"] == "path" for v in p["schema"]["enum"]]
            operations.append((method.upper(), path, ids))
    return operations


@pytest.fixture(scope="module")
def openapi_document(live_server: LiveServer) -> dict[str, Any]:
    response = httpx.get(live_server.url + "/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    assert document["openapi"].startswith("3.")
    return document


def test_openapi_lists_the_hook_endpoints(openapi_document: dict[str, Any]) -> None:
    call = openapi_document["paths"]["/cds-services/{id}"]["post"]
    assert call["security"] == []  # this server runs with CDS_REQUIRE_AUTH=false; see test_openapi_document
    assert "leg-weakness" in call["parameters"][0]["schema"]["enum"]
    assert openapi_document["paths"]["/cds-services"]["get"]["security"] == []


def test_generated_requests_never_cause_a_server_error(live_server: LiveServer,
                                                       openapi_document: dict[str, Any]) -> None:
    operations = _operations(openapi_document)
    with httpx.Client(base_url=live_server.url, timeout=30) as http:

        @settings(max_examples=150, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(operation=st.sampled_from(operations), data=st.data(), body=BODIES, content_type=CONTENT_TYPES)
        def check(operation: tuple[str, str, list[str]], data: st.DataObject, body: bytes,
                  content_type: str | None) -> None:
            method, template, ids = operation
            service_id = data.draw(st.sampled_from(ids) | st.text(min_size=1, max_size=20)) if ids else ""
            path = template.replace("{id}", quote(service_id, safe=""))
            headers = {"Content-Type": content_type} if content_type else {}
            response = http.request(method, path, content=body if method == "POST" else None, headers=headers)
            assert response.status_code < 500, (method, path, response.text[:300])
            if response.status_code >= 400:
                assert "error" in response.json()

        check()
    assert httpx.get(live_server.url + "/healthz").status_code == 200
