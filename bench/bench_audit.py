"""Hook-call latency with the audit trail off, on (queued, the default) and written synchronously.

Runs in process (Flask test client) so the numbers show the observer's cost, not the
network's. Usage:

    python bench/bench_audit.py [--calls 300] [--database-url URL]

Default database: a SQLite file in a temporary directory (WAL, synchronous=FULL).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from typing import Any

from cds_service import Settings, create_app
from cds_service.events import HookCallEvent
from cds_service.storage.audit import write_events


def vignette() -> dict[str, Any]:
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "in-progress",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                 "subject": {"reference": "Patient/p1"},
                 "reasonCode": [{"text": "both legs weak since yesterday and cannot pass urine"}]}
    return {"hook": "encounter-start", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/u1", "patientId": "p1", "encounterId": "e1"},
            "prefetch": {"patient": {"resourceType": "Patient", "id": "p1", "gender": "female",
                                     "birthDate": "1970-01-01"}, "encounter": encounter}}


def measure(client: Any, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        body = vignette()
        started = time.perf_counter()
        response = client.post("/cds-services/leg-weakness", json=body)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and response.json["cards"], response.json
    return times


def summary(name: str, times: list[float]) -> str:
    q = statistics.quantiles(times, n=100)
    return f"| {name} | {len(times)} | {statistics.median(times):.2f} | {q[89]:.2f} | {q[98]:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(require_auth=False, data_dir=tmp, database_url=args.database_url,
                                  log_level="ERROR"))
        state = app.extensions["cds"]
        storage = state.extras["storage"]
        client = app.test_client()
        measure(client, 30)  # warm up (models, caches)
        observers = list(state.observers)

        def synchronous(event: HookCallEvent) -> None:
            storage.database.write(lambda conn: write_events(conn, [event]))

        modes = {"off": [o for o in observers if o is not storage.audit],
                 "on, queued (default)": observers,
                 "on, synchronous write": [synchronous if o is storage.audit else o for o in observers]}
        results: dict[str, list[float]] = {name: [] for name in modes}
        rounds = max(1, args.calls // 50)
        for _ in range(rounds):  # interleaved, so load from other processes hits every mode alike
            for name, chosen in modes.items():
                state.observers[:] = chosen
                results[name] += measure(client, args.calls // rounds)
                storage.audit.flush()
        print(f"database: {storage.database.url.render_as_string(hide_password=True)}")
        print("| audit | calls | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|---|")
        for name, times in results.items():
            print(summary(name, times))
        storage.close()


if __name__ == "__main__":
    main()
