"""The assertion component: given a text and the character spans of concepts in it, say for each
span whether it is negated, possible, historical or hypothetical, and whose it is.

It knows nothing of legs (or of any concept): the caller finds the spans. The pipeline is
medspaCy used as designed [N2, MEDSPACY]:

1. tokenizer: medspaCy's clinical tokenizer on ``spacy.blank("en")`` (no model weights);
2. sentences: ``sentences.NoteSentencizer`` (note layout: lines, bullets, "Key: value");
3. sections: medspaCy's Sectionizer with ``sections.yaml`` (PMH historical, FH other, ...);
4. ConText: medspaCy's ConText with ``context-rules.yaml`` over a span group of the targets;
5. templated answers: ``templates.py`` ("Weakness: N", "(+) back pain");
6. background facts: ``background.py`` (a span that names a habit or an allergy is historical).

Precedence, most local first: a templated answer decides negation (and an unfilled template
makes the span not particular); then ConText; then the section's defaults, which only add
(a negated condition under "PMH:" stays negated, and becomes historical too).

All rules are data in ``clinical/language/`` and are checked when the engine is built: a bad
file raises ``ConfigurationError`` at start-up, never on a request.
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, TypeVar

import spacy
import yaml
from medspacy.custom_tokenizer import create_medspacy_tokenizer
from spacy.tokens import Doc, Span

from ..errors import ConfigurationError
from ..resources import language_root, load_data
from .background import BackgroundRules, parse_background
from .modifiers import ALSO, ASSERTING, SPAN_GROUP, TERMINATE_PREFIX, build_context, parse_modifier_rules
from .provenance import parse_language_sources
from .sections import SectionDefaults, build_sectionizer, parse_sections
from .sentences import NoteFormat, NoteSentencizer, clause_bounds, is_break, parse_note_format
from .templates import Answer, TemplateRules, parse_templates

T = TypeVar("T")

Experiencer = Literal["patient", "other"]
LANGUAGE_FILES = ("language-sources.yaml", "context-rules.yaml", "sections.yaml", "note-format.yaml", "templates.yaml",
                  "background.yaml")
_NO_SECTION = SectionDefaults()
#: runs of spaces and tabs: spaCy makes each extra space a token, which splits "negative  for"
_BLANKS = re.compile(r"[ \t\u00a0]{2,}|[\t\u00a0]")


@dataclass(frozen=True)
class Cue:
    """A modifier that governs a span: its ConText category and the words that triggered it."""

    category: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Assertion:
    """What the text says about one span. Offsets are characters of the analysed text."""

    negated: bool = False
    possible: bool = False
    historical: bool = False
    hypothetical: bool = False
    experiencer: Experiencer = "patient"
    #: the section category the span is in ("past_medical_history"), None outside any section
    section: str | None = None
    #: the sentence and the clause (between commas, "but", "then", ...) holding the span
    sentence: tuple[int, int] = (0, 0)
    clause: tuple[int, int] = (0, 0)
    #: the templated answer that decided the span ("Weakness: N" -> "no"), if any
    answer: Answer | None = None
    cues: tuple[Cue, ...] = field(default=(), compare=False)

    @property
    def is_asserted(self) -> bool:
        """The patient has it now or had it: not negated, not hypothetical, not someone else's."""
        return not (self.negated or self.hypothetical or self.experiencer != "patient")


@dataclass(frozen=True)
class Note:
    """A text ready for assessment: its Doc (over the text with runs of blanks collapsed to one
    space) and the map back to the caller's character offsets."""

    text: str
    doc: Doc
    #: ``doc.text`` (spaCy rebuilds it on every access)
    analysed: str
    #: origin[i] is the offset in ``text`` of character i of ``doc.text``; None if identical
    origin: tuple[int, ...] | None = None
    #: the start offset of every token of ``doc`` (for span lookups by character)
    starts: tuple[int, ...] = ()
    #: what is worked out once per sentence (its inability clauses, its trimmed bounds), by
    #: (what, sentence start): a sentence of many conditions ("no fever, no fever, ...") would
    #: otherwise be scanned once for each of them
    per_sentence: dict[tuple[str, int], Any] = field(default_factory=dict, compare=False, repr=False)

    def once_per_sentence(self, what: str, sentence: Span, work: Callable[[Span], T]) -> T:
        key = (what, sentence.start)
        if key not in self.per_sentence:
            self.per_sentence[key] = work(sentence)
        return self.per_sentence[key]  # type: ignore[no-any-return]

    def token_span(self, start: int, end: int) -> Span | None:
        """The tokens covering characters [start, end) of ``doc.text``, or None if empty."""
        if not 0 <= start < end <= len(self.analysed):
            return None
        first = bisect_right(self.starts, start) - 1
        last = bisect_left(self.starts, end)
        return Span(self.doc, max(first, 0), last, label="TARGET") if last > first else None

    def to_text(self, start: int, end: int) -> tuple[int, int]:
        """A span of ``doc.text`` as offsets in ``text``."""
        if self.origin is None:
            return start, end
        return self.origin[start], (self.origin[end - 1] + 1 if end > start else self.origin[start])

    def to_doc(self, offset: int) -> int:
        """An offset in ``text`` as an offset in ``doc.text``."""
        return offset if self.origin is None else bisect_left(self.origin, offset)


#: a line of a list: a bullet or a number ("- Acute stroke / TIA", "2. GCA - excluded")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*•·]|\d{1,2}[.)])[ \t]")
_SENTENCE_END = re.compile(r"[.;!?](?:\s|$)")


#: a run of this many characters with no blank is no word of a note (a URL, a separator line, a
#: base64 blob, or hostile input): spaCy's tokenizer splits affixes off one long token in time
#: quadratic in its length, so a 20 000-character run of "(" would take a minute
_LONG_RUN = re.compile(r"(\S{63})\S")


def _break_long_runs(text: str) -> str:
    """``text`` with a blank put in place of every 64th character of a run without blanks: the
    same length, so every offset still holds, and tokenizing is linear in the text."""
    return _LONG_RUN.sub(r"\1 ", text) if len(text) > 63 else text


def _collapse_blanks(text: str) -> tuple[str, tuple[int, ...] | None]:
    if _BLANKS.search(text) is None:
        return text, None
    pieces: list[str] = []
    origin: list[int] = []
    last = 0
    for match in _BLANKS.finditer(text):
        pieces.append(text[last:match.start()])
        origin.extend(range(last, match.start()))
        pieces.append(" ")
        origin.append(match.start())
        last = match.end()
    pieces.append(text[last:])
    origin.extend(range(last, len(text) + 1))
    return "".join(pieces), tuple(origin)


class AssertionEngine:
    """Built once from the language rules; ``assess(text, spans)`` per text."""

    def __init__(self, note_format: NoteFormat, sentencizer: NoteSentencizer, nlp: Any, sectionizer: Any,
                 context: Any, defaults: dict[str, SectionDefaults], templates: TemplateRules,
                 background: BackgroundRules) -> None:
        self._format = note_format
        self._sentencizer = sentencizer
        self._sectionizer = sectionizer
        self._context = context
        self._defaults = defaults
        self._templates = templates
        self._background = background
        self.nlp = nlp

    @property
    def note_format(self) -> NoteFormat:
        """The layout rules the engine reads notes with (``note-format.yaml``)."""
        return self._format

    def make_note(self, text: str) -> Note:
        """Tokenize ``text`` and set its sentences and sections (no targets yet)."""
        collapsed, origin = _collapse_blanks(text)
        collapsed = _break_long_runs(collapsed)
        doc = self.nlp.make_doc(collapsed)
        self._sectionizer(self._sentencizer(doc))
        return Note(text, doc, collapsed, origin, tuple(t.idx for t in doc))

    def assess(self, text: str, spans: Sequence[tuple[int, int]], sex: str | None = None) -> tuple[Assertion, ...]:
        """One Assertion per character span ``(start, end)`` of ``text``, in order. ``sex``
        ("female", "male"), when the record gives it, is the patient's: a pronoun of the other
        sex is not the patient (``note-format.yaml`` pronouns).

        A span that does not fall on token boundaries is widened to whole tokens.
        """
        return self.assess_note(self.make_note(text), spans, sex)

    def assess_note(self, note: Note, spans: Sequence[tuple[int, int]],
                    sex: str | None = None) -> tuple[Assertion, ...]:
        """``assess`` on a Note from ``make_note``; spans are offsets of ``note.text``."""
        doc = note.doc
        targets = [note.token_span(note.to_doc(start), note.to_doc(end)) for start, end in spans]
        doc.spans[SPAN_GROUP] = [t for t in targets if t is not None]
        self._context(doc)
        others = frozenset().union(*(words for other, words in self._format.pronouns.items() if other != sex)) \
            if sex in self._format.pronouns else frozenset()
        scopes = _RelativeScopes.of(doc) if others else None
        return tuple(_EMPTY if t is None else self._assertion(note, t, others, scopes) for t in targets)

    def _assertion(self, note: Note, target: Span, other_pronouns: frozenset[str] = frozenset(),
                   scopes: _RelativeScopes | None = None) -> Assertion:
        doc = note.doc
        found: dict[str, bool] = dict.fromkeys(ASSERTING, False)
        cues = []
        for modifier in target._.modifiers:
            found[modifier.category] = True
            for category in (modifier.rule.metadata or {}).get(ALSO, ()):
                found[category] = True
            start, end = modifier.modifier_span
            cues.append(Cue(modifier.category, *_cue_text(note, doc[start].idx, doc[end - 1].idx + len(doc[end - 1]))))
        background = self._background.kind_of(target.text)
        if background is not None:  # "smokes cigarettes": historical by what it is, unless "daily"
            cues.append(Cue("BACKGROUND", *_cue_text(note, target.start_char, target.end_char)))
        sentence = target.sent
        negated = found["NEGATED_EXISTENCE"] and not found["EXCEPTION"] \
            and not self._own_polarity(note, target, sentence)
        section = target[0]._.section
        category = section.category if section is not None else None
        answer = self._templates.answer(note.analysed, target.start_char, target.end_char,
                                        sentence.start_char, sentence.end_char, category)
        if answer is not None:
            negated = answer == "no"
        defaults = self._defaults.get(category, _NO_SECTION) if category else _NO_SECTION
        ended = _ended_categories(doc, section.body_start, target.start) if defaults != _NO_SECTION else set()
        if defaults.negated and answer is None and "NEGATED_EXISTENCE" not in ended \
                and _in_header_list(note, doc[section.body_start].idx, target.start_char):
            negated = True  # "Diagnoses excluded:" lists what was ruled out
        lo, hi = clause_bounds(sentence, target.start, target.end, self._format.clause_breaks)
        return Assertion(
            negated=negated, possible=found["POSSIBLE_EXISTENCE"],
            historical=found["HISTORICAL"] or (not found["CURRENT"] and (
                background is not None or (defaults.historical and "HISTORICAL" not in ended))),
            hypothetical=found["HYPOTHETICAL"] or (defaults.hypothetical and "HYPOTHETICAL" not in ended)
            or answer == "blank",
            experiencer="other" if found["FAMILY"] or (defaults.experiencer == "other" and "FAMILY" not in ended)
            or (scopes is not None and scopes.beyond_pronoun(doc, target, other_pronouns, self._format.pronoun_bridge))
            else "patient",
            section=category, sentence=note.to_text(*note.once_per_sentence("trimmed", sentence, _trimmed)),
            clause=note.to_text(doc[lo].idx, doc[hi - 1].idx + len(doc[hi - 1])), answer=answer, cues=tuple(cues))

    def _own_polarity(self, note: Note, target: Span, sentence: Span) -> bool:
        """Whether the negations of ``target`` stop before it at a clause stated as an inability
        ("no pedal pulses palpable, can't move her toes, foot numb"): that clause states its own
        polarity and ends the list the negation ran over (``note-format.yaml`` inability_openers).
        A negation in the target's own clause still applies ("no longer unable to walk")."""
        negations = [m for m in target._.modifiers if m.category == "NEGATED_EXISTENCE"]
        starts = note.once_per_sentence("inability", sentence, self._inability_clauses)
        return bool(negations) and all(
            any(m.modifier_span[1] <= start <= target.start for start in starts) for m in negations)

    def _inability_clauses(self, sentence: Span) -> list[int]:
        """Token indexes of the clauses of ``sentence`` that open with an inability word."""
        doc, out = sentence.doc, []
        for i in range(sentence.start, sentence.end):
            if i > sentence.start and not is_break(doc[i - 1], self._format.clause_breaks):
                continue
            text = doc[i:min(i + 4, sentence.end)].text.lower()
            if any(text.startswith(w) and (len(text) == len(w) or not text[len(w)].isalnum())
                   for w in self._format.inability_openers):
                out.append(i)
        return out


_EMPTY = Assertion()


def _cue_text(note: Note, start: int, end: int) -> tuple[str, int, int]:
    """The words of ``doc.text[start:end]`` as written in the caller's text, and their offsets."""
    where = note.to_text(start, end)
    return note.text[where[0]:where[1]], where[0], where[1]


def _trimmed(span: Span) -> tuple[int, int]:
    """Character offsets of ``span`` without its leading and trailing whitespace tokens."""
    words = [t for t in span if not t.is_space]
    if not words:
        return span.start_char, span.start_char
    return words[0].idx, words[-1].idx + len(words[-1])


def _in_header_list(note: Note, start: int, end: int) -> bool:
    """Whether ``end`` (offsets of the analysed text) is still in the list a header opens at
    ``start``: its first sentence ("Diagnoses excluded: acute stroke / TIA"), or the bullet or
    numbered lines right under it. A negating section ends at anything else (prose on the next
    line, a full stop, a blank line, a header the Sectionizer does not know), so it never
    reaches "re-presented today with new urinary retention"."""
    text = note.analysed
    start += len(text[start:end]) - len(text[start:end].lstrip())  # from the section's first line
    lines = text[start:end].split("\n")
    if len(lines) == 1:
        return _SENTENCE_END.search(lines[0]) is None
    return all(_LIST_ITEM.match(line) for line in lines[1:])


@dataclass(frozen=True)
class _RelativeScopes:
    """A Doc's relatives (FAMILY triggers read forward) and the modifiers that end their scopes,
    gathered once per Doc for ``beyond_pronoun``."""

    relatives: tuple[Any, ...]
    ends: tuple[Any, ...]

    @classmethod
    def of(cls, doc: Doc) -> _RelativeScopes:
        modifiers = doc._.context_graph.modifiers
        relatives = tuple(m for m in modifiers if m.category == "FAMILY" and m.direction == "FORWARD")
        ends = tuple(m for m in modifiers if relatives and m.category.startswith(TERMINATE_PREFIX)
                     and "FAMILY" in m.category[len(TERMINATE_PREFIX):].split("+"))
        return cls(relatives, ends)

    def beyond_pronoun(self, doc: Doc, target: Span, other_pronouns: frozenset[str],
                       bridge: frozenset[str] = frozenset()) -> bool:
        """Whether the relative named last before ``target`` in its sentence is still its
        experiencer, ConText's scope having ended only at pronouns that cannot be the patient
        ("husband admitted with a stroke, his left side is weak" in a woman's note), and only where
        that pronoun owns or is the subject of the finding itself ("his left side", "he can't
        walk", "his L arm and L leg are weak": only ``bridge`` words, a body part's, between): a
        pronoun further back is often the relative as the one who reports ("she says the legs gave
        way" in a man's note). Any other end of the scope (the patient's own pronoun, "patient",
        "presents") leaves it the patient's."""
        sentence = target.sent
        before = [m for m in self.relatives
                  if sentence.start <= m.modifier_span[0] and m.modifier_span[1] <= target.start]
        if not before:
            return False
        relative = max(before, key=lambda m: m.modifier_span[1])
        ends = [m for m in self.ends if relative.modifier_span[1] <= m.modifier_span[0] < target.start]
        return bool(ends) and relative.scope_span[1] == min(m.modifier_span[0] for m in ends) \
            and all(doc[m.modifier_span[0]:m.modifier_span[1]].text.lower() in other_pronouns for m in ends) \
            and _owns(doc, max(m.modifier_span[1] for m in ends), target.start, bridge)


def _owns(doc: Doc, after_pronoun: int, target_start: int, bridge: frozenset[str]) -> bool:
    """Whether the pronoun ending at token ``after_pronoun`` owns or is the subject of the finding
    starting at ``target_start``: at most one word between, or only a body part's words."""
    between = doc[after_pronoun:target_start]
    return len(between) <= 1 or all(token.lower_ in bridge for token in between)


def _ended_categories(doc: Doc, start: int, end: int) -> set[str]:
    """The categories whose per-category terminations [CONTEXT] occur in tokens [start, end):
    a section's default yields to them, as a trigger's scope does ("PMH: lung cancer 2021.
    Presents with leg weakness": the weakness is today's)."""
    ended: set[str] = set()
    graph = doc._.context_graph
    for modifier in graph.modifiers if graph is not None else ():
        if modifier.category.startswith(TERMINATE_PREFIX) and start <= modifier.modifier_span[0] < end:
            ended.update(modifier.category[len(TERMINATE_PREFIX):].split("+"))
    return ended


@cache
def load_assertion_engine() -> AssertionEngine:
    """The packaged engine (``clinical/language/``), built and checked once per process.

    Raises:
        ConfigurationError: see ``load_assertion_engine_from``.
    """
    return load_assertion_engine_from(language_root())


def load_assertion_engine_from(folder: Any) -> AssertionEngine:
    """Build the engine from the language files in ``folder`` (a Traversable or Path).

    Raises:
        ConfigurationError: a file is missing or malformed, or a rule has neither a known
            source nor a rationale.
    """
    try:
        return _build(folder)
    except (ValueError, KeyError, TypeError, OSError, AttributeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"clinical language rules are invalid: {exc}") from None


def _build(folder: Any) -> AssertionEngine:
    sources = parse_language_sources(load_data(folder, "language-sources.yaml"))
    note_format = parse_note_format(_mapping(load_data(folder, "note-format.yaml"), "note-format.yaml"))
    for sid in load_data(folder, "note-format.yaml")["sources"]:
        if sid not in sources:
            raise ValueError(f"note-format.yaml: unknown source {sid!r}")
    sections = parse_sections(_mapping(load_data(folder, "sections.yaml"), "sections.yaml"), set(sources))
    templates = parse_templates(_mapping(load_data(folder, "templates.yaml"), "templates.yaml"), sources)
    modifiers = parse_modifier_rules(_mapping(load_data(folder, "context-rules.yaml"), "context-rules.yaml"),
                                     sources, note_format.scope_breaks, note_format.list_announcers,
                                     note_format.clause_breaks)
    background = parse_background(_mapping(load_data(folder, "background.yaml"), "background.yaml"), sources)
    nlp = spacy.blank("en")
    nlp.tokenizer = create_medspacy_tokenizer(nlp)
    return AssertionEngine(note_format, NoteSentencizer(note_format), nlp, build_sectionizer(nlp, sections),
                           build_context(nlp, modifiers), dict(sections.defaults), templates, background)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a mapping")
    return value
