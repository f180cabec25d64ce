"""The inbox's Starlette application: routes, templates, errors and security headers.

`create_app(runner, settings, tokens=None)` mounts the pages (`_pages.py`), the JSON API
(`_api.py`) and the static files on one app over an open `Runner`; `tokens=None` reads
`KEEL_API_TOKENS`. The runner (its persistence) outlives the app: the caller opens and
closes it.

Contracts:
* Templates autoescape everything (`jinja2.Environment(autoescape=True)`); nothing is
  marked safe, so text from the repository or the model is shown as text.
* Every response carries a Content-Security-Policy that allows only this origin's
  scripts and styles (no inline script runs), `nosniff`, `no-referrer`, and no framing.
* A database error anywhere is a 503: an error page naming the database (password
  masked), or `{"error": ...}` under `/api/`. An unknown path is a 404 page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from keel.inbox import _api, _pages
from keel.inbox._auth import Gate, load_tokens
from keel.inbox._errors import database_errors, unavailable_message
from keel.inbox._render import Inbox, inbox_of, render, wants_json
from keel.runner import Runner
from keel.settings import Settings

__all__ = ["create_app"]

_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class _SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
        return response


async def _database_down(request: Request, exc: Exception) -> Response:
    message = unavailable_message(inbox_of(request).settings.database_url, exc)
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=503)
    return render(
        request,
        "error.html",
        {"title": "Database unavailable", "message": message, "hint": "nothing was changed"},
        status=503,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    if wants_json(request):
        return JSONResponse({"error": detail}, status_code=status)
    return render(
        request, "error.html", {"title": f"Error {status}", "message": detail}, status=status
    )


def create_app(
    runner: Runner, settings: Settings, *, tokens: Mapping[str, str] | None = None
) -> Starlette:
    """The inbox on `runner`'s database; `tokens` default to `KEEL_API_TOKENS`."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("keel.inbox", "templates"),
        autoescape=True,
    )
    handlers: dict[Any, Any] = {exc: _database_down for exc in database_errors()}
    handlers[HTTPException] = _http_error
    app = Starlette(
        routes=[
            *_pages.routes(),
            *_api.routes(),
            Mount("/static", StaticFiles(packages=[("keel.inbox", "static")]), name="static"),
        ],
        middleware=[Middleware(_SecurityHeaders)],
        exception_handlers=handlers,
    )
    app.state.inbox = Inbox(
        runner=runner,
        settings=settings,
        gate=Gate(load_tokens() if tokens is None else tokens),
        templates=Jinja2Templates(env=env),
    )
    return app
