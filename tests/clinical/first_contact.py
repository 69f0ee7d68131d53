"""Score corpus batches the way docs/corpus.md reports them (first contact and later).

    .venv/bin/python tests/clinical/first_contact.py [BATCH ...] [--misses]

BATCH is a corpus file stem (``i15-b1-templated-experiencer-vocabulary``); default: every
spec batch (tests/clinical/specs/*.yaml). Per batch it prints the vignettes passed, the
red flags found / expected (summed over vignettes), the unwarranted critical red-flag
topics (a red flag with indicator ``critical`` that fired although the vignette does not
expect it) and, for full notes, the same split by delivery (``-docref`` DocumentReference
vs ``-reason`` encounter reason text). ``--misses`` lists every miss with its classes;
``--gaps`` prints a known_gaps.yaml entry (id: "class ...: summary") for each miss.
Uses only the public evaluation API (the same run as ``cds-service corpus``).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cds_service.card_builder import CardOptions  # noqa: E402
from cds_service.services import leg_weakness  # noqa: E402
from cds_service.services.corpus import Outcome, Vocabulary, parse_vignette, run_vignette  # noqa: E402

CLASS_NAMES = {1: "templated", 2: "experiencer", 3: "time", 4: "negation scope", 5: "modifier attachment",
               6: "vocabulary", 7: "evolution", 8: "clinical weighting", 9: "whole notes", 10: "differential"}
CASES = ROOT / "cds_service" / "services" / "leg_weakness" / "corpus"
SPECS = Path(__file__).resolve().parent / "specs"


@dataclass(frozen=True)
class Tally:
    """Counts for one group of outcomes."""

    n: int
    passed: int
    found: int
    expected: int
    unwarranted_critical: int
    unwarranted_any: int

    def row(self, label: str) -> str:
        rate = f"{self.passed / self.n:.0%}" if self.n else "-"
        return (f"| {label} | {self.n} | {self.passed} ({rate}) | {self.found}/{self.expected} | "
                f"{self.unwarranted_critical} | {self.unwarranted_any} |")


def tally(outcomes: Sequence[Outcome]) -> Tally:
    found = expected = critical = anything = 0
    for outcome in outcomes:
        fired = {flag.id: flag for flag in outcome.findings.red_flags}
        wanted = outcome.vignette.expect.red_flags
        expected += len(wanted)
        found += len(wanted & set(fired))
        extra = [flag for fid, flag in fired.items() if fid not in wanted]
        anything += len(extra)
        critical += sum(1 for flag in extra if flag.indicator == "critical")
    return Tally(n=len(outcomes), passed=sum(o.passed for o in outcomes), found=found, expected=expected,
                 unwarranted_critical=critical, unwarranted_any=anything)


def summary(outcome: Outcome) -> str:
    """The misses of one vignette in a few words (for a known-gap reason)."""
    v, f = outcome.vignette, outcome.findings
    fired = {flag.id for flag in f.red_flags}
    parts = []
    if v.expect.anchor is not None and (f.anchor is not None) != v.expect.anchor:
        parts.append("leg complaint missed" if v.expect.anchor else "leg complaint invented")
    if v.expect.red_flags - fired:
        parts.append("misses " + ", ".join(sorted(v.expect.red_flags - fired)))
    if v.forbid.red_flags & fired:
        parts.append("fires " + ", ".join(sorted(v.forbid.red_flags & fired)))
    for name in ("laterality", "onset", "course"):
        want = getattr(v.expect, name)
        if want is not None and f.anchor is not None and getattr(f.anchor, name) != want:
            parts.append(f"{name} {getattr(f.anchor, name)} not {want}")
    have = {entry.id for entry in f.differential}
    if v.expect.differential - have:
        parts.append("differential lacks " + ", ".join(sorted(v.expect.differential - have)))
    if v.forbid.differential & have:
        parts.append("differential pads " + ", ".join(sorted(v.forbid.differential & have)))
    return "; ".join(parts) or "; ".join(outcome.failures)


def run_batch(stem: str) -> tuple[list[Outcome], dict[str, list[int]]]:
    raw = json.loads((CASES / f"{stem}.json").read_text(encoding="utf-8"))
    service = leg_weakness.create(CardOptions())
    vocabulary = Vocabulary.of(service)
    outcomes = [run_vignette(parse_vignette(v, vocabulary, f"{stem}.json"), service) for v in raw]
    return outcomes, {v["id"]: v.get("classes", []) for v in raw}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("batches", nargs="*")
    parser.add_argument("--misses", action="store_true")
    parser.add_argument("--gaps", action="store_true")
    parser.add_argument("--classes", action="store_true", help="also count vignettes and passes per class")
    args = parser.parse_args(argv)
    stems = args.batches or sorted(p.stem for p in SPECS.glob("*.yaml"))
    header = ("| batch | vignettes | passed | red flags found/expected | unwarranted critical | "
              "unwarranted (any) |\n|---|---|---|---|---|---|")
    print(header)
    everything: list[Outcome] = []
    all_classes: dict[str, list[int]] = {}
    misses: list[str] = []
    gaps: list[str] = []
    for stem in stems:
        outcomes, classes = run_batch(stem)
        all_classes |= classes
        everything += outcomes
        print(tally(outcomes).row(stem))
        notes = [o for o in outcomes if o.vignette.kind == "note"]
        for suffix, label in (("-docref", "DocumentReference"), ("-reason", "reason text")):
            group = [o for o in notes if o.vignette.id.endswith(suffix)]
            if group:
                print(tally(group).row(f"{stem} notes as {label}"))
        misses += [f"- {o.vignette.id} (class {','.join(map(str, classes[o.vignette.id])) or '-'}): "
                   + "; ".join(o.failures) for o in outcomes if not o.passed]
        for o in outcomes:
            if not o.passed:
                names = ", ".join(f"{c} {CLASS_NAMES[c]}" for c in classes[o.vignette.id])
                if o.vignette.id.endswith("-docref") and not o.findings.has_anything:
                    names = "9 whole notes (DocumentReference not read)"
                gaps.append(f"{o.vignette.id}: {json.dumps(f'class {names}: {summary(o)}')}")
    if len(stems) > 1:
        print(tally(everything).row("all"))
        short = [o for o in everything if o.vignette.kind != "note"]
        notes = [o for o in everything if o.vignette.kind == "note"]
        if short and notes:
            print(tally(short).row("all short vignettes"))
            for suffix, label in (("-docref", "DocumentReference"), ("-reason", "reason text")):
                print(tally([o for o in notes if o.vignette.id.endswith(suffix)]).row(f"all notes as {label}"))
    if args.classes:
        print("\n| class | vignettes | passed | notes (of them) |\n|---|---|---|---|")
        for number, name in CLASS_NAMES.items():
            group = [o for o in everything if number in all_classes[o.vignette.id]]
            notes = sum(1 for o in group if o.vignette.kind == "note")
            print(f"| {number} {name} | {len(group)} | {sum(o.passed for o in group)} | {notes} |")
    if args.misses:
        print("\n" + "\n".join(misses))
    if args.gaps:
        print("\n" + "\n".join(gaps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
