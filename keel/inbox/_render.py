"""What every inbox route shares: the app's state and rendering a page.

`inbox_of(request)` is the app's `Inbox` (runner, settings, auth gate, templates);
`render(request, name, context)` renders a template with the common context — the user,
whether the inbox is open, the CSRF field and token — and sets this browser's CSRF cookie
when it has none (`_auth.py`). Templates autoescape everything (`_app.create_app`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from keel.inbox._auth import CSRF_COOKIE, CSRF_FIELD, Gate, User
from keel.runner import Runner
from keel.settings import Settings

__all__ = ["Inbox", "inbox_of", "render", "wants_json"]


@dataclass(frozen=True)
class Inbox:
    """What every route shares."""

    runner: Runner
    settings: Settings
    gate: Gate
    templates: Jinja2Templates


def inbox_of(request: Request) -> Inbox:
    """The app's shared state."""
    inbox: Inbox = request.app.state.inbox
    return inbox


def wants_json(request: Request) -> bool:
    """Whether the request is to the JSON API."""
    return request.url.path.startswith("/api/")


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    user: User | None = None,
) -> Response:
    """A page, with the common context (user, open warning, CSRF token) and cookie."""
    inbox = inbox_of(request)
    csrf = inbox.gate.csrf_value(request)
    response = inbox.templates.TemplateResponse(
        request,
        name,
        {
            "user": user,
            "open": inbox.gate.open,
            "csrf_field": CSRF_FIELD,
            "csrf": csrf,
            "database": inbox.runner.persistence.kind,
            **(context or {}),
        },
        status_code=status,
    )
    if request.cookies.get(CSRF_COOKIE) != csrf:
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/")
    return response
