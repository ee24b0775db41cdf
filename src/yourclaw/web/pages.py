"""The pages: static HTML assembled once at start-up from a layout, partials and one file per page, with the
public configuration embedded as JSON. Everything else happens in the browser through /api/v1.

The signed-in pages answer a redirect to /login when the session cookie is missing, forged or expired: a
cheap signature check, no database. The scripts handle a 401 from the API the same way.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import msgspec
from litestar import MediaType, Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from yourclaw.accounts import web_session
from yourclaw.kit.di import SettingsDep
from yourclaw.kit.settings import Settings
from yourclaw.web.config import public_config

HERE = Path(__file__).parent
PAGES_DIR = HERE / "pages"
STATIC_DIR = HERE / "static"

_PARTIAL = re.compile(r"\{\{>\s*([a-z_]+)\s*\}\}")


@dataclass(frozen=True)
class Page:
    route: str
    file: str
    signed_in: bool = False


PAGES = (
    Page("/", "index.html"),
    Page("/features", "features.html"),
    Page("/pricing", "pricing.html"),
    Page("/privacy", "privacy.html"),
    Page("/terms", "terms.html"),
    Page("/login", "login.html"),
    Page("/auth/callback", "callback.html"),
    Page("/onboarding", "onboarding.html", signed_in=True),
    Page("/dashboard", "dashboard.html", signed_in=True),
)


def _security_headers(settings: Settings) -> dict[str, str]:
    # Scripts and styles only from this origin: no inline script runs, nothing is fetched from elsewhere.
    # Navigations to Supabase (sign-in) and Stripe (checkout) are page loads, which this does not restrict.
    return {
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
            "frame-ancestors 'none'; form-action 'self'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }


def _split_front_matter(text: str) -> tuple[dict[str, str], str]:
    meta: dict[str, str] = {}
    head, sep, body = text.partition("\n---\n")
    if not sep:
        return meta, text
    for line in head.splitlines():
        key, _, value = line.partition(":")
        if key.strip():
            meta[key.strip()] = value.strip()
    return meta, body


def render(file: str, settings: Settings, extra: dict[str, str] | None = None) -> str:
    """One page: the layout around the page's body, partials filled in, the public config as inert JSON.
    `extra`: values for the page's own {{name}} placeholders (plain text, escaped here)."""
    text = (PAGES_DIR / file).read_text()
    if extra:
        text = re.sub(
            r"\{\{\s*([a-z_]+)\s*\}\}",
            lambda m: html.escape(extra[m.group(1)]) if m.group(1) in extra else m.group(0),
            text,
        )
    meta, body = _split_front_matter(text)
    body = _PARTIAL.sub(lambda m: (PAGES_DIR / f"_{m.group(1)}.html").read_text(), body)
    scripts = "".join(
        f'<script type="module" src="/static/js/{name.strip()}"></script>'
        for name in meta.get("scripts", "").split(",")
        if name.strip()
    )
    # Escaping "<" keeps a value such as "</script>" from ending the JSON block early.
    config = msgspec.json.encode(public_config(settings)).decode().replace("<", "\\u003c")
    layout = (PAGES_DIR / "_layout.html").read_text()
    values = {
        "title": meta.get("title", "YourClaw"),
        "description": meta.get("description", ""),
        "body_class": meta.get("body_class", ""),
        "scripts": scripts,
        "config": config,
        "body": body,
    }
    return re.sub(r"\{\{\s*([a-z_]+)\s*\}\}", lambda m: values.get(m.group(1), m.group(0)), layout)


_ERRORS = {
    404: ("Page not found", "There is nothing at this address. It may have moved, or the link may be mistyped."),
    405: ("Page not found", "There is nothing to open at this address."),
}
_SERVER_ERROR = (
    "Something went wrong on our side",
    "We could not show this page just now. Your assistant and your data are not affected; try again in a minute.",
)


@functools.lru_cache(maxsize=16)
def _error_html(status: int, settings: Settings) -> str:
    title, text = _ERRORS.get(status) or (
        _SERVER_ERROR if status >= 500 else ("This page cannot be shown", "Go back and try again.")
    )
    return render("error.html", settings, {"status": str(status), "error_title": title, "error_text": text})


def wants_page(request: Request) -> bool:
    """A browser navigating to a page (not a script, not the API, not an asset) is shown an error page;
    everything else keeps the JSON envelope."""
    path = request.url.path
    if path.startswith(("/api/", "/llm/", "/static/")) or request.method not in ("GET", "HEAD"):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(status: int, settings: Settings) -> Response:
    """The branded page for a browser navigation that ended in an error (404, 5xx)."""
    return Response(
        _error_html(status, settings),
        status_code=status,
        media_type=MediaType.HTML,
        headers=_security_headers(settings),
    )


def _page_handler(page: Page, settings: Settings):
    html = render(page.file, settings)
    headers = _security_headers(settings)

    async def handler(request: Request, settings: SettingsDep) -> Response:
        if page.signed_in and web_session.from_request(settings, request) is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)
        if page.route == "/login" and web_session.from_request(settings, request) is not None:
            return Redirect("/dashboard", status_code=303)
        return Response(html, media_type=MediaType.HTML, headers=headers)

    name = "page_" + (page.file.removesuffix(".html").replace("-", "_"))
    return get(page.route, name=name, include_in_schema=False)(handler)


def web_routes(settings: Settings) -> list:
    """The page handlers and the static assets (no-cache: revalidated on each load, so a deploy shows at once)."""
    static = create_static_files_router(
        path="/static",
        directories=[STATIC_DIR],
        cache_control=CacheControlHeader(no_cache=True),
        include_in_schema=False,
    )
    pages = Router(path="/", route_handlers=[_page_handler(page, settings) for page in PAGES])
    return [pages, static]
