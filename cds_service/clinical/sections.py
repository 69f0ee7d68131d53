"""Note sections: medspaCy's Sectionizer with header rules from data, and each section's defaults.

A note's layout carries meaning that its sentences do not repeat: "HTN, DM" under "PMH:" is
past history, "breast cancer" under "FH:" is a relative's, "weakness" under "Return
precautions:" is advice [MEDSPACY_SECTIONS]. ``sections.yaml`` lists the header titles of
each section category and the default assertion the category sets.

A header counts only at the start of a line (or after a full stop) and when it ends with a
colon or is alone on its line, so "allergies to penicillin" or "past history of" in running
text do not open a section.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from medspacy.section_detection import Sectionizer, SectionRule
from spacy.language import Language
from spacy.tokens import Doc

from .provenance import check_provenance

Experiencer = Literal["patient", "other"]
#: the header starts a line, or follows a full stop, a semicolon (reason texts run inline) or
#: another header's colon ("HPI: CHIEF COMPLAINT: ...")
_HEADER_START = r"(?:[\n\r]+\s*|[.;:!]\s*)$"
_HEADER_END = frozenset({":"})


@dataclass(frozen=True)
class SectionDefaults:
    """What a section says about every condition in it unless the sentence says more."""

    historical: bool = False
    hypothetical: bool = False
    experiencer: Experiencer = "patient"
    negated: bool = False
    #: written after its header on the same line, the section is that line ("Allergies: penicillin")
    one_line: bool = False
    #: a heading of this section may carry a bracketed qualifier ("ROS (clinic form):"; ``_qualifier_end``)
    qualified: bool = False


@dataclass(frozen=True)
class SectionRules:
    """The parsed ``sections.yaml``: header rules and the defaults of each category."""

    rules: tuple[SectionRule, ...]
    defaults: Mapping[str, SectionDefaults]


def parse_sections(raw: Mapping[str, Any], sources: set[str]) -> SectionRules:
    """``sections.yaml`` -> SectionRules; ``ValueError`` names the bad row."""
    categories = raw.get("categories")
    headers = raw.get("headers")
    if not isinstance(categories, Mapping) or not categories or not isinstance(headers, list) or not headers:
        raise ValueError("sections.yaml: needs a categories mapping and a headers list")
    defaults = {str(name): _parse_defaults(str(name), row, sources) for name, row in categories.items()}
    rules: list[SectionRule] = []
    seen: dict[str, str] = {}
    for i, row in enumerate(headers):
        where = f"sections.yaml: headers[{i}]"
        if not isinstance(row, Mapping) or row.get("category") not in defaults:
            raise ValueError(f"{where}: category must be one of the categories")
        check_provenance(row, sources, where)
        if row.get("pattern") is not None:
            pattern = row["pattern"]
            if not isinstance(pattern, list) or not pattern or not all(isinstance(t, Mapping) for t in pattern) \
                    or not isinstance(row.get("literal"), str):
                raise ValueError(f"{where}: a pattern row needs a literal and a list of token mappings")
            rules.append(SectionRule(literal=row["literal"], category=row["category"], pattern=list(pattern)))
            continue
        titles = row.get("titles")
        if not isinstance(titles, list) or not titles or not all(isinstance(t, str) and t.strip() for t in titles):
            raise ValueError(f"{where}: titles must be a non-empty list of strings")
        for title in titles:
            key = " ".join(title.lower().split())
            if key in seen and seen[key] != row["category"]:
                raise ValueError(f"{where}: title {title!r} is already a {seen[key]} header")
            seen[key] = row["category"]
            rules.append(SectionRule(literal=f"{title}:", category=row["category"]))
            rules.append(SectionRule(literal=title, category=row["category"]))
    return SectionRules(tuple(rules), defaults)


def _parse_defaults(name: str, row: Any, sources: set[str]) -> SectionDefaults:
    where = f"sections.yaml: categories.{name}"
    if not isinstance(row, Mapping):
        raise ValueError(f"{where} must be a mapping")
    check_provenance(row, sources, where)
    unknown = set(row) - {"historical", "hypothetical", "negated", "experiencer", "one_line", "qualified", "source",
                          "rationale"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    for flag in ("historical", "hypothetical", "negated", "one_line", "qualified"):
        if not isinstance(row.get(flag, False), bool):
            raise ValueError(f"{where}: {flag} must be true or false")
    experiencer = row.get("experiencer", "patient")
    if experiencer not in ("patient", "other"):
        raise ValueError(f"{where}: experiencer must be patient or other")
    defaults = SectionDefaults(bool(row.get("historical", False)), bool(row.get("hypothetical", False)), experiencer,
                               bool(row.get("negated", False)), bool(row.get("one_line", False)))
    if row.get("qualified", False):
        if defaults != SectionDefaults():
            raise ValueError(f"{where}: qualified headings only for a section that sets no default")
        defaults = SectionDefaults(qualified=True)
    return defaults


class NoteSectionizer(Sectionizer):  # type: ignore[misc]
    """medspaCy's Sectionizer, keeping only headers that look like headers (module docstring)."""

    one_line: frozenset[str] = frozenset()  # categories whose inline section is its line
    #: categories a qualified heading may open ("ROS (clinic form):"; sections.yaml ``qualified``)
    qualified: frozenset[str] = frozenset()
    titles: Mapping[str, str] = {}  # a title, lower-cased with single spaces -> its category

    def filter_start_lines(self, doc: Doc, matches: Sequence[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        kept = []
        for match in super().filter_start_lines(doc, matches):
            _, start, end = match[:3]
            last = doc[end - 1]
            if (last.text in _HEADER_END or end == len(doc) or "\n" in doc[end].text or "\r" in doc[end].text
                    or self._qualified(doc, start, end)):
                kept.append(match)
        return kept

    def _qualified(self, doc: Doc, start: int, end: int) -> bool:
        """A title with a qualifier and then its colon (``_qualifier_end``), of a section that
        ``sections.yaml`` marks ``qualified``."""
        category = self.titles.get(" ".join(doc[start:end].text.lower().split()))
        return category in self.qualified and _qualifier_end(doc, end) is not None

    def __call__(self, doc: Doc) -> Doc:
        """medspaCy's sections, except that a qualified heading's qualifier belongs to its title
        ("ROS (clinic form):"), and a header written inline, after a full stop in the middle of a
        line ("Weak legs 3 days. PMH: DM. No fever."), governs only its sentence."""
        super().__call__(doc)
        for section in doc._.sections:
            qualified = _qualifier_end(doc, section.title_end) if section.category in self.qualified else None
            if qualified is not None and qualified <= section.body_end:
                section.title_end = section.body_start = qualified
        for section in doc._.sections:
            start = section.title_start
            if section.category is None or start == 0 or "\n" in doc[start - 1].text or "\r" in doc[start - 1].text:
                continue
            if section.body_start >= len(doc):
                continue
            enclosing = doc[start - 1]._.section
            for token in doc[doc[section.body_start].sent.end:section.body_end]:
                token._.section = enclosing
        self._end_one_line_sections(doc)
        return doc

    def _end_one_line_sections(self, doc: Doc) -> None:
        """A ``one_line`` section written after its header on the same line ends with that line:
        an unrecognised heading on the next line ("Allergies: penicillin (rash).\nCHANGE SINCE
        LISTING: ... new leg weakness") must not leave the rest of the note in the allergy list,
        which the clinical layer does not read. The lines after it belong to the section before."""
        for section in doc._.sections:
            if section.category not in self.one_line or section.body_start >= section.body_end:
                continue
            body = doc[section.body_start:section.body_end]
            breaks = [t.i for t in body if "\n" in t.text or "\r" in t.text]
            words = [t.i for t in body if not t.is_space]
            if not breaks or not words or breaks[0] < words[0]:
                continue  # one line, or a list that starts on the next line: as medspaCy reads it
            start = section.title_start
            enclosing = doc[start - 1]._.section if start > 0 else None
            for token in doc[breaks[0] + 1:section.body_end]:
                token._.section = enclosing


#: at most this many tokens in a header's qualifier: "ROS (clinic form):", "DISCHARGE INSTRUCTIONS (PATIENT):"
_QUALIFIER_TOKENS = 8


#: a qualifier that dates its section or copies it from another time: the heading is then no account
#: of today ("ROS (carried forward from 03/2024):", "Interval history (2021-2023):", "HPI (from the
#: 2019 admission):", "ROS (if symptomatic):")
_DATING_QUALIFIER = re.compile(r"\d|^(?:from|previous|previously|prior|carried|copied|forward|last|old|earlier|"
                               r"if|history|admission|visit|then|at)$", re.IGNORECASE)


def _qualifier_end(doc: Doc, end: int) -> int | None:
    """Where the body starts when a title is followed by a parenthesised qualifier and then the
    colon, on one line: templates qualify their headings ("REVIEW OF SYSTEMS (clinic form):",
    "PRESENTING COMPLAINT (TODAY):", "Neuro (compared with 2025):"), and the heading is the
    section's all the same; the qualifier is part of the heading, not of the body. Only the
    sections that ``sections.yaml`` marks ``qualified`` are opened so (today's account: chief
    complaint, HPI, review of systems). In templates a qualified "Alcohol (units/wk): 20" or "FH
    (adopted): unknown" is a field and its answer, and the lines after it are today's account,
    which a social or family-history default would take away; and inside a family or past
    history a qualified sub-field ("Diagnoses (father):", "Exam (at that time):", "Imaging
    (2020):") carries in its qualifier whose or when it is (two reviews found red flags lost or
    invented so). "History (2019)" with no colon after it, or a bracket that does not close on
    the line, opens nothing (None)."""
    if end >= len(doc) or doc[end].text != "(":
        return None
    for token in doc[end + 1:end + 2 + _QUALIFIER_TOKENS]:
        if "\n" in token.text or "\r" in token.text or token.text == "(" or _DATING_QUALIFIER.search(token.text):
            return None
        if token.text == "):":  # the tokenizer keeps the two together
            return token.i + 1
        if token.text == ")":
            following = doc[token.i + 1] if token.i + 1 < len(doc) else None
            return token.i + 2 if following is not None and following.text in _HEADER_END else None
    return None


def build_sectionizer(nlp: Language, rules: SectionRules) -> NoteSectionizer:
    """A Sectionizer over ``rules`` that only sets ``Token._.section`` (defaults are applied by
    the assertion engine, which combines them with ConText)."""
    sectionizer = NoteSectionizer(nlp, rules=None, span_attrs=None, require_start_line=True,
                                  newline_pattern=_HEADER_START, apply_sentence_boundary=True)
    sectionizer.add(list(rules.rules))
    sectionizer.one_line = frozenset(name for name, d in rules.defaults.items() if d.one_line)
    sectionizer.qualified = frozenset(name for name, d in rules.defaults.items() if d.qualified)
    sectionizer.titles = {" ".join(r.literal.lower().split()): r.category for r in rules.rules}
    return sectionizer
