"""Templated answers: "Weakness: N", "Fever - no", "(+) back pain", "saddle anaesthesia (-)".

Checklist and review-of-systems lines answer a question about a condition rather than state
it; ConText, which looks for trigger words, reads "Weakness: N" as an affirmed weakness. The
answer belongs to the condition it follows after a separator (colon, dash, "="), or to the
condition a sign or check box stands next to; it is one "cell" of the line, bounded by
commas, semicolons and line breaks. ``templates.yaml`` holds the vocabulary.

When a line starts with a sign or box, every sign on it stands before its condition: in
"[x] back pain [x] retention [ ] fever" the "[ ]" is the fever's, not the retention's.

A review-of-systems line may also write the answer right after the condition, with no
separator ("Fever N. Bladder N / Bowel N"): a Y/N that ends its cell is that condition's answer.

An answer decides the assertion: "yes" affirms, "no" negates, and an unfilled template
("Y/N", "[ ]") asserts nothing (the condition is not particular, never present).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .provenance import check_provenance

Answer = Literal["yes", "no", "blank"]
_ANSWERS: tuple[Answer, ...] = ("yes", "no", "blank")
#: characters that end a cell (one question and its answer); a spaced dash opens the answer's own
#: elaboration ("Face drooping on one side? N - smile flat on both sides", "Sudden? N - over 4 days")
_CELL_END = r"(?=\s*(?:$|[,;:.\n\r|]|\s\s|\s/\s|\s[-–—]\s|(?-i:\s+[A-Z(\[])))"
#: a sign or box is its own delimiter: "saddle anaesthesia (-) urinary retention (-)" is two cells
_SIGN_END = r"(?=\s|$|[,;.|])"


@dataclass(frozen=True)
class TemplateRules:
    """Compiled answer patterns (see the module docstring)."""

    after_separator: re.Pattern[str]
    marker_after: re.Pattern[str]
    marker_before: re.Pattern[str]
    marker_first: re.Pattern[str]  # a line laid out box first: "[x] back pain [x] retention [ ] fever"
    spaced: re.Pattern[str]  # an answer right after the condition, no separator: "Bladder N / Bowel N"
    answers: Mapping[str, Answer]
    #: a question line answered after its question mark: every condition of the question, its
    #: examples and lists included ("Hx of cancer, IV drug use or on steroids? NO")
    after_question: re.Pattern[str] | None = None
    #: sections whose lines sign each condition with a bare "+" or "-" ("GU: - retention, + nocturia")
    sign_sections: frozenset[str] = frozenset()
    bare_sign: re.Pattern[str] | None = None
    #: a box character right before the condition, or a side word or two before it ("☑ smoker", "☑ L leg
    #: weakness"): the condition's own box, answer or not
    own_box: re.Pattern[str] | None = None

    def answer(self, text: str, start: int, end: int, cell_start: int, cell_end: int,
               section: str | None = None) -> Answer | None:
        """The templated answer for the condition at ``text[start:end]``, looking no further
        than ``[cell_start, cell_end)`` (its sentence), or None. ``section`` is the category of
        the note section the condition is in."""
        after = text[end:cell_end]
        before = text[cell_start:start]
        if section in self.sign_sections:
            signed = self._bare_sign(text, cell_start, start)
            if signed is not None:
                return signed
        found = (self.after_separator.match(after) or self.marker_after.match(after) or self.spaced.match(after)
                 or (self.after_question.match(after) if self.after_question is not None else None))
        prefix = self.marker_before.search(before)
        own = self.own_box.search(before) if self.own_box is not None else None
        if prefix is not None and (found is None or _starts_cell(before, prefix.start())
                                   or self.marker_first.match(text, cell_start) is not None
                                   or (own is not None and prefix.start() >= own.start())):
            return self.answers[prefix.group("answer").lower()]
        if found is not None and own is not None:
            return None  # "☑ leg weakness  ☐ numbness": the empty box after it is the numbness's
        if found is not None:
            return self.answers[found.group("answer").lower()]
        return None


    def _bare_sign(self, text: str, cell_start: int, start: int) -> Answer | None:
        """A bare "+" or "-" right before the condition, after a colon, comma, semicolon or full
        stop ("Constitutional: + fatigue. - fever, - chills"); one that opens its line is a bullet,
        and one right after a word is a label's dash ("Neuro - weakness both legs")."""
        found = self.bare_sign.search(text, cell_start, start) if self.bare_sign is not None else None
        if found is None:
            return None
        before = text[:found.start()].rstrip(" \t")
        return self.answers[found.group("answer")] if before[-1:] in (",", ".", ":", ";") else None


def parse_templates(raw: Mapping[str, Any], sources: Mapping[str, str]) -> TemplateRules:
    """``templates.yaml`` -> TemplateRules; ``ValueError`` names the bad key."""
    check_provenance(raw, sources, "templates.yaml")
    separators = _strings(raw.get("separators"), "separators")
    width = raw.get("max_question_chars")
    if not isinstance(width, int) or isinstance(width, bool) or not 0 < width <= 200:
        raise ValueError("templates.yaml: max_question_chars must be an integer from 1 to 200")
    answers = _vocabulary(raw.get("answers"), "answers")
    markers = _vocabulary(raw.get("markers"), "markers")
    spaced = _strings(raw.get("spaced"), "spaced")
    if any(word.lower() not in answers or answers[word.lower()] == "blank" for word in spaced):
        raise ValueError("templates.yaml: every spaced answer must be a yes or no answer")
    if not set(markers) <= set(answers) or any(markers[m] != answers[m] for m in markers):
        raise ValueError("templates.yaml: every marker must also be an answer of the same kind")
    part = rf"[^,;:=\n\r()\[\]]{{0,{width}}}?"
    inner = r"[^()\n\r]{0,80}?"
    # a question may hold one parenthesised list of examples, and the condition may be one of
    # them: "Bladder (urge, flow, retention, incontinence): -ve" answers each
    question = rf"(?:{inner}\))?{part}(?:\({inner}\){part})?"
    marks = _strings(raw["question_marks"], "question_marks") if raw.get("question_marks") else ()
    mark = "|".join(re.escape(m) for m in marks)
    sep = "|".join(re.escape(s) for s in sorted(separators, key=len, reverse=True))
    words = _alternation(answers)
    signs = _alternation(markers)
    # a box or tick character is its own cell's sign: the text between a sign and its condition
    # holds none ("☐ rest pain  ☑ smoker  ☐ foot weakness": the empty box is the weakness's)
    boxes = "".join(re.escape(b) for b in (_strings(raw["boxes"], "boxes") if raw.get("boxes") else ()))
    near = rf"[^,;:=\n\r()\[\]{boxes}]{{0,{width}}}"
    return TemplateRules(
        after_separator=re.compile(rf"{question}\s*(?:{sep})\s*(?P<answer>{words}){_CELL_END}", re.IGNORECASE),
        marker_after=re.compile(rf"{near}?\s*(?P<answer>{signs}){_SIGN_END}", re.IGNORECASE),
        marker_before=re.compile(rf"(?P<answer>{signs})\s*{near}$", re.IGNORECASE),
        # box first, after a bullet or a short label ("History: ☐ claudication  ☐ rest pain")
        marker_first=re.compile(rf"\s*(?:[A-Za-z][A-Za-z /&]{{0,30}}:\s*)?(?:[-*•]\s*)?(?:{signs})", re.IGNORECASE),
        spaced=re.compile(rf"[ \t]+(?P<answer>{_alternation(spaced)}){_CELL_END}", re.IGNORECASE),
        answers={**answers, **markers},
        own_box=re.compile(rf"[{boxes}][^{boxes},;:\n]{{0,12}}$") if boxes else None,
        after_question=(re.compile(rf"[^\n\r]{{0,200}}?(?:{mark})[ \t]*(?P<answer>{words}){_CELL_END}", re.IGNORECASE)
                        if marks else None),
        **_bare_signs(raw.get("bare_signs"), answers, width))


def _bare_signs(value: Any, answers: Mapping[str, Answer], width: int) -> dict[str, Any]:
    """``bare_signs: {sections: [...], signs: ["+", "-"]}`` -> the TemplateRules fields."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or set(value) != {"sections", "signs"}:
        raise ValueError("templates.yaml: bare_signs maps sections and signs to lists")
    signs = _strings(value["signs"], "bare_signs.signs")
    if any(sign not in answers or answers[sign] == "blank" for sign in signs):
        raise ValueError("templates.yaml: every bare sign must also be a yes or no answer")
    alternation = "|".join(re.escape(sign) for sign in signs)
    return {"sign_sections": frozenset(_strings(value["sections"], "bare_signs.sections")),
            "bare_sign": re.compile(rf"(?P<answer>{alternation})[ \t]+[^,;:.+\-\n\r()\[\]]{{0,{width}}}$")}


def _starts_cell(before: str, at: int) -> bool:
    """A sign at the start of its cell ("(+) back pain, (-) fever") belongs to what follows."""
    return before[:at].strip() == "" or before[:at].rstrip()[-1:] in (",", ";", "\n", "\r", ":", "-", "•", "*")


def _strings(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"templates.yaml: {key} must be a non-empty list of strings (quote YAML words)")
    return [str(v) for v in value]


def _vocabulary(value: Any, key: str) -> dict[str, Answer]:
    if not isinstance(value, Mapping) or not set(value) <= set(_ANSWERS) or not value:
        raise ValueError(f"templates.yaml: {key} maps yes / no / blank to lists of answers")
    out: dict[str, Answer] = {}
    for kind in _ANSWERS:
        for word in _strings(value[kind], f"{key}.{kind}") if kind in value else []:
            if word.lower() in out and out[word.lower()] != kind:
                raise ValueError(f"templates.yaml: {key}: {word!r} is both {out[word.lower()]} and {kind}")
            out[word.lower()] = kind
    return out


def _alternation(words: Mapping[str, Answer] | Sequence[str]) -> str:
    """Longest first, so "Y/N" wins over "Y"; word answers end at a word boundary."""
    parts = []
    for word in sorted(words, key=len, reverse=True):
        escaped = re.escape(word)
        parts.append(escaped + (r"\b" if word[-1:].isalnum() else ""))
    return "|".join(parts)
