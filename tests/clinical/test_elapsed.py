"""days_ago: how far back a relative time cue points, and nothing for cues that name no span."""
from __future__ import annotations

from datetime import date

import pytest

from cds_service.clinical.elapsed import dated_long_ago, days_ago, days_since_labelled_date, told_as_past


@pytest.mark.parametrize(("cue", "days"), [
    ("three weeks ago", 21),
    ("2 days ago", 2),
    ("a couple of weeks ago", 14),
    ("six months back", 180),
    ("a fortnight ago", 14),
    ("last week", 14),
    ("the past month", 60),
    ("yesterday", 1),
    ("Ten Days Ago", 10),
])
def test_relative_cues_give_their_far_end(cue: str, days: int | None) -> None:
    assert days_ago(cue) == days


@pytest.mark.parametrize("cue", ["in 2010", "history of", "previously", "as a child", "many weeks ago", ""])
def test_cues_without_a_span_give_none(cue: str) -> None:
    assert days_ago(cue) is None


LABELS = ("discharged", "date of discharge")
TODAY = date(2026, 11, 29)


@pytest.mark.parametrize(("text", "days"), [
    ("Admitted: 08/11/2026    Discharged: 13/11/2026", 16),
    ("Date of discharge 2026-11-28", 1),
    # day/month or month/day: the nearer reading (11 Aug or 8 Nov), so the text is old only if both are
    ("Discharged: 08/11/2026", 21),
    ("Discharged: 11/28/2026", 1),
    ("DISCHARGED 31.10.2026", 29),
])
def test_a_labelled_end_of_care_date_gives_its_age(text: str, days: int) -> None:
    assert days_since_labelled_date(text, LABELS, TODAY) == days


@pytest.mark.parametrize("text", ["Discharged home with family", "Admitted: 08/11/2026", "discharged: 99/99/2026", ""])
def test_no_labelled_date_gives_none(text: str) -> None:
    assert days_since_labelled_date(text, LABELS, TODAY) is None



@pytest.mark.parametrize(("text", "old"), [
    ("R MCA infarct (19/10/26)", True), ("CVA 03/2024", True), ("stroke 2026-11-27", False),
    ("TIA 28/11/2026", False), ("no date here", False), ("BP 128/74", False), ("stroke in March 2020", True),
    ("seen Nov 2026", False), ("May 2019", True),
])
def test_a_written_date_more_than_two_weeks_back(text: str, old: bool) -> None:
    assert dated_long_ago(text, TODAY) is old


@pytest.mark.parametrize(("text", "old"), [
    ("weak since 19/10/26", False), ("onset: 03/2024", False), ("Presented 19/10/26 with", True),
])
def test_a_date_that_starts_a_continuing_complaint_dates_no_past_event(text: str, old: bool) -> None:
    assert dated_long_ago(text, TODAY) is old


@pytest.mark.parametrize(("before", "after", "past"), [
    ("Presented 29/09/26 with fever, severe ", "", True),
    ("Admitted on 01/10/26 with ", " and back pain", True),
    ("Admitted 01/10/26 with back pain, now ", "", False),
    ("Seen 01/10/26 with ", ", which persists", False),
    ("Referral letter 01/10/26: ", "", False),
    ("In March 2020 she had a stroke with ", "", True),  # a sentence that opens with its date
    ("Weak since March 2020 and ", "", False),
    ("Presented 2026-11-23 with ", "", False),
    # what followed the mention began on that date: the mention is older still
    ("Query: clopidogrel 75 mg OD (started 08/2022 after a ", " - fully resolved)", True),
    ("Apixaban started 28/11/2026 after a ", "", False),  # within two weeks
    ("Started 08/2022 after a ", ", now weak again", False),
    # a past year that opens the clause, with a past event of the person
    ("Past medical history in more detail: in 2011 he had a ", " from an L4/5 disc and a decompression", True),
    ("In 2019, she underwent ", "", True),
    ("In 2019 she had a ", " and today sudden onset L leg weakness", False),
    ("In 2026 she had a ", "", False),  # this year: it may have been last week
    ("In 2024 we started dex for ", "", False),
    ("In 2024 she had a fall and presents with ", "", False),  # "and" starts today's account
    ("In 2025 he had a ", " 3 hours ago, pulseless", False),
])
def test_told_as_past_is_an_earlier_dated_encounter(before: str, after: str, past: bool) -> None:
    assert told_as_past(before, after, TODAY) is past
