"""The usage report as one self-contained HTML page with charts, for a CDS or safety committee.

The charts are Vega-Lite specifications rendered to SVG by vl-convert (an offline
renderer; no JavaScript, CDN or font download at view time) and inlined in the page, so the
file can be mailed or archived and opened anywhere. A Content-Security-Policy that allows
nothing external makes the browser enforce that. Every text from the database (topics,
override codes from the EHR) is escaped: by ``html.escape`` in the page, by the renderer in
the SVG.

Rates are shares of the cards *shown* that week (accepted + overridden + no feedback = 1),
unlike the table's acceptance rate, which counts only cards that got feedback.
"""
from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ..errors import ConfigurationError
from .report import Report, Trends, WeekRow

_WIDTH, _HEIGHT = 560, 220
_WEEK_AXIS = {"title": "Week starting (UTC)", "labelAngle": -40}
_LEGEND = {"labelLimit": 320}
_RATES = (("accepted", "Acceptance rate", "accepted"), ("overridden", "Override rate", "overridden"),
          ("no_feedback", "No-feedback rate", "no feedback"))
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #1b1b1b; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; } figcaption { font-weight: 600; margin-bottom: 0.25rem; }
figure svg { max-width: 100%; height: auto; overflow: visible; }  /* text may measure wider in the browser */
.empty { color: #555; font-style: italic; } .note { color: #444; font-size: 0.9rem; }
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render_html(report: Report, trends: Trends, generated: datetime | None = None) -> str:
    """The whole page: summary tables and the five chart sections.

    Raises:
        ConfigurationError: vl-convert-python (the ``report`` extra) is not installed.
    """
    svg = _renderer()
    generated = generated or datetime.now(timezone.utc)
    period = f"since {report.since.isoformat()}" if report.since else "all recorded calls"
    sections = [
        _section("summary", "Cards per topic", _topic_table(report)),
        _section("rates", "Acceptance, override and no-feedback rates per topic, per week",
                 "".join(_rate_chart(svg, trends.weeks, *rate) for rate in _RATES)
                 + '<p class="note">Share of the cards shown that week. No feedback is what the '
                 "CDS Hooks specification expects for a card that was ignored.</p>"),
        _section("override-reasons", "Override reasons", _reasons_chart(svg, trends)),
        _section("red-flags", "Red-flag cards per week", _red_flag_chart(svg, trends.red_flags_per_week())),
        _section("latency", "Latency percentiles per stage", _latency_chart(svg, trends) + _service_table(report)),
    ]
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            "<title>CDS service report: card outcomes and latency</title>\n"
            f"<style>{_STYLE}</style>\n</head>\n<body>\n"
            "<h1>CDS service report: card outcomes and latency</h1>\n"
            f'<p class="note">Period: {_e(period)} (UTC). Generated {_e(generated.isoformat(timespec="seconds"))}. '
            f"Feedback for unknown cards: {report.feedback_unknown_card}.</p>\n"
            + "\n".join(sections) + "\n</body>\n</html>\n")


def _renderer() -> Any:
    try:
        import vl_convert
    except ImportError:
        raise ConfigurationError("the HTML report needs vl-convert-python: "
                                 "pip install 'cds-service[report]'") from None
    return vl_convert.vegalite_to_svg


def _chart(svg: Any, chart_id: str, caption: str, spec: dict[str, Any]) -> str:
    body = svg({"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "width": _WIDTH,
                "height": _HEIGHT, "config": {"font": "sans-serif"}, **spec})
    return (f'<figure class="chart" id="chart-{chart_id}"><figcaption>{_e(caption)}</figcaption>\n'
            f"{body}\n</figure>")


def _empty(chart_id: str, caption: str, why: str) -> str:
    return (f'<figure class="chart empty-chart" id="chart-{chart_id}"><figcaption>{_e(caption)}</figcaption>'
            f'<p class="empty">{_e(why)}</p></figure>')


def _rate_chart(svg: Any, weeks: Iterable[WeekRow], field: str, title: str, label: str) -> str:
    chart_id = "rate-" + field.replace("_", "-")
    values = [{"week": w.week.isoformat(), "topic": w.topic, "rate": getattr(w, field) / w.shown, "shown": w.shown}
              for w in weeks if w.shown]
    if not values:
        return _empty(chart_id, title, "No cards were shown in this period.")
    return _chart(svg, chart_id, f"{title} (share of cards shown that were {label})", {
        "data": {"values": values},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "week", "type": "ordinal", "axis": _WEEK_AXIS, "sort": "ascending"},
            "y": {"field": "rate", "type": "quantitative", "title": f"{title} (share of cards shown)",
                  "scale": {"domain": [0, 1]}, "axis": {"format": "%"}},
            "color": {"field": "topic", "type": "nominal", "title": "Card topic", "legend": _LEGEND},
        },
    })


def _reasons_chart(svg: Any, trends: Trends) -> str:
    # The code alone labels the bar (systems are long URLs); the table above gives system|code.
    values = [{"reason": r.reason.rsplit("|", 1)[-1], "topic": r.topic, "count": r.count} for r in trends.reasons]
    caption = "Override reasons given by clinicians (latest feedback per card)"
    if not values:
        return _empty("override-reasons", caption, "No card was overridden in this period.")
    return _chart(svg, "override-reasons", caption, {
        "data": {"values": values},
        "mark": "bar",
        "encoding": {
            "y": {"field": "reason", "type": "nominal", "title": "Override reason (code)", "sort": "-x"},
            "x": {"field": "count", "type": "quantitative", "title": "Cards overridden",
                  "axis": _count_axis(_largest_sum(values, "reason", "count"))},
            "color": {"field": "topic", "type": "nominal", "title": "Card topic", "legend": _LEGEND},
        },
    })


def _red_flag_chart(svg: Any, rows: list[WeekRow]) -> str:
    caption = "Red-flag cards shown per week, by topic"
    if not rows:
        return _empty("red-flags", caption, "No red-flag card was shown in this period.")
    seen = {(r.week, r.topic) for r in rows}
    topics = sorted({r.topic for r in rows})
    # Weeks without a red flag are drawn as zero, so quiet weeks are visible as such.
    zeros = [{"week": w.isoformat(), "topic": t, "cards": 0}
             for w in _weeks_between(min(r.week for r in rows), max(r.week for r in rows))
             for t in topics if (w, t) not in seen]
    values = [{"week": r.week.isoformat(), "topic": r.topic, "cards": r.shown} for r in rows] + zeros
    return _chart(svg, "red-flags", caption, {
        "data": {"values": values},
        "mark": "bar",
        "encoding": {
            "x": {"field": "week", "type": "ordinal", "axis": _WEEK_AXIS, "sort": "ascending"},
            "y": {"field": "cards", "type": "quantitative", "title": "Red-flag cards shown",
                  "axis": _count_axis(_largest_sum(values, "week", "cards"))},
            "color": {"field": "topic", "type": "nominal", "title": "Red-flag topic", "legend": _LEGEND},
        },
    })


def _largest_sum(values: list[dict[str, Any]], key: str, field: str) -> int:
    """The tallest stacked bar: the largest sum of ``field`` over rows sharing ``key``."""
    sums: dict[Any, int] = {}
    for v in values:
        sums[v[key]] = sums.get(v[key], 0) + int(v[field])
    return max(sums.values(), default=0)


def _count_axis(largest: int) -> dict[str, Any]:
    """Whole-number ticks for counts (a count axis reading 0.5 cards is nonsense)."""
    step = max(1, -(-largest // 8))
    return {"values": list(range(0, largest + step, step)), "format": "d"}


def _weeks_between(first: date, last: date) -> list[date]:
    return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def _latency_chart(svg: Any, trends: Trends) -> str:
    caption = "Latency percentiles per pipeline stage (nearest rank, ms)"
    values = [{"stage": s.stage, "percentile": name, "ms": value}
              for s in trends.latency
              for name, value in (("p50", s.p50_ms), ("p90", s.p90_ms), ("p99", s.p99_ms)) if value is not None]
    if not values:
        return _empty("latency", caption, "No hook call was recorded in this period.")
    return _chart(svg, "latency", caption, {
        "data": {"values": values},
        "mark": "bar",
        "encoding": {
            "x": {"field": "stage", "type": "nominal", "title": "Stage", "sort": [s.stage for s in trends.latency],
                  "axis": {"labelAngle": 0}},
            "xOffset": {"field": "percentile", "sort": ["p50", "p90", "p99"]},
            "y": {"field": "ms", "type": "quantitative", "title": "Latency (ms)"},
            "color": {"field": "percentile", "type": "nominal", "title": "Percentile",
                      "sort": ["p50", "p90", "p99"], "legend": _LEGEND},
        },
    })


def _topic_table(report: Report) -> str:
    if not report.topics:
        return '<p class="empty">No cards were shown in this period.</p>'
    rows = "".join(
        f"<tr><td>{_e(t.topic)}</td>{_n(t.shown)}{_n(t.accepted)}{_n(t.overridden)}{_n(t.no_feedback)}"
        f"<td class=\"n\">{'-' if t.acceptance_rate is None else f'{t.acceptance_rate:.1%}'}</td>"
        f"<td>{_e('; '.join(f'{k} = {v}' for k, v in sorted(t.override_reasons.items())) or '-')}</td></tr>"
        for t in report.topics)
    return ("<table><thead><tr><th>Topic</th><th>Shown</th><th>Accepted</th><th>Overridden</th>"
            "<th>No feedback</th><th>Acceptance (of answered)</th><th>Override reasons</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _service_table(report: Report) -> str:
    if not report.services:
        return ""
    rows = "".join(
        f"<tr><td>{_e(s.service_id)}</td>{_n(s.calls)}{_n(s.status_412)}{_n(s.overruns)}{_n(s.errors)}"
        f"{_n(s.p50_ms)}{_n(s.p90_ms)}{_n(s.p99_ms)}</tr>" for s in report.services)
    return ("<table><thead><tr><th>Service</th><th>Calls</th><th>412</th><th>Overruns</th><th>5xx</th>"
            "<th>p50 ms</th><th>p90 ms</th><th>p99 ms</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}">\n<h2>{_e(title)}</h2>\n{body}\n</section>'


def _n(value: float | int | None) -> str:
    return f'<td class="n">{"-" if value is None else value}</td>'


def _e(text: str) -> str:
    return html.escape(text, quote=True)
