"""Jinja2 templates, the static files of the pages, and content negotiation (HTML for browsers, JSON for clients).

Everything a page needs is served by this app: no CDN, no web font, no outside image, so the pages work on an
observatory network without internet. The few lines of JavaScript (posting a label) live in ``static/lcad.js``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
STATIC_URL = "/static/lcad"

templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
templates.env.globals["static"] = STATIC_URL


def wants_html(request: Request) -> bool:
    """True when the client names HTML in ``Accept`` (browsers do); API clients (``*/*`` or JSON) get JSON."""
    return "text/html" in request.headers.get("accept", "")
