"""Blueprint: patient handout pages, ``GET /patient-education/<name>``.

A service's anchor card links to its handout (an ``absolute`` link), so a clinician can
hand the patient a plain-language page on a phone; the leg-weakness service serves
``/patient-education/leg-weakness``. Content is the service's data (``cards/handout.yaml``);
this module only renders it, escaping every string, so the page carries no script and
no markup that the data did not intend. Pages are rendered once, at start-up.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from flask import Blueprint, Response

from ..errors import ConfigurationError, NotFoundError
from ..services.service import Handout
from .state import get_state

bp = Blueprint("education", __name__)

PREFIX = "/patient-education/"

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.55;margin:0;color:#1b1b1b;
background:#fff}
main{max-width:40rem;margin:0 auto;padding:1rem 1.1rem 3rem;font-size:1.1rem}
h1{font-size:1.8rem;margin:.6rem 0}h2{font-size:1.3rem;margin-top:1.8rem;border-top:1px solid #ddd;padding-top:1rem}
li{margin:.35rem 0}nav ul{padding-left:1.2rem}a{color:#0b57a4}
section#urgent{background:#fdecea;border-left:6px solid #c00;padding:.2rem 1rem .6rem;margin-top:1.5rem}
section#urgent h2{border-top:0;color:#8a0000}
footer{font-size:.9rem;color:#555;margin-top:2rem}
"""


def render_handouts(handouts: Iterable[Handout]) -> dict[str, str]:
    """path -> rendered page, for every service's handouts.

    Raises:
        ConfigurationError: a handout path outside ``/patient-education/``, or used twice.
    """
    pages: dict[str, str] = {}
    for handout in handouts:
        if not handout.path.startswith(PREFIX) or "/" in handout.path[len(PREFIX):] or handout.path in pages:
            raise ConfigurationError(f"handout path {handout.path!r} must be {PREFIX}<name> and unique")
        sources = {sid: {"title": s.title, "url": s.url} for sid, s in handout.sources.items()}
        pages[handout.path] = render_page(handout.content, sources)
    return pages


def render_page(data: Mapping[str, Any], sources: Mapping[str, Any]) -> str:
    """Render handout content; every string from the data is HTML-escaped."""
    title = escape(str(data["title"]))
    toc = "".join(f'<li><a href="#{escape(s["id"])}">{escape(s["heading"])}</a></li>' for s in data["sections"])
    body = "".join(_section(s) for s in data["sections"])
    cited = "".join(f"<li>{escape(sources[s]['title'])}</li>" for s in data.get("sources", ()) if s in sources)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}: information for patients</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{title}</h1><p>{escape(str(data['intro']))}</p>"
        f'<nav aria-label="On this page"><ul>{toc}</ul></nav>{body}'
        f"<footer><p>{escape(str(data['footer']))}</p><ul>{cited}</ul></footer>"
        "</main></body></html>\n"
    )


def _section(section: dict[str, Any]) -> str:
    paragraphs = "".join(f"<p>{escape(str(p))}</p>" for p in section.get("paragraphs", ()))
    items = section.get("items", ())
    listing = ("<ul>" + "".join(f"<li>{escape(str(i))}</li>" for i in items) + "</ul>") if items else ""
    return (f'<section id="{escape(str(section["id"]))}"><h2>{escape(str(section["heading"]))}</h2>'
            f"{paragraphs}{listing}</section>")


@bp.get(PREFIX + "<name>")
def handout(name: str) -> Response:
    page = get_state().handouts.get(PREFIX + name)
    if page is None:
        raise NotFoundError(f"no patient handout {name!r}")
    response = Response(page, mimetype="text/html")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
