"""Latency of a hook call with no prefetch (everything fetched from SEKMET) vs full prefetch.

Run:  .venv/bin/python bench/bench_fetch.py [--calls 40]
Needs SEKMET (.ci/setup-fhirserver.sh; installed on first run if missing). Starts SEKMET
and a real ``cds-service serve`` (1 worker) on loopback, calls ``leg-weakness`` for each
loaded patient, and prints median and p95 wall-clock latency as seen by the client.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import LiveServer  # noqa: E402
from tests.fetch.conftest import running_sekmet  # noqa: E402
from tests.fetch.hookcalls import call, full_prefetch, hook_request, templates  # noqa: E402


def _measure(url: str, bodies: list[dict], calls: int) -> list[float]:
    times = []
    for i in range(calls):
        body = dict(bodies[i % len(bodies)])
        start = time.perf_counter()
        r = call(url, "leg-weakness", body)
        times.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200, r.text[:300]
    return times


def _summary(label: str, times: list[float]) -> str:
    p95 = statistics.quantiles(times, n=20)[-1]
    return f"{label:<22} n={len(times):<4} median={statistics.median(times):7.1f} ms  p95={p95:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_sekmet(Path(tmp)) as sekmet:
        server = LiveServer({"CDS_REQUIRE_AUTH": "false", "CDS_ALLOW_HTTP_FHIR_SERVER": "true",
                             "CDS_TIME_BUDGET_MS": "10000", "CDS_DATA_DIR": str(Path(tmp) / "data")})
        try:
            tmpl = templates(server.url, "leg-weakness")
            fetch_bodies, full_bodies = [], []
            for name, pid in sekmet.patients.items():
                eid = sekmet.encounters[name]
                ctx = {"patientId": pid, "encounterId": eid}
                fetch_bodies.append(hook_request("leg-weakness", pid, eid, sekmet.base, sekmet.token))
                full_bodies.append(hook_request("leg-weakness", pid, eid, sekmet.base, sekmet.token,
                                                full_prefetch(sekmet.base, sekmet.token, tmpl, ctx)))
            _measure(server.url, fetch_bodies + full_bodies, 8)  # warm up
            print(_summary("full prefetch", _measure(server.url, full_bodies, args.calls)))
            print(_summary("no prefetch (fetch)", _measure(server.url, fetch_bodies, args.calls)))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
