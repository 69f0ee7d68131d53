"""Split rsAnnotations-1-120-random.txt into a development half and a held-out half by report.

rsAnnotations-1-120-random.txt has no report numbers (its rows are shuffled); the same rows
in Annotations-1-120.txt carry them. A row is joined to its report by (condition, sentence),
compared case-insensitively with whitespace collapsed; a pair that occurs in several reports
takes the lowest report number, so identical sentences never fall in both halves.

Odd-numbered reports are the development half, even-numbered ones the held-out half. The
numbering cycles through report types (1 and 7 are discharge summaries, 3 and 9
emergency-department reports, 5 and 11 radiology; surgical pathology and echocardiography
reports are even), so the held-out half is also a different mix of report types: a harder
test than a random split, and smaller (758 rows, 63 negated, 28 historical, 2 hypothetical).
Run from this folder: ``python split.py``.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _key(condition: str, sentence: str) -> tuple[str, str]:
    def norm(text: str) -> str:
        return re.sub(r"\s+", " ", text.strip().strip('"').replace('""', '"')).lower()
    return norm(condition), norm(sentence)


def main() -> None:
    reports: dict[tuple[str, str], int] = {}
    with open(HERE / "Annotations-1-120.txt", encoding="utf-8", newline="") as handle:
        annotated = list(csv.reader(handle, delimiter="\t"))[1:]  # quoted cells may span lines
    for number, condition, sentence, *_ in annotated:
        key = _key(condition, sentence)
        reports[key] = min(reports.get(key, 10**6), int(number))
    raw = (HERE / "rsAnnotations-1-120-random.txt").read_bytes()
    lines = raw.split(b"\n")
    header, rows = lines[0], [line for line in lines[1:] if line.strip()]
    halves: dict[str, list[bytes]] = {"dev": [], "heldout": []}
    for row in rows:
        cells = row.decode("utf-8").split("\t")
        report = reports[_key(cells[1], cells[2])]
        halves["dev" if report % 2 else "heldout"].append(row)
    for name, part in halves.items():
        (HERE / f"rsAnnotations-{name}.txt").write_bytes(b"\n".join([header, *part]) + b"\n")
        print(f"rsAnnotations-{name}.txt: {len(part)} rows")


if __name__ == "__main__":
    main()
