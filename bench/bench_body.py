"""Benchmark: the strict body parser (``cds_service.http.body.parse_json``) against ``json.loads``.

Both run on the same bytes: every Synthea patient Bundle in ``--data`` (each a realistic
request body of 0.3-2.7 MB), interleaved, best of ``--repeat`` rounds; then the adversarial
5 MB bodies of ``tests/security/test_body.py`` through ``parse_json`` alone. In-process, no
HTTP. The garbage collector runs as in the server (on), so allocation costs count.

    python bench/bench_body.py --data DIR [--repeat 5]

DIR holds Synthea FHIR R4 patient Bundles (``*.json``); the repository's copy is used when
``--data`` is not given and it exists.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CANDIDATES = [ROOT / "tests" / "data" / "fhir" / "synthea", ROOT / "tests" / "data" / "synthea"]

from cds_service.errors import InvalidJSONError  # noqa: E402
from cds_service.http.body import parse_json  # noqa: E402


def _time(parse: Callable[[bytes], Any], body: bytes) -> float:
    started = time.perf_counter()
    try:
        parse(body)
    except InvalidJSONError:
        pass
    return time.perf_counter() - started


def _data_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    for candidate in CANDIDATES:
        if any(candidate.rglob("*.json")):
            return candidate
    raise SystemExit("no Synthea bodies found: pass --data DIR (a folder of Synthea FHIR R4 Bundles)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder of Synthea patient Bundles (*.json)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best of them is reported")
    args = parser.parse_args()
    files = sorted(_data_dir(args.data).rglob("*.json"))
    bodies = [f.read_bytes() for f in files]
    for body in bodies:  # same result, or the comparison is meaningless
        assert parse_json(body) == json.loads(body), "parse_json and json.loads disagree"
    best = {"json.loads": [float("inf")] * len(bodies), "parse_json": [float("inf")] * len(bodies)}
    for _ in range(args.repeat):
        for index, body in enumerate(bodies):
            for name, parse in (("json.loads", json.loads), ("parse_json", parse_json)):
                best[name][index] = min(best[name][index], _time(parse, body))
    total_mb = sum(map(len, bodies)) / 1e6
    print(f"{len(bodies)} Synthea bodies, {total_mb:.1f} MB, best of {args.repeat} rounds (interleaved)")
    for name, times in best.items():
        print(f"  {name:11s} total {sum(times) * 1000:8.1f} ms   median per body {statistics.median(times) * 1000:6.2f} ms"
              f"   {total_mb / sum(times):6.1f} MB/s")
    ratios = [ours / base for ours, base in zip(best["parse_json"], best["json.loads"], strict=True)]
    print(f"  parse_json / json.loads: total {sum(best['parse_json']) / sum(best['json.loads']):.2f}x, "
          f"median per body {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})")
    from tests.security.test_body import HOSTILE
    print("Adversarial bodies (parse_json alone, best of 3):")
    for name, body in HOSTILE:
        took = min(_time(parse_json, body) for _ in range(3))
        print(f"  {took * 1000:7.1f} ms  {len(body) / 1e6:.2f} MB  {name}")


if __name__ == "__main__":
    main()
