"""Score the assertion component on sentences annotated in the NegEx/ConText test-set format.

The format is the public NegEx/ConText test set's (Chapman et al. 2001; Harkema et al. 2009):
tab-separated, one header line, then one row per annotated condition with the columns

    id, condition, sentence, negation[, temporality[, experiencer]]

negation is Affirmed / Negated (Possible counts as not negated), temporality Recent /
Historical / Not particular (hypothetical), experiencer Patient / Family member / Other.
The condition is found in its sentence case-insensitively with runs of whitespace
collapsed; the set writes the annotated mention in capitals, so a capitalised occurrence is
preferred when the condition occurs twice. A row whose condition is not in its sentence is
skipped and counted. A hospital can score the component on its own annotated notes with the
same file format (``cds-service assertions FILE``).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .assertion import Assertion, AssertionEngine

_NEGATION = {"affirmed": False, "negated": True, "possible": False}
_TEMPORALITY = {"recent", "historical", "not particular", "hypothetical"}
_EXPERIENCER = {"patient", "other", "family member", "family"}


class AnnotationFormatError(ValueError):
    """The annotated file cannot be read: the message names the line and what is wrong."""


@dataclass(frozen=True)
class AnnotatedSentence:
    """One annotated condition (labels lower-cased; None where the file has no column)."""

    id: str
    condition: str
    sentence: str
    negated: bool
    temporality: str | None = None
    experiencer: str | None = None


@dataclass(frozen=True)
class Confusion:
    """Counts for one binary attribute, and the scores derived from them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, gold: bool, predicted: bool) -> Confusion:
        return Confusion(self.tp + (gold and predicted), self.fp + (not gold and predicted),
                         self.fn + (gold and not predicted), self.tn + (not gold and not predicted))

    @property
    def accuracy(self) -> float:
        total = self.tp + self.fp + self.fn + self.tn
        return (self.tp + self.tn) / total if total else 0.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


#: attribute -> (gold label test or None when the file has no such column, prediction)
_ATTRIBUTES: dict[str, tuple[Callable[[AnnotatedSentence], bool | None], Callable[[Assertion], bool]]] = {
    "negation": (lambda row: row.negated, lambda a: a.negated),
    "historical": (lambda row: None if row.temporality is None else row.temporality == "historical",
                   lambda a: a.historical),
    "hypothetical": (lambda row: None if row.temporality is None
                     else row.temporality in ("not particular", "hypothetical"),
                     lambda a: a.hypothetical),
    "experiencer": (lambda row: None if row.experiencer is None else row.experiencer != "patient",
                    lambda a: a.experiencer != "patient"),
}


@dataclass(frozen=True)
class AssertionScores:
    """The benchmark result: rows read, rows skipped, and one Confusion per attribute
    (None for an attribute the file does not annotate)."""

    n: int
    skipped: int
    confusion: dict[str, Confusion | None]

    def to_json(self) -> dict[str, object]:
        """The shape ``cds-service assertions --format json`` prints (fixed by issue 15)."""
        out: dict[str, object] = {"n": self.n, "skipped": self.skipped}
        for name, counts in self.confusion.items():
            if name == "negation":
                out[name] = {**_scores(counts, accuracy=True), "confusion": _counts(counts)}
            else:
                out[name] = _scores(counts)
        return out


def read_annotations(path: Path) -> list[AnnotatedSentence]:
    """Parse an annotated file; ``AnnotationFormatError`` names the line at fault."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise AnnotationFormatError(f"{path}: cannot be read ({exc.strerror})") from None
    # One row per line (no CSV quoting: an unbalanced quote in a sentence must not swallow the
    # lines after it); a sentence wrapped in double quotes is unwrapped below.
    lines = [line.split("\t") for line in text.splitlines()]
    if not lines or not any(cell.strip() for cell in lines[0]):
        raise AnnotationFormatError(f"{path}: empty file (a header line is needed)")
    width = len(lines[0])
    if not 4 <= width <= 6:
        raise AnnotationFormatError(f"{path}: line 1: the header has {width} tab-separated columns; expected 4 to 6 "
                                    "(id, condition, sentence, negation[, temporality[, experiencer]])")
    rows = [_row(cells, width, number, path) for number, cells in enumerate(lines[1:], start=2)
            if any(cell.strip() for cell in cells)]
    if not rows:
        raise AnnotationFormatError(f"{path}: no annotated rows after the header")
    return rows


def find_condition(condition: str, sentence: str) -> tuple[int, int] | None:
    """The character span of ``condition`` in ``sentence`` (module docstring), or None."""
    words = condition.split()
    if not words:
        return None
    pattern = re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)
    matches = list(pattern.finditer(sentence))
    if not matches:
        return None
    capitalised = [m for m in matches if m.group(0).isupper() and m.group(0) != m.group(0).lower()]
    best = (capitalised or matches)[0]
    return best.start(), best.end()


def score_assertions(engine: AssertionEngine, rows: Sequence[AnnotatedSentence]) -> AssertionScores:
    """Run the assertion component on every row's condition span and count per attribute."""
    confusion: dict[str, Confusion | None] = dict.fromkeys(_ATTRIBUTES, None)
    skipped = 0
    for row in rows:
        span = find_condition(row.condition, row.sentence)
        if span is None:
            skipped += 1
            continue
        assertion = engine.assess(row.sentence, [span])[0]
        for name, (gold_of, predicted_of) in _ATTRIBUTES.items():
            gold = gold_of(row)
            if gold is not None:
                confusion[name] = (confusion[name] or Confusion()).add(gold, predicted_of(assertion))
    return AssertionScores(len(rows), skipped, confusion)


def render(scores: AssertionScores, fmt: str) -> str:
    """``table`` (for people) or ``json`` (the fixed shape of ``AssertionScores.to_json``)."""
    if fmt == "json":
        return json.dumps(scores.to_json(), indent=2)
    lines = [f"{scores.n} annotated conditions, {scores.skipped} skipped (condition not found in its sentence)", "",
             f"{'attribute':<13} {'TP':>5} {'FP':>5} {'FN':>5} {'TN':>6} {'accuracy':>9} {'precision':>10} "
             f"{'recall':>7} {'F1':>6}"]
    for name, c in scores.confusion.items():
        if c is None:
            lines.append(f"{name:<13} not annotated in this file")
            continue
        lines.append(f"{name:<13} {c.tp:>5} {c.fp:>5} {c.fn:>5} {c.tn:>6} {c.accuracy:>9.4f} {c.precision:>10.4f} "
                     f"{c.recall:>7.4f} {c.f1:>6.4f}")
    lines += ["", "historical = label Historical; hypothetical = label 'Not particular'; "
              "experiencer = label not Patient; negation = label Negated."]
    return "\n".join(lines)


def _row(cells: list[str], width: int, number: int, path: Path) -> AnnotatedSentence:
    where = f"{path}: line {number}"
    if len(cells) != width:
        raise AnnotationFormatError(f"{where}: {len(cells)} tab-separated columns, the header has {width}")
    ident, condition, sentence, negation = (c.strip() for c in cells[:4])
    if not condition or not sentence:
        raise AnnotationFormatError(f"{where}: the condition and the sentence must not be empty")
    negated = _NEGATION.get(negation.lower())
    if negated is None:
        raise AnnotationFormatError(f"{where}: negation is {negation!r}; expected Affirmed, Negated or Possible")
    temporality = _label(cells, 4, _TEMPORALITY, "temporality", "Recent, Historical or Not particular", where)
    experiencer = _label(cells, 5, _EXPERIENCER, "experiencer", "Patient, Family member or Other", where)
    return AnnotatedSentence(ident, _unquote(condition), _unquote(sentence), negated, temporality, experiencer)


def _label(cells: list[str], index: int, allowed: set[str], name: str, expected: str, where: str) -> str | None:
    if index >= len(cells):
        return None
    value = " ".join(cells[index].split()).lower()
    if value not in allowed:
        raise AnnotationFormatError(f"{where}: {name} is {cells[index].strip()!r}; expected {expected}")
    return value


def _scores(counts: Confusion | None, accuracy: bool = False) -> dict[str, float | None]:
    keys = (("accuracy",) if accuracy else ()) + ("precision", "recall", "f1")
    return {k: None if counts is None else round(getattr(counts, k), 4) for k in keys}


def _counts(counts: Confusion | None) -> dict[str, int]:
    return {} if counts is None else {"tp": counts.tp, "fp": counts.fp, "fn": counts.fn, "tn": counts.tn}


def _unquote(cell: str) -> str:
    """A cell wrapped in double quotes (as spreadsheets export a cell with a comma) unwrapped."""
    if len(cell) > 1 and cell[0] == cell[-1] == '"':
        return cell[1:-1].replace('""', '"')
    return cell
