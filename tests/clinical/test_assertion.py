"""The assertion component on tables of sentences (assertion-cases.yaml), its offsets, and the
loader refusing bad rule data. Uses the real medspaCy pipeline, built once per session."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds_service.clinical.assertion import (
    LANGUAGE_FILES,
    AssertionEngine,
    load_assertion_engine,
    load_assertion_engine_from,
)
from cds_service.errors import ConfigurationError
from cds_service.resources import language_root

CASES = yaml.safe_load((Path(__file__).parent / "assertion-cases.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def engine() -> AssertionEngine:
    return load_assertion_engine()


def _params() -> list[Any]:
    return [pytest.param(case, id=f"{category}: {case['text'][:40]} [{case['span']}]")
            for category, cases in CASES.items() for case in cases]


@pytest.mark.parametrize("case", _params())
def test_assertion_cases(engine: AssertionEngine, case: dict[str, Any]) -> None:
    start = -1
    for _ in range(case.get("at", 0) + 1):
        start = case["text"].index(case["span"], start + 1)
    # `others`: more condition spans assessed in the same call, as a service's targets would be
    others = [(case["text"].index(o), case["text"].index(o) + len(o)) for o in case.get("others", [])]
    assertion = engine.assess(case["text"], [(start, start + len(case["span"])), *others])[0]
    got = {key: getattr(assertion, key) for key in case["expect"]}
    assert got == case["expect"], assertion


def test_every_category_of_the_issue_has_cases() -> None:
    assert set(CASES) >= {"negation-scope", "pseudo-triggers", "templated-answers", "sections", "experiencer",
                          "historical-vs-current", "hypothetical", "sentence-splitting", "resolved-episodes",
                          "chronic-deficits", "remote-illness", "former-exposures"}


def test_offsets_are_those_of_the_given_text(engine: AssertionEngine) -> None:
    text = "HPI:   weak   legs,  no   fever.\nPMH:  stroke"
    spans = [(text.index("weak"), text.index("legs") + 4), (text.index("fever"), text.index("fever") + 5),
             (text.index("stroke"), len(text))]
    weak, fever, stroke = engine.assess(text, spans)
    assert text[weak.sentence[0]:weak.sentence[1]] == "weak   legs,  no   fever."
    assert text[weak.clause[0]:weak.clause[1]] == "weak   legs"
    assert fever.negated and [c.text for c in fever.cues] == ["no"]
    assert text[fever.cues[0].start:fever.cues[0].end] == "no"
    assert stroke.historical and stroke.section == "past_medical_history" and not weak.historical


def test_the_tokenizer_splits_ex_so_a_rule_sees_it(engine: AssertionEngine) -> None:
    assert [t.text for t in engine.nlp.make_doc("ex-IVDU, ex-smoker")] == ["ex", "-", "IVDU", ",", "ex", "-", "smoker"]
    text = "Ex-IVDU, abstinent"
    ivdu = engine.assess(text, [(3, 7)])[0]
    assert ivdu.historical and [c.text for c in ivdu.cues if c.category == "HISTORICAL"][0] == "Ex-"


def test_overlapping_spans_are_each_assessed(engine: AssertionEngine) -> None:
    text = "no sudden weakness"
    whole, onset = engine.assess(text, [(3, len(text)), (3, 9)])
    assert whole.negated and onset.negated


def test_a_span_outside_the_text_asserts_nothing(engine: AssertionEngine) -> None:
    assert engine.assess("weak legs", [(5, 99)])[0].sentence == (0, 0)


def test_no_sentence_outgrows_the_cap_and_long_runs_keep_their_offsets(engine: AssertionEngine) -> None:
    """A run of words with no sentence end is cut every ``max_sentence_tokens`` tokens, so a
    negation 300 words back no longer reaches the complaint; a 5 000-character run without a
    blank is broken for the tokenizer, and the spans still quote the caller's text."""
    run = "no fever " + "and then " * 150 + "weak legs"
    assert not engine.assess(run, [(len(run) - 9, len(run))])[0].negated
    assert max(len(s) for s in engine.make_note(run).doc.sents) <= 128
    text = "x" * 5000 + " no weak legs"
    found = engine.assess(text, [(len(text) - 9, len(text))])[0]
    assert found.negated and found.sentence == (0, len(text)) and found.cues[0].text == "no"


def test_a_3kb_note_is_assessed_whole(engine: AssertionEngine) -> None:
    note = (Path(__file__).parent / "note-3kb.txt").read_text(encoding="utf-8")
    spans = [(note.index(w), note.index(w) + len(w)) for w in ("weakness in both legs", "saddle numbness",
                                                                  "breast cancer", "Fever", "multiple sclerosis",
                                                                  "ascending weakness")]
    legs, saddle, cancer, fever, ms, ascending = engine.assess(note, spans)
    assert legs.is_asserted and not legs.historical
    assert saddle.negated
    assert cancer.historical and cancer.section == "past_medical_history"
    assert fever.negated and fever.answer == "no"
    assert ms.experiencer == "other"
    assert ascending.hypothetical


# ---------------------------------------------------------------- the loader

@pytest.fixture()
def language(tmp_path: Path) -> Path:
    folder = tmp_path / "language"
    folder.mkdir()
    for name in LANGUAGE_FILES:
        shutil.copy(str(language_root() / name), folder / name)
    return folder


def test_the_copied_rules_load(language: Path) -> None:
    engine = load_assertion_engine_from(language)
    assert engine.assess("no fever", [(3, 8)])[0].negated


def _first_rule(d: dict[str, Any]) -> dict[str, Any]:
    return d["rules"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("name,breaker", [
    ("context-rules.yaml", lambda d: _first_rule(d).update(category="NEGATED")),
    ("context-rules.yaml", lambda d: _first_rule(d).update(direction="SIDEWAYS")),
    ("context-rules.yaml", lambda d: _first_rule(d).pop("source")),
    ("context-rules.yaml", lambda d: _first_rule(d).update(source="NOPE")),
    ("context-rules.yaml", lambda d: _first_rule(d)["literals"].append(False)),
    ("context-rules.yaml", lambda d: _first_rule(d)["literals"].append(_first_rule(d)["literals"][0].upper())),
    ("context-rules.yaml", lambda d: _first_rule(d).update(max_scope=0)),
    ("context-rules.yaml", lambda d: _first_rule(d).update(clause="yes")),
    ("context-rules.yaml", lambda d: _first_rule(d).update(also=["NOPE"])),
    ("context-rules.yaml", lambda d: _first_rule(d).update(also=[_first_rule(d)["category"]])),
    ("context-rules.yaml", lambda d: _first_rule(d).update(colour="red")),
    ("context-rules.yaml", lambda d: d["rules"].append({"category": "PSEUDO", "direction": "FORWARD", "literals": ["x"],
                                                         "rationale": "r"})),
    ("context-rules.yaml", lambda d: d["rules"].append({"category": "NEGATED_EXISTENCE", "direction": "FORWARD",
                                                         "literal": "x", "pattern": "not a list", "rationale": "r"})),
    ("sections.yaml", lambda d: d["headers"][0].update(category="nowhere")),
    ("sections.yaml", lambda d: d["categories"]["past_medical_history"].update(historical="yes")),
    ("sections.yaml", lambda d: d["categories"]["family_history"].update(experiencer="cousin")),
    ("sections.yaml", lambda d: d["headers"].append({"category": "family_history", "titles": ["PMH"],
                                                     "rationale": "clash"})),
    ("templates.yaml", lambda d: d["answers"]["no"].append("y")),
    ("templates.yaml", lambda d: d.update(max_question_chars=-1)),
    ("templates.yaml", lambda d: d.pop("rationale")),
    ("templates.yaml", lambda d: d["spaced"].append("y/n")),
    ("templates.yaml", lambda d: d.pop("spaced")),
    ("note-format.yaml", lambda d: d.update(wrap_width=3)),
    ("note-format.yaml", lambda d: d.pop("max_sentence_tokens")),
    ("note-format.yaml", lambda d: d.update(max_sentence_tokens="256")),
    ("note-format.yaml", lambda d: d.pop("max_text_chars")),
    ("note-format.yaml", lambda d: d.update(sentence_ends=[])),
    ("language-sources.yaml", lambda d: d["sources"]["MEDSPACY"].update(url="http://insecure")),
    ("background.yaml", lambda d: d["kinds"]["habit"]["patterns"].append("(unclosed")),
    ("background.yaml", lambda d: d["kinds"]["habit"].update(patterns=[])),
    ("background.yaml", lambda d: [d["kinds"]["allergy"].pop(k) for k in ("source", "rationale")]),
    ("background.yaml", lambda d: d.update(kinds=[])),
])
def test_bad_rule_data_stops_startup(language: Path, name: str, breaker: Any) -> None:
    path = language / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    breaker(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigurationError):
        load_assertion_engine_from(language)


@pytest.mark.parametrize("name", LANGUAGE_FILES)
def test_a_missing_or_unparseable_file_stops_startup(language: Path, name: str) -> None:
    (language / name).write_text("rules: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigurationError):
        load_assertion_engine_from(language)
    (language / name).unlink()
    with pytest.raises(ConfigurationError):
        load_assertion_engine_from(language)


HUSBAND = "husband admitted on Sunday with a stroke, his left side is weak and he can't walk, she is worried"


@pytest.mark.parametrize(("text", "span", "sex", "experiencer"), [
    # a pronoun of the other sex than the patient's cannot be the patient: the relative's scope goes on
    (HUSBAND, "left side is weak", "female", "other"),
    (HUSBAND, "can't walk", "female", "other"),
    # the same words for a man, or with the sex unknown: ConText's pronoun end, the patient's
    (HUSBAND, "left side is weak", "male", "patient"),
    (HUSBAND, "left side is weak", None, "patient"),
    # the patient's own pronoun ends the relative's scope
    ("mother had MS; she has weak legs", "weak legs", "female", "patient"),
    ("grandad had a stroke, she now has weak legs", "weak legs", "female", "patient"),
    # the body part a pronoun owns may stand between it and the finding ("his L arm and L leg")
    ("full-time carer for husband since his stroke in March - his L arm and L leg are weak", "leg are weak", "female",
     "other"),
    ("full-time carer for husband since his stroke in March - his L arm and L leg are weak", "leg are weak", "male",
     "patient"),
    # no relative named before: a pronoun alone changes nothing (a note's slip of gender)
    ("his legs have been weak for 3 days", "legs have been weak", "female", "patient"),
])
def test_a_pronoun_of_the_other_sex_is_not_the_patient(engine: AssertionEngine, text: str, span: str,
                                                       sex: str | None, experiencer: str) -> None:
    start = text.index(span)
    assert engine.assess(text, [(start, start + len(span))], sex)[0].experiencer == experiencer


def _scopes_both_ways(engine: AssertionEngine, text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The modifier scopes of ``text`` per sentence, set by medspaCy's ``update_scopes`` and by
    ours (built twice from the same trigger matches)."""
    from medspacy.common.util import prune_overlapping_matches
    from medspacy.context import ConTextGraph

    from cds_service.clinical.modifiers import _update_scopes

    doc = engine.make_note(text).doc
    context = engine._context
    matches = prune_overlapping_matches(context._raw_matcher(doc))
    theirs, ours = [], []
    for sentence in doc.sents:
        inside = [m for m in matches if sentence.start <= m[1] < sentence.end]
        reference = [context._modifier(*m, doc) for m in inside]
        ConTextGraph(targets=[], modifiers=reference, prune_on_modifier_overlap=False).update_scopes()
        mine = [context._modifier(*m, doc) for m in inside]
        _update_scopes(mine)
        theirs += [m.scope_span for m in reference]
        ours += [m.scope_span for m in mine]
    return theirs, ours


def test_scopes_are_medspacys_with_the_idle_comparisons_skipped(engine: AssertionEngine) -> None:
    """Skipping the modifier pairs that cannot limit each other (modifiers._update_scopes) sets
    every scope as medspaCy's all-pairs ``update_scopes`` does, on random runs of the triggers
    of every category and direction mixed with words and punctuation."""
    import random

    literals = sorted({rule.literal for rule in engine._context._raw_matcher.rule_map.values()})
    filler = ["leg", "weakness", "pain", "fever", ",", "and", "the", "back", ":", "-", "today"]
    rng = random.Random(15)
    texts = [" ".join(rng.choice(literals if rng.random() < 0.5 else filler) for _ in range(rng.randint(3, 60)))
             for _ in range(400)]
    compared = 0
    for text in texts:
        theirs, ours = _scopes_both_ways(engine, text)
        assert ours == theirs, text
        compared += len(theirs)
    assert compared > 5000  # the runs hold many modifiers, not a few


@pytest.mark.parametrize("unit", ["no ", "but no ", "legs weak no ", "(", "a(", "-", "denies weakness but ",
                                  "history of ", "Weakness: N\n", "no, ", "no fever, "])
def test_hostile_text_is_read_in_linear_time(engine: AssertionEngine, unit: str) -> None:
    """20 000 characters of one trigger, bracket or separator repeated are read in about the
    time of ordinary note text (each of these took from 2 s to over 30 s when scopes were
    compared pairwise and long runs were tokenized whole); the bound is generous for CI."""
    import time

    text = "weak legs " + unit * (20_000 // len(unit))
    engine.assess(text[:2000], [(0, 9)])  # warm
    started = time.perf_counter()
    engine.assess(text, [(0, 9)])
    assert time.perf_counter() - started < 4.0
