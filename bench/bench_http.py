"""HTTP benchmark: encounter-start calls built from Synthea patients, against the real server.

Each request carries prefetch as a CDS client would fill the service's own discovery
templates: the Patient, the latest Encounter, and one searchset Bundle per search
template, filtered the way the query would filter (type, codes, status, ``_sort``,
``_count``). The server is ``cds-service serve`` (gunicorn) on loopback with
authentication off; the run is bounded (``--requests`` per concurrency level).

    python bench/bench_http.py [--requests 200] [--levels 1,4,16] [--workers 2]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED_DATA_DIR", ROOT.parent / "shared"))
if not SHARED.is_dir():
    SHARED = Path("/work/shared")
SYNTHEA = SHARED / "data" / "fhir" / "synthea" / "generated-sample-data-r4"
SERVICE = "leg-weakness"

#: FHIR search parameter -> the element(s) it sorts on, for the _sort values our templates use.
SORT_FIELDS = {
    "date": ("effectiveDateTime", "issued", "performedDateTime", "performedPeriod.start", "recordedDate"),
    "authored": ("authoredOn",),
    "started": ("started",),
}


def _get(resource: Mapping[str, Any], dotted: str) -> Any:
    value: Any = resource
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _sort_key(resource: Mapping[str, Any], parameter: str) -> str:
    for field in SORT_FIELDS.get(parameter, ()):
        value = _get(resource, field)
        if isinstance(value, str):
            return value
    return ""


def _codes(resource: Mapping[str, Any]) -> set[tuple[str, str]]:
    codings = (_get(resource, "code") or {}).get("coding") or []
    return {(c.get("system", ""), c.get("code", "")) for c in codings if isinstance(c, dict)}


def search(resources: Iterable[dict[str, Any]], query: str) -> dict[str, Any]:
    """A searchset Bundle: ``query`` (``Type?param=value&...``) evaluated over one patient's resources."""
    rtype, _, params = query.partition("?")
    hits = [r for r in resources if r.get("resourceType") == rtype]
    count: int | None = None
    for name, value in parse_qsl(params, keep_blank_values=True):
        if name == "code":
            wanted = {tuple(v.split("|", 1)) if "|" in v else ("", v) for v in value.split(",") if v}
            if wanted:  # an empty list is a malformed query; a server would ignore it
                hits = [r for r in hits if _codes(r) & wanted or {("", c) for _, c in _codes(r)} & wanted]
        elif name == "status":
            hits = [r for r in hits if r.get("status") in value.split(",")]
        elif name == "_sort":
            descending = value.startswith("-")
            hits.sort(key=lambda r: _sort_key(r, value.lstrip("-")), reverse=descending)
        elif name == "_count":
            count = int(value)
    if count is not None:
        hits = hits[:count]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(hits),
            "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r, "search": {"mode": "match"}}
                      for r in hits]}


def build_request(bundle: Mapping[str, Any], templates: Mapping[str, str]) -> dict[str, Any]:
    """An encounter-start call for the bundle's patient and latest encounter."""
    resources = [e["resource"] for e in bundle.get("entry", []) if isinstance(e.get("resource"), dict)]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    encounters = [r for r in resources if r["resourceType"] == "Encounter"]
    encounter = max(encounters, key=lambda e: _get(e, "period.start") or "")
    prefetch: dict[str, Any] = {}
    for key, template in templates.items():
        query = template.replace("{{context.patientId}}", patient["id"])
        query = query.replace("{{context.encounterId}}", encounter["id"])
        if query == f"Patient/{patient['id']}":
            prefetch[key] = patient
        elif query == f"Encounter/{encounter['id']}":
            prefetch[key] = encounter
        else:
            prefetch[key] = search(resources, query)
    return {"hook": "encounter-start", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/bench", "patientId": patient["id"],
                        "encounterId": encounter["id"]},
            "prefetch": prefetch}


class Server:
    """``cds-service serve`` on a free loopback port, stopped by ``close``."""

    def __init__(self, workers: int, threads: int, data_dir: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
        env |= {"CDS_REQUIRE_AUTH": "false", "CDS_DATA_DIR": data_dir, "CDS_LOG_LEVEL": "WARNING"}
        self.log = open(Path(data_dir) / "server.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(workers), "--threads", str(threads)], env=env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("cds-service serve exited; see server.log")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_level(url: str, bodies: list[bytes], concurrency: int, total: int) -> dict[str, Any]:
    """Send ``total`` calls with ``concurrency`` clients; latency per call and overall throughput."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    clients = [httpx.Client(timeout=30) for _ in range(concurrency)]

    def one(i: int) -> None:
        client = clients[i % concurrency]
        started = time.perf_counter()
        response = client.post(url, content=bodies[i % len(bodies)],
                               headers={"Content-Type": "application/json"})
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(total)))
    elapsed = time.perf_counter() - began
    for client in clients:
        client.close()
    return {"concurrency": concurrency, "requests": total, "p50": statistics.median(latencies),
            "p99": percentile(latencies, 0.99), "rps": total / elapsed, "statuses": statuses}


def parse_times(bodies: list[bytes], rounds: int = 5) -> tuple[float, float]:
    """(p50, p99) milliseconds to merely ``json.loads`` one request body; per body, the best of
    ``rounds`` tries (so a stray GC pause or a busy core does not count as parsing)."""
    times = []
    for body in bodies:
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            json.loads(body)
            best = min(best, (time.perf_counter() - started) * 1000)
        times.append(best)
    return statistics.median(times), percentile(times, 0.99)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="calls per concurrency level")
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--patients", type=int, default=0, help="use only the first N bundles (0 = all)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        server = Server(args.workers, args.threads, tmp)
        try:
            discovery = httpx.get(server.url + "/cds-services", timeout=10).json()
            templates = next(s["prefetch"] for s in discovery["services"] if s["id"] == SERVICE)
            files = sorted(SYNTHEA.glob("*.json"))[: args.patients or None]
            bodies = [json.dumps(build_request(json.loads(f.read_text()), templates)).encode() for f in files]
            url = f"{server.url}/cds-services/{SERVICE}"
            run_level(url, bodies, 2, min(20, args.requests))  # warm-up (imports, caches)
            results = [run_level(url, bodies, int(c), args.requests) for c in args.levels.split(",")]
        finally:
            server.close()
    sizes = sorted(len(b) for b in bodies)
    p50_parse, p99_parse = parse_times(bodies)
    print(f"{len(bodies)} Synthea patients; request bodies {sizes[0] // 1024}-{sizes[-1] // 1024} KiB "
          f"(median {statistics.median(sizes) / 1024:.0f} KiB); server: {args.workers} workers x "
          f"{args.threads} threads, auth off, loopback\n")
    print("| concurrency | requests | p50 ms | p99 ms | requests/s | statuses |")
    print("|---:|---:|---:|---:|---:|---|")
    for r in results:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
        print(f"| {r['concurrency']} | {r['requests']} | {r['p50']:.1f} | {r['p99']:.1f} | {r['rps']:.1f} | {statuses} |")
    print(f"\njson.loads of the same bodies (in this process, no HTTP): p50 {p50_parse:.2f} ms, "
          f"p99 {p99_parse:.2f} ms")


if __name__ == "__main__":
    main()
