"""Fixtures for the fetch tests: a real FHIR server (SEKMET), a faulty FHIR server we control,
and real ``cds-service serve`` processes that fetch from them.

SEKMET lives in its own venv, installed by ``.ci/setup-fhirserver.sh`` (never by the tests:
they skip, naming that script, when it is missing) because its dependencies may clash with ours.
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DATA, LiveServer, free_port

SEKMET_VENV = Path(os.environ.get("SEKMET_VENV", "/tmp/sekmet-venv"))
SEKMET_TOKEN = "sekmet-test-token-" + uuid.uuid4().hex
SYNTHEA = DATA / "fhir" / "synthea" / "generated-sample-data-r4"
# A few small Synthea patients (short histories keep loading fast).
SYNTHEA_FILES = (
    "Clemente_Kreiger_1484a42d-0eaf-4654-9cbf-6b050a5cd73b.json",
    "Ned_Hintz_e4b9259d-0f54-48d1-a35d-b526729a4dfe.json",
)
RED_FLAG_TEXT = "both legs weak and cannot pass urine since yesterday"
#: The leg-weakness service's prefetch keys besides patient and encounter (service.yaml).
OPTIONAL_KEYS = ("conditions", "observations", "medications", "serviceRequests", "diagnosticReports",
                 "imagingStudies", "procedures", "documents")


SEKMET_MISSING = (f"SEKMET is not installed in {SEKMET_VENV}: run .ci/setup-fhirserver.sh "
                  "(SEKMET_VENV picks another venv)")


def sekmet_binary() -> Path | None:
    """The SEKMET executable that .ci/setup-fhirserver.sh installed, or None."""
    binary = SEKMET_VENV / "bin" / "sekmet"
    return binary if binary.exists() else None


def _as_put_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """Synthea POSTs with urn:uuid references; PUT with the same ids keeps references resolvable."""
    text = json.dumps(bundle)
    for entry in bundle["entry"]:
        full = entry.get("fullUrl", "")
        res = entry["resource"]
        if full.startswith("urn:uuid:"):
            text = text.replace(f'"{full}"', json.dumps(f"{res['resourceType']}/{res['id']}"))
    out = json.loads(text)
    for entry in out["entry"]:
        res = entry["resource"]
        entry.pop("fullUrl", None)
        entry["request"] = {"method": "PUT", "url": f"{res['resourceType']}/{res['id']}"}
    return out


def fever_observation(patient_id: str) -> dict[str, Any]:
    """Body temperature 38.9 Cel (LOINC 8310-5, verified in clinical-reference.md) taken today."""
    return {"resourceType": "Observation", "id": f"{patient_id}-temp", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5", "display": "Body temperature"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "valueQuantity": {"value": 38.9, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"}}


#: A triage note whose red flag (cauda equina: retention, saddle numbness) is nowhere else in the record.
NOTE_TEXT = ("TRIAGE NOTE\nHPI: Low back pain for a week. Since last night both legs feel weak and she has not "
             "passed urine since 06:00. Numb 'down below' when wiping.\nPMH: asthma.\n")


def note_document(patient_id: str, encounter_id: str, text: str | None, url: str | None = None,
                  content_type: str = "text/plain", doc_id: str | None = None) -> dict[str, Any]:
    """A current DocumentReference of this encounter: the note inline (``text``) or at ``url``."""
    attachment: dict[str, Any] = {"contentType": content_type, "title": "ED triage note"}
    if text is not None:
        attachment["data"] = base64.b64encode(text.encode()).decode()
    if url is not None:
        attachment["url"] = url
    return {"resourceType": "DocumentReference", "id": doc_id or f"{patient_id}-note", "status": "current",
            "subject": {"reference": f"Patient/{patient_id}"},
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "content": [{"attachment": attachment}],
            "context": {"encounter": [{"reference": f"Encounter/{encounter_id}"}]}}


def note_binary(binary_id: str, text: str) -> dict[str, Any]:
    return {"resourceType": "Binary", "id": binary_id, "contentType": "text/plain",
            "data": base64.b64encode(text.encode()).decode()}


def vignette_bundle(patient_id: str, encounter_id: str, reason: str,
                    extra: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """A small leg-weakness patient: Patient, an in-progress Encounter whose reason is free text."""
    patient = {"resourceType": "Patient", "id": patient_id, "gender": "female", "birthDate": "1968-03-14",
               "name": [{"family": "Vignette", "given": ["Ada"]}]}
    encounter = {"resourceType": "Encounter", "id": encounter_id, "status": "in-progress",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
                 "subject": {"reference": f"Patient/{patient_id}"},
                 "period": {"start": "2026-11-24T08:00:00Z"},
                 "reasonCode": [{"text": reason}]}
    condition = {"resourceType": "Condition", "id": f"{patient_id}-c1",
                 "clinicalStatus": {"coding": [{
                     "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                 "code": {"text": "low back pain"}, "subject": {"reference": f"Patient/{patient_id}"},
                 "encounter": {"reference": f"Encounter/{encounter_id}"}}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in (patient, encounter, condition, *extra)]}


@dataclass
class Sekmet:
    base: str
    token: str
    patients: dict[str, str] = field(default_factory=dict)  # name -> patient id
    encounters: dict[str, str] = field(default_factory=dict)  # name -> an encounter id

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/fhir+json"}

    def post_transaction(self, bundle: dict[str, Any]) -> None:
        r = httpx.post(self.base, json=bundle, headers=self.headers() | {"Content-Type": "application/fhir+json"},
                       timeout=60)
        assert r.status_code == 200, r.text[:500]


@contextmanager
def running_sekmet(work: Path) -> Iterator[Sekmet]:
    """Start SEKMET in ``work`` (bearer token required), load the test patients, stop it after."""
    binary = sekmet_binary()
    if binary is None:
        raise RuntimeError(SEKMET_MISSING)
    (work / "settings.yaml").write_text(
        f"server_auth: {{types: [bearer], tokens: [{SEKMET_TOKEN}]}}\nsimulator: {{enabled: false}}\n"
        "log_inbound: false\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    log = open(work / "sekmet.log", "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "VIRTUAL_ENV"))}
    proc = subprocess.Popen([str(binary), "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=work,
                            env=env | {"SEKMET_BASE_URL": base}, stdout=log, stderr=log)
    server = Sekmet(base=base, token=SEKMET_TOKEN)
    try:
        _wait_ready(server, proc)
        for name in SYNTHEA_FILES:
            bundle = json.loads((SYNTHEA / name).read_text())
            server.post_transaction(_as_put_transaction(bundle))
            res = [e["resource"] for e in bundle["entry"]]
            pid = next(r["id"] for r in res if r["resourceType"] == "Patient")
            server.patients[name] = pid
            server.encounters[name] = next(r["id"] for r in res if r["resourceType"] == "Encounter")
        for name, reason in (("red-flag", RED_FLAG_TEXT), ("plain", "right leg feels weak after a long walk")):
            pid, eid = f"vignette-{name}", f"vignette-{name}-enc"
            server.post_transaction(vignette_bundle(pid, eid, reason))
            server.patients[name], server.encounters[name] = pid, eid
        # The red flag here needs the fetched temperature: it is not in the encounter.
        pid, eid = "vignette-fever", "vignette-fever-enc"
        server.post_transaction(vignette_bundle(pid, eid, "back pain and both legs getting weak",
                                                (fever_observation(pid),)))
        server.patients["fever"], server.encounters["fever"] = pid, eid
        # The red flag here is only in clinical notes: one inline, one in a Binary the note points to.
        for name, docs in (("note", (note_document("vignette-note", "vignette-note-enc", NOTE_TEXT),)),
                           ("note-url", (note_document("vignette-note-url", "vignette-note-url-enc", None,
                                                       url="Binary/vignette-note-url-text"),
                                         note_binary("vignette-note-url-text", NOTE_TEXT)))):
            pid, eid = f"vignette-{name}", f"vignette-{name}-enc"
            server.post_transaction(vignette_bundle(pid, eid, "review", docs))
            server.patients[name], server.encounters[name] = pid, eid
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture(scope="session")
def sekmet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sekmet]:
    """A real SEKMET FHIR server on loopback that requires a bearer token, loaded with patients."""
    if sekmet_binary() is None:
        pytest.skip(SEKMET_MISSING)
    with running_sekmet(tmp_path_factory.mktemp("sekmet")) as server:
        yield server


def _wait_ready(server: Sekmet, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"sekmet exited with {proc.returncode}")
        try:
            if httpx.get(server.base + "/metadata", headers=server.headers(), timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("sekmet did not become ready")


@pytest.fixture(scope="session")
def fetching_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The service, allowed to fetch from plain-http loopback; a roomy budget so SEKMET is never cut short."""
    tmp = tmp_path_factory.mktemp("fetching")
    server = LiveServer({"CDS_REQUIRE_AUTH": "false", "CDS_ALLOW_HTTP_FHIR_SERVER": "true",
                         "CDS_TIME_BUDGET_MS": "8000", "CDS_DATA_DIR": str(tmp / "data")},
                        log_path=tmp / "server.log")
    yield server
    server.stop()


FAULT_BUDGET_MS = 1500  # the default budget


@pytest.fixture(scope="session")
def tight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The service with the default 1.5 s budget and a 3-page cap, for the faulty FHIR server."""
    tmp = tmp_path_factory.mktemp("tight")
    server = LiveServer({"CDS_REQUIRE_AUTH": "false", "CDS_ALLOW_HTTP_FHIR_SERVER": "true",
                         "CDS_TIME_BUDGET_MS": str(FAULT_BUDGET_MS), "CDS_FETCH_MAX_PAGES": "3",
                         "CDS_DATA_DIR": str(tmp / "data")},
                        log_path=tmp / "server.log")
    _warm_up(server)
    yield server
    server.stop()


def _warm_up(server: LiveServer) -> None:
    """One full call first, so lazy loading in the worker is not charged to a test's budget."""
    resources = [e["resource"] for e in vignette_bundle("warm", "warm-enc", RED_FLAG_TEXT)["entry"]]
    body = {"hook": "encounter-start", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/example", "patientId": "warm", "encounterId": "warm-enc"},
            "prefetch": {"patient": resources[0], "encounter": resources[1]}}
    httpx.post(f"{server.url}/cds-services/leg-weakness", json=body, timeout=60)


class FaultServer:
    """A real HTTP FHIR server on loopback that misbehaves on purpose.

    The first path segment picks the behaviour: ``/<mode>/fhir/...``. It records each
    request's path and Authorization header so tests can check where the token went.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                outer.requests.append((self.path, self.headers.get("Authorization")))
                mode = self.path.strip("/").split("/", 1)[0]
                getattr(outer, "_" + mode.replace("-", "_"))(self)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that give up on a hanging answer are the point of this server

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def base(self, mode: str) -> str:
        return f"{self.url}/{mode}/fhir"

    @staticmethod
    def send(h: BaseHTTPRequestHandler, status: int, body: Any, ctype: str = "application/fhir+json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _hang(self, h: BaseHTTPRequestHandler) -> None:
        self.release.wait(30)
        self.send(h, 200, {"resourceType": "Bundle", "type": "searchset"})

    def _status500(self, h: BaseHTTPRequestHandler) -> None:
        self.send(h, 500, {"resourceType": "OperationOutcome",
                           "issue": [{"severity": "error", "code": "exception"}]})

    def _status401(self, h: BaseHTTPRequestHandler) -> None:
        self.send(h, 401, {"resourceType": "OperationOutcome",
                           "issue": [{"severity": "error", "code": "login"}]})

    def _html(self, h: BaseHTTPRequestHandler) -> None:
        self.send(h, 200, b"<html><body>Please log in</body></html>", "text/html")

    def _close(self, h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        h.connection.close()

    def _paging(self, h: BaseHTTPRequestHandler) -> None:
        """Every searchset page links to a next one, forever; reads answer normally."""
        path = h.path.split("?", 1)[0]
        m = re.search(r"/fhir/(Patient|Encounter)/([^/?]+)$", path)
        if m:
            body: dict[str, Any] = {"resourceType": m.group(1), "id": m.group(2)}
            if m.group(1) == "Encounter":
                body |= {"status": "in-progress", "class": {"code": "EMER"}}
            self.send(h, 200, body)
            return
        n = int((re.search(r"page=(\d+)", h.path) or [None, "0"])[1])
        sep = "&" if "?" in h.path else "?"
        nxt = re.sub(r"[?&]page=\d+", "", h.path)
        self.send(h, 200, {"resourceType": "Bundle", "type": "searchset",
                           "link": [{"relation": "next", "url": f"{self.url}{nxt}{sep}page={n + 1}"}]})

    def _trickle(self, h: BaseHTTPRequestHandler) -> None:
        """Headers at once, then one byte every 0.2 s: no single read ever times out."""
        h.send_response(200)
        h.send_header("Content-Type", "application/fhir+json")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(150):
            if self.release.wait(0.2):
                return
            h.wfile.write(b" ")
            h.wfile.flush()

    def _wrongid(self, h: BaseHTTPRequestHandler) -> None:
        """Reads answer someone else's resource."""
        m = re.search(r"/fhir/(Patient|Encounter)/", h.path)
        if m:
            self.send(h, 200, {"resourceType": m.group(1), "id": "someone-else"})
        else:
            self.send(h, 200, {"resourceType": "Bundle", "type": "searchset"})

    def _elsewhere(self, h: BaseHTTPRequestHandler) -> None:
        """A searchset whose next link points at another origin (which must not get the token)."""
        self._next_link(h, "http://localhost:9/fhir/Condition?page=2")

    def _badnext(self, h: BaseHTTPRequestHandler) -> None:
        """A searchset whose next link is not a URL at all (an unclosed IPv6 literal)."""
        self._next_link(h, "https://[::1/fhir/Condition?page=2")

    def _next_link(self, h: BaseHTTPRequestHandler, url: str) -> None:
        """Reads answer normally; every search answers one page whose next link is ``url``."""
        if "/fhir/Patient/" in h.path or "/fhir/Encounter/" in h.path:
            self._paging(h)
            return
        self.send(h, 200, {"resourceType": "Bundle", "type": "searchset", "link": [{"relation": "next", "url": url}]})

    def paths_for(self, mode: str) -> list[tuple[str, str | None]]:
        return [r for r in self.requests if r[0].startswith(f"/{mode}/")]

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer()
    yield server
    server.stop()
