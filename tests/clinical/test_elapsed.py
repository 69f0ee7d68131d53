"""days_ago: how far back a relative time cue points, and nothing for cues that name no span."""
from __future__ import annotations

import pytest

from cds_service.clinical.elapsed import days_ago


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
