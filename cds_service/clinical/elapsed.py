"""How long ago a relative time cue puts something: "three weeks ago" -> 21 days.

The assertion rules say *that* a mention is in the past; some concepts also need *how far*
back. An antecedent infection is the GBS cue precisely because it was 1-6 weeks ago [S13], so
"Campylobacter three weeks ago" must count and "flu in 2010" must not. Only relative cues
are read (a number or number word and a unit, then "ago" or "back"; "last week"; "yesterday");
anything else (a year, "history of") is not a duration, and the mention stays in the past.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "few": 3, "couple": 2, "several": 4}
_UNIT_DAYS = {"day": 1, "week": 7, "fortnight": 14, "month": 30, "year": 365}
_AGO = re.compile(r"\b(\d+|[a-z]+)(?:\s+of)?\s+(day|week|fortnight|month|year)s?\s+(?:ago|back|previously|before)\b")
_LAST = re.compile(r"\b(?:last|past|previous)\s+(day|week|fortnight|month|year)\b")
_YESTERDAY = re.compile(r"\byesterday\b")


def days_ago(text: str) -> int | None:
    """Days back a relative time cue points (the far end of a range), or None if it names none."""
    low = text.lower()
    found = _AGO.search(low)
    if found is not None:
        count = int(found.group(1)) if found.group(1).isdigit() else _NUMBERS.get(found.group(1))
        return None if count is None else count * _UNIT_DAYS[found.group(2)]
    found = _LAST.search(low)
    if found is not None:
        return 2 * _UNIT_DAYS[found.group(1)]  # "last week" is at most two weeks back
    return 1 if _YESTERDAY.search(low) else None


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
#: a written date: 2026-11-13, 13/11/2026, 19/10/26, 03/2024 or March 2020
_DATE = (r"(?<![\d/.-])(?:(\d{4})-(\d{1,2})-(\d{1,2})"
         r"|(\d{1,2})[/.](\d{1,2})[/.](\d{4}|\d{2})|(\d{1,2})/(\d{4})"
         r"|(?i:\b(jan|feb|mar|apr|may|jun|jul|aug|sept?|oct|nov|dec)[a-z]*\.?\s+((?:19|20)\d\d)))(?![\d/.-])")
_ANY_DATE = re.compile(_DATE)
#: ConText's line between recent and historical: begun more than two weeks before the visit
HISTORICAL_AFTER_DAYS = 14


def _days_back(found: re.Match[str], today: date) -> int | None:
    """Days from the date of ``found`` (a ``_DATE`` match) to ``today``. A day/month date that
    reads both ways (08/11/2026) takes its nearer reading, so a text is put in the past only
    when every reading is; None when no reading is a real date."""
    iso_y, iso_m, iso_d, a, b, year, month, month_year, month_name, named_year = found.groups()[-10:]
    if iso_y:
        readings = [(int(iso_y), int(iso_m), int(iso_d))]
    elif month_name or month:  # a month: its first and last days, the nearer counts
        y, m = ((int(named_year), _MONTHS.index(month_name.lower()[:3]) + 1) if month_name
                else (int(month_year), int(month)))
        readings = [(y, m, 1), (y, m, 28)]
    else:
        y = int(year) + (2000 if len(year) == 2 else 0)
        readings = [(y, int(b), int(a)), (y, int(a), int(b))]
    days = []
    for y, m, d in readings:
        try:
            days.append((today - date(y, m, d)).days)
        except ValueError:
            continue  # 13/11 read as month 13
    return min(days, key=abs) if days else None


def days_since_labelled_date(text: str, labels: Iterable[str], today: date) -> int | None:
    """Days from the date written after one of ``labels`` ("Discharged: 13/11/2026") to
    ``today`` (``_days_back``); None when no such date is written."""
    words = "|".join(re.escape(label) for label in labels)
    if not words:
        return None
    found = re.search(rf"\b(?:{words})\s*[:=-]?\s*{_DATE}", text, re.IGNORECASE)
    return None if found is None else _days_back(found, today)


#: a date after these words is when a complaint that continues began ("weak since 01/10/26")
_ONSET_BEFORE = re.compile(r"\b(?:since|from|started|starting|began|beginning|onset|commenced)\s*(?:on\s*)?[:=-]?\s*$",
                           re.IGNORECASE)
#: an earlier encounter, then its date within a few words ("Presented 29/09/26", "admitted on 01/10/26")
_PAST_ENCOUNTER = re.compile(r"\b(?:presented|admitted|attended|seen|reviewed|treated|hospitali[sz]ed|diagnosed|"
                             r"discharged|operated|underwent|had)\b(?:\s+[^\s.;:]+){0,3}?\s*$", re.IGNORECASE)
#: a sentence that opens with its date tells of that time ("In March 2020 she had a stroke")
_SENTENCE_OPENING = re.compile(r"\s*(?:(?:back\s+)?in|on|during|early|late|mid)?\s*", re.IGNORECASE)
#: words that bring a dated account back to today ("Seen 01/10/26 for back pain, now weak legs")
_BACK_TO_TODAY = re.compile(r"\b(?:now|today|tonight|currently|presently|at\s+present|since\s+then|this\s+(?:morning|"
                            r"afternoon|evening|week)|yesterday|last\s+night|still|again|persist\w*|remain\w*|"
                            r"continu\w*|ongoing|worse\w*|return\w*|re-?presents?\w*)\b", re.IGNORECASE)


def dated_long_ago(text: str, today: date) -> bool:
    """Whether ``text`` writes a date (2024-03-01, 19/10/26, 03/2024) more than two weeks
    before ``today`` (ConText's historical line), in its nearer reading (``_days_back``). A date
    that starts a complaint which continues ("since 01/10/26") dates no past event."""
    return any((days := _days_back(found, today)) is not None and days > HISTORICAL_AFTER_DAYS
               and not _ONSET_BEFORE.search(text, 0, found.start())
               for found in _ANY_DATE.finditer(text))


#: a date right before "after" / "following" and the mention: what followed the mention began
#: then, so the mention is older still ("clopidogrel started 08/2022 after a TIA")
_DATED_BY_WHAT_FOLLOWED = re.compile(r"\s+(?:after|following)\s+(?:(?:a|an|the|his|her|their)\s+)?", re.IGNORECASE)
#: "since" or "from" before such a date: a complaint that goes on since then ("back pain since
#: 02/11/2026 after a fall"), whose cause is no past event of its own
_CONTINUING_BEFORE = re.compile(r"\b(?:since|from|ongoing)\s*(?:on\s*)?[:=-]?\s*$", re.IGNORECASE)


#: a clause that opens with a year and a past event of the person ("in 2011 he had a cauda equina
#: syndrome", "In 2019, she underwent ..."): the event is of that year
_YEAR_OPENING = re.compile(r"(?:^|[:;,]\s*)\s*(?:back\s+)?in\s+((?:19|20)\d\d),?\s+(?:he|she|they|i|pt|patient)\s+"
                           r"(?:had|underwent|suffered|sustained)\b"
                           r"(?:\s+(?!(?:and|then|but|or|with|since|developed|presents?|presented|has|have|is|are|was|"
                           r"were|woke|now)\b)[^\s.;:,]+){0,6}?\s*$", re.IGNORECASE)
#: a time of today's events after the mention ("3 hours ago", "since 06:00", "over the last 48 hours")
_RECENT_TIME = re.compile(r"\b\d+\s*(?:min(?:ute)?s?|h|hrs?|hours?|days?)\s+ago\b|"
                          r"\b(?:over|in)\s+the\s+(?:last|past)\b|\bsince\s+\d|\bat\s+\d{1,2}[:.]?\d\d\b|\bfor\s+(?:\d+|a\s+few|two|three|four)\s+(?:days?|hours?)\b",
                          re.IGNORECASE)


def _in_a_past_year(before: str, after: str, today: date) -> re.Match[str] | None:
    """The year phrase opening the mention's clause, with the mention in the object of its verb
    ("in 2011 he had a"; in "In 2024 she had a fall and presents with ..." the "and" starts today's
    account), when the whole of that year lies more than two weeks before ``today`` ("In 2026 she
    had" in December 2026 may be last week) and no time of today follows ("... 3 hours ago")."""
    found = _YEAR_OPENING.search(before)
    if found is None or _RECENT_TIME.search(after):
        return None
    days = (today - date(int(found.group(1)), 12, 31)).days
    return found if days > HISTORICAL_AFTER_DAYS else None


def told_as_past(before: str, after: str, today: date) -> bool:
    """Whether a mention is told as part of an earlier encounter: the words of its sentence
    before it date one more than two weeks back, after an encounter verb ("Presented 29/09/26 with
    fever, back pain and leg weakness"; a dated letter heading is no encounter), at the
    sentence's opening ("In March 2020 she had a stroke with left-sided weakness"), as a past year
    opening the clause ("in 2011 he had a cauda equina syndrome", ``_in_a_past_year``) or as the
    start of what followed the mention ("started 08/2022 after a TIA"), and no word after that
    date, nor after the mention, brings the account back to today ("..., now ...")."""
    dates = [found for found in _ANY_DATE.finditer(before)
             if ((_PAST_ENCOUNTER.search(before, 0, found.start())
                  or _SENTENCE_OPENING.fullmatch(before[:found.start()]))
                 and dated_long_ago(before[:found.end()], today))
             or (_DATED_BY_WHAT_FOLLOWED.fullmatch(before, found.end())
                 and not _CONTINUING_BEFORE.search(before, 0, found.start())
                 and (_days_back(found, today) or 0) > HISTORICAL_AFTER_DAYS)]
    year = _in_a_past_year(before, after, today)
    ends = [d.end() for d in dates] + ([year.end(1)] if year is not None else [])
    return bool(ends) and not _BACK_TO_TODAY.search(before, max(ends)) and not _BACK_TO_TODAY.search(after)
