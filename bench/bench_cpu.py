"""CPU time of one hook call, in-process and by part: a figure a shared, busy machine disturbs less.

``bench_http.py`` measures wall time through gunicorn, which on a 2-core machine shared with
other work mostly measures the neighbours. This runs the same bodies (``bench/cases.py``)
through the real app in this process (Flask's test client, default settings, auth off, the
audit and metrics observers on) and reports the CPU time of this thread
(``time.thread_time``) per call and per part: reading and parsing the body, the pipeline
(``run_hook_call``: schema check, record, detection, cards, response check), logging and
observers, and serialising the answer; with ``GET /healthz`` and ``json.loads`` of the
same bodies for scale. Time spent waiting (for the CPU, for the GIL) is not counted.

    python bench/bench_cpu.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import functools
import gc
import io
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_http import choose_cases  # noqa: E402
from cds_service import Settings, create_app  # noqa: E402
from cds_service.http import routes  # noqa: E402

PARTS = {"read_json": "read and parse the body", "run_hook_call": "the pipeline",
         "_notify": "log line and observers", "jsonify": "serialise the answer"}


def _timed(store: dict[str, list[float]], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            store.setdefault(name, []).append((time.thread_time() - started) * 1000)
    return wrapper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(require_auth=False, data_dir=tmp))
        for handler in logging.getLogger("cds_service").handlers:  # INFO lines are formatted, not shown
            handler.stream = io.StringIO()  # type: ignore[attr-defined]
        state = app.extensions["cds"]
        templates = {s["id"]: s.get("prefetch") or {} for s in state.registry.discovery()["services"]}
        bodies = [json.dumps(c.body).encode() for c in choose_cases(templates)]
        client = app.test_client()
        for body in bodies:  # warm caches
            client.post("/cds-services/leg-weakness", data=body, content_type="application/json")
        gc.collect()
        gc.freeze()  # as the server does once the app is built
        parts: dict[str, list[float]] = {}
        for name in PARTS:
            setattr(routes, name, _timed(parts, name, getattr(routes, name)))
        calls, health, loads = [], [], []
        for _ in range(args.rounds):
            for body in bodies:
                started = time.thread_time()
                client.post("/cds-services/leg-weakness", data=body, content_type="application/json")
                calls.append((time.thread_time() - started) * 1000)
                started = time.thread_time()
                client.get("/healthz")
                health.append((time.thread_time() - started) * 1000)
                started = time.thread_time()
                json.loads(body)
                loads.append((time.thread_time() - started) * 1000)
        state.extras["storage"].audit.flush()
    print(f"{len(bodies)} bodies x {args.rounds} rounds, in-process, CPU time of the request thread (ms)\n")
    print("| part | p50 | mean |\n|---|---:|---:|")
    print(f"| hook call (whole request) | {statistics.median(calls):.3f} | {statistics.mean(calls):.3f} |")
    for name, label in PARTS.items():
        values = parts.get(name, [0.0])
        print(f"| - {label} (`{name}`) | {statistics.median(values):.3f} | {statistics.mean(values):.3f} |")
    print(f"| GET /healthz | {statistics.median(health):.3f} | {statistics.mean(health):.3f} |")
    print(f"| json.loads of the body | {statistics.median(loads):.3f} | {statistics.mean(loads):.3f} |")
    service = statistics.median(calls) - statistics.median(health)
    print(f"\nservice CPU per call (hook p50 - healthz p50): {service:.2f} ms; 3 x json.loads p50 + 2 = "
          f"{3 * statistics.median(loads) + 2:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
