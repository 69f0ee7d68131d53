"""Sentence and clause boundaries for clinical notes (a spaCy component, rules from data).

A general-purpose sentencizer splits on full stops, so a note's layout defeats it: a
"Key: value" checklist, a bulleted list or a header line has no full stops, and a
hard-wrapped paragraph has line breaks in the middle of a sentence. ConText scopes end at
the sentence boundary [N2], so a boundary missed joins "no fever" to the next line's
complaint, and a boundary too many cuts "denies fever,\\nchills" in two. The rules:

- a full stop, "!" or ";" ends a sentence; "?" does not (clinicians write "?cauda equina"
  for "suspected");
- a token such as "Dr." or "b.i.d." (from ``note-format.yaml``) ends one only when a
  capitalised word follows;
- a blank line always ends one; a single line break ends one unless the line is a wrapped
  continuation (a long line, not ending in punctuation, followed by a lower-case word);
- a bullet ("-", "*", "•", "1." at the start of a line) starts one, and so does the next
  number of a list run on in one line ("1) esophagitis s/p biopsy 2) hiatal hernia");
- no sentence is longer than ``max_sentence_tokens``.

Clauses are the parts of a sentence between clause breaks (commas, "but", "then", ...):
they bound which finding an onset word or a templated answer belongs to.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy
from spacy.attrs import SENT_START
from spacy.tokens import Doc, Span, Token


@dataclass(frozen=True)
class NoteFormat:
    """The layout rules of ``note-format.yaml`` (see the module docstring)."""

    sentence_ends: frozenset[str]
    abbreviations: frozenset[str]
    bullets: frozenset[str]
    #: a line at least this long that ends in a word and is followed by a lower-case word
    #: is a wrapped line, not a line of its own
    wrap_width: int
    #: a sentence longer than this many tokens is cut after each run of this length
    max_sentence_tokens: int
    #: the characters read of one text (the rest is not read)
    max_text_chars: int
    clause_breaks: frozenset[str]
    #: punctuation after which a modifier's scope does not continue (``Key: value``)
    scope_breaks: frozenset[str]
    #: words that make the following colon announce a list, not end a scope
    list_announcers: frozenset[str]
    #: words that open a finding stated as an inability ("can't move her toes"): such a finding
    #: carries its own polarity, so a negation before it in an earlier clause is not about it
    inability_openers: frozenset[str]
    #: words a target pattern's gap word may not be (clinical/text.py ``gap_free_of``)
    gap_negations: frozenset[str]
    #: third-person pronouns by the sex they refer to ("female", "male")
    pronouns: Mapping[str, frozenset[str]] = field(default_factory=dict, compare=False)
    #: words of a body part a possessive pronoun owns before its finding ("his L arm and L leg")
    pronoun_bridge: frozenset[str] = frozenset()
    #: a run of at least this many full stops inside a line is a form's dotted leader, no end,
    #: when at most ``leader_answer_chars`` follow it on its line (its answer column)
    leader_dots: int = 0
    leader_answer_chars: int = 0


def parse_note_format(raw: Mapping[str, Any]) -> NoteFormat:
    """``note-format.yaml`` -> NoteFormat; ``ValueError`` names the bad key."""
    def words(key: str) -> frozenset[str]:
        items = raw.get(key)
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
            raise ValueError(f"note-format.yaml: {key} must be a non-empty list of strings")
        return frozenset(i.lower() for i in items)

    width, longest = _integer(raw, "wrap_width", 20), _integer(raw, "max_sentence_tokens", 20)
    most = _integer(raw, "max_text_chars", 1000)
    for key in ("sources", "rationale"):
        if not raw.get(key):
            raise ValueError(f"note-format.yaml: needs {key}")
    pronouns = raw.get("pronouns", {})
    if not isinstance(pronouns, Mapping) or not set(pronouns) <= {"female", "male"}:
        raise ValueError("note-format.yaml: pronouns maps female and male to lists of pronouns")
    return NoteFormat(words("sentence_ends"), words("abbreviations"), words("bullets"), width, longest, most,
                      words("clause_breaks"), words("scope_breaks"), words("list_announcers"),
                      words("inability_openers"), words("gap_negations"),
                      {sex: _pronouns(items, sex) for sex, items in pronouns.items()},
                      words("pronoun_bridge") if "pronoun_bridge" in raw else frozenset(),
                      _integer(raw, "leader_dots", 2) if "leader_dots" in raw else 0,
                      _integer(raw, "leader_answer_chars", 1) if "leader_dots" in raw else 0)


def _integer(raw: Mapping[str, Any], key: str, least: int) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(f"note-format.yaml: {key} must be an integer >= {least}")
    return value


def _pronouns(items: Any, sex: str) -> frozenset[str]:
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        raise ValueError(f"note-format.yaml: pronouns.{sex} must be a non-empty list of strings")
    return frozenset(i.lower() for i in items)


class NoteSentencizer:
    """Sets the sentence starts of a Doc from the NoteFormat rules.

    Works on plain lists of token texts (a spaCy Token object per access costs more than the
    rules themselves) and writes all starts at once with ``Doc.from_array``.
    """

    def __init__(self, note_format: NoteFormat) -> None:
        self._format = note_format

    def __call__(self, doc: Doc) -> Doc:
        if not len(doc):
            return doc
        tokens = _Tokens([t.text for t in doc], [t.idx for t in doc], doc.text)
        starts = [1] + [1 if self._starts_sentence(tokens, i) else -1 for i in range(1, len(tokens.texts))]
        _cap_sentences(starts, self._format.max_sentence_tokens)
        array: Any = numpy.array(starts, dtype="int64").astype("uint64").reshape(-1, 1)
        doc.from_array([SENT_START], array)
        return doc

    def _starts_sentence(self, tokens: _Tokens, i: int) -> bool:
        text, prev = tokens.texts[i], tokens.texts[i - 1]
        if "\n" in prev or "\r" in prev:
            return not self._is_wrapped_line(tokens, i - 1)
        if text.isspace():
            return False
        if tokens.is_line_start(i) and (text.lower() in self._format.bullets or tokens.is_list_number(i)):
            return True
        if tokens.continues_enumeration(i):
            return True
        return self._ends_sentence(tokens, i - 1)

    def _ends_sentence(self, tokens: _Tokens, i: int) -> bool:
        text = tokens.texts[i].lower()
        nxt = tokens.next_word(i)
        capital_next = nxt is not None and nxt[:1].isupper()
        if text in self._format.sentence_ends:
            if text == "." and i > 0 and tokens.is_list_number(i - 1) and tokens.is_line_start(i - 1):
                return False  # "1." of a numbered list
            if text == "." and i > 0 and self._is_abbreviation(tokens.texts[i - 1]):
                return capital_next
            return True
        if self._is_leader(text) and nxt is not None and tokens.rest_of_line(i + 1) <= self._format.leader_answer_chars:
            return False  # "Back pain ........ Y / (N)": a printed form's question and its answer
        if text.endswith(".") and len(text) > 1:  # a token with its own full stop: "N.", "Dr."
            if self._is_abbreviation(text):
                return capital_next
            return nxt is None or not nxt[:1].islower()
        return False

    def _is_leader(self, token: str) -> bool:
        return bool(self._format.leader_dots) and len(token) >= self._format.leader_dots and set(token) == {"."}

    def _is_abbreviation(self, token: str) -> bool:
        text = token.lower()
        return text in self._format.abbreviations or text.rstrip(".") in self._format.abbreviations \
            or "." in text.rstrip(".")

    def _is_wrapped_line(self, tokens: _Tokens, newline: int) -> bool:
        """A single line break inside a hard-wrapped paragraph (see the module docstring)."""
        texts = tokens.texts
        if texts[newline].count("\n") > 1 or newline + 1 >= len(texts):
            return False
        before, after = tokens.prev_word(newline), texts[newline + 1]
        if before is None or not after[:1].islower() or after.lower() in self._format.bullets:
            return False
        word = texts[before]
        if word.lower() in self._format.sentence_ends or word in (":", ";", ".", "!", "?"):
            return False
        at = tokens.idx[before]
        line_start = max(tokens.text.rfind("\n", 0, at), tokens.text.rfind("\r", 0, at)) + 1
        return at + len(word) - line_start >= self._format.wrap_width


def _cap_sentences(starts: list[int], longest: int) -> None:
    """Start a sentence after every ``longest`` tokens without one (``starts``: 1 starts a
    sentence, -1 does not), so no sentence is longer than ``longest``."""
    run = 0
    for i, start in enumerate(starts):
        run = 1 if start == 1 or run == longest else run + 1
        if run == 1:
            starts[i] = 1


@dataclass(frozen=True)
class _Tokens:
    """The token texts and offsets of a Doc, for rules that read many tokens."""

    texts: list[str]
    idx: list[int]
    text: str

    def rest_of_line(self, i: int) -> int:
        """Characters from token ``i`` to the end of its line (0 when it is a line break)."""
        if self.texts[i].isspace():
            return 0
        end = self.text.find("\n", self.idx[i])
        return (len(self.text) if end < 0 else end) - self.idx[i]

    def is_line_start(self, i: int) -> bool:
        if i == 0:
            return True
        prev = self.texts[i - 1]
        return "\n" in prev or "\r" in prev or (i == 1 and prev.isspace())

    def is_list_number(self, i: int) -> bool:
        """"1." or "2)" at the start of a line: a numbered-list marker."""
        text = self.texts[i]
        if text.endswith(".") and text.rstrip(".").isdigit() and len(text) <= 3:
            return True
        return text.isdigit() and len(text) <= 2 and i + 1 < len(self.texts) and self.texts[i + 1] in (".", ")")

    def continues_enumeration(self, i: int) -> bool:
        """"2)" inside a line whose earlier text holds "1)": the next item of a list run on in
        one line ("1) Severe esophagitis s/p biopsy 2) Large hiatal hernia"), which starts a
        sentence as a list number at the start of a line does."""
        text = self.texts[i]
        if not (text.isdigit() and len(text) <= 2 and i + 1 < len(self.texts) and self.texts[i + 1] == ")"):
            return False
        number = int(text)
        for j in range(i - 1, max(i - 200, -1), -1):
            if "\n" in self.texts[j] or "\r" in self.texts[j]:
                return False
            if self.texts[j] == str(number - 1) and self.texts[j + 1] == ")":
                return number > 1
        return False

    def next_word(self, i: int) -> str | None:
        for text in self.texts[i + 1:i + 20]:
            if not text.isspace():
                return text
        return None

    def prev_word(self, i: int) -> int | None:
        for j in range(i - 1, max(i - 20, -1), -1):
            if not self.texts[j].isspace():
                return j
        return None


def clause_bounds(sentence: Span, start: int, end: int, breaks: frozenset[str]) -> tuple[int, int]:
    """The token range of the clause of ``sentence`` holding tokens [start, end).

    A clause ends at a clause-break token (``note-format.yaml``: ",", ";", ":", "but",
    "then", ...) that lies outside the span itself.
    """
    doc = sentence.doc
    lo = start
    while lo > sentence.start and not is_break(doc[lo - 1], breaks):
        lo -= 1
    hi = end
    while hi < sentence.end and not is_break(doc[hi], breaks):
        hi += 1
    return lo, hi


def is_break(token: Token, breaks: frozenset[str], announcers: frozenset[str] = frozenset()) -> bool:
    """Whether ``token`` is one of ``breaks``. A hyphen counts only when spaced (" - "), since
    the tokenizer also splits "T-spine" and "60-year-old" at hyphens; a colon after a list
    announcer ("the following are noted:") does not count."""
    text = token.lower_
    if text not in breaks:
        return False
    doc, i = token.doc, token.i
    if text == "-":
        return bool(token.whitespace_) and i > 0 and bool(doc[i - 1].whitespace_)
    return not any(t.lower_ in announcers for t in doc[max(0, i - 3):i])

