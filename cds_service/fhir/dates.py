"""FHIR date, dateTime and instant values as calendar dates: the one parser every layer uses.

FHIR R4 allows partial dates (``2020``, ``2020-05``) and date-times with or without a zone
(``2020-05-03T10:00:00+02:00``). A decision needs a calendar day: a partial date counts
from its first day (the earliest the event can have happened), and a zoned date-time
is read as its UTC day, so the same instant gives the same day on every server.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any


def to_date(value: Any) -> date | None:
    """The calendar day of a FHIR date/dateTime/instant (a model value or its JSON string).

    Returns None for an absent or unreadable value (never raises: a bad date in data we
    only read for recency must not fail a call).
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if len(text) > 10:
            return to_date(datetime.fromisoformat(text.replace("Z", "+00:00")))
        if len(text) == 10:
            return date.fromisoformat(text)
        if len(text) == 7:
            return date(int(text[:4]), int(text[5:7]), 1)
        if len(text) == 4:
            return date(int(text), 1, 1)
    except ValueError:
        return None
    return None
