"""Text analysis latency: a whole 3 KB note and a one-line reason, cold and warm; notes of 2.5-20k characters.

"Cold" is the first analysis of a text the cache has not seen (the pipeline itself is already
built, as it is after start-up); each cold run starts with a unique line so that the cache cannot
answer (at the start: the engine reads a text only to its first 20 000 characters, so a line
appended to a 20 000-character note would be cut off and the cache would answer). "Warm" is the same text again (the lru_cache by text). Usage:

    python bench/bench_text.py [--runs 50]

The note is tests/clinical/note-3kb.txt (a synthetic ED note with CC, HPI, PMH, PSH, meds,
allergies, FH, SH, templated ROS, exam, assessment, plan and return precautions).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from cds_service.clinical.knowledge import load_knowledge

NOTE = Path(__file__).resolve().parents[1] / "tests" / "clinical" / "note-3kb.txt"
REASON = "both legs weak since yesterday, no fever, cannot pass urine"


def timed(fn: object, *args: object) -> float:
    started = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


def report(name: str, samples: list[float]) -> None:
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    print(f"{name:<28} min {samples[0]:7.2f} ms   median {statistics.median(samples):7.2f} ms   "
          f"p95 {p95:7.2f} ms   max {samples[-1]:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    runs = parser.parse_args().runs
    started = time.perf_counter()
    knowledge = load_knowledge("leg_weakness")
    print(f"load_knowledge (pipeline built once): {(time.perf_counter() - started) * 1000:.0f} ms")
    analyze = knowledge.text.analyze
    note = NOTE.read_text(encoding="utf-8")
    print(f"note: {len(note.encode())} bytes, {len(analyze(note))} mentions")
    report("note, cold", [timed(analyze, f"Ref {i}.\n{note}") for i in range(runs)])
    report("note, warm (cached)", [timed(analyze, note) for _ in range(runs)])
    report("reason text, cold", [timed(analyze, f"{REASON} ({i})") for i in range(runs)])
    report("reason text, warm (cached)", [timed(analyze, REASON) for _ in range(runs)])
    # Long notes (CDS_NOTE_MAX_CHARS): the 3 KB note repeated, cut at each length, cold.
    for chars in (2_500, 5_000, 10_000, 20_000):
        text = (note * (chars // len(note) + 1))[:chars]
        samples = [timed(analyze, f"Ref {i}.\n{text}"[:chars]) for i in range(max(3, runs // 5))]
        report(f"{chars} chars, cold", samples)
        print(f"{'':28} = {statistics.median(samples) / chars * 1000:.1f} ms per 1 000 characters (median)")


if __name__ == "__main__":
    main()
