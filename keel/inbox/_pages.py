"""The inbox's HTML pages: the queue, a thread, its decision form, login and logout.

* `GET /` — the queue: waiting threads (`?status=` another status or `all`), filtered by
  `?repo=`, `?severity=` (at or above), `?trigger=` (a word of a trigger) and sorted by
  `?sort=age|severity|repo`; its script reloads it when the waiting set changes.
* `GET /threads/{id}` — the thread page (`_packet.py`); an unknown thread is a 404 page.
* `POST /threads/{id}/decide` — the decision form: CSRF checked (403), read
  (`_forms.py`) and decided (`_decide.py`); a form error or an invalid decision shows
  the form again with the problem (400, nothing sent); a thread not waiting any more, or
  decided meanwhile, is a 409 page; success redirects (303) to the thread page, which
  then shows the final report (or, for a thread on the queue, that a worker has the
  decision, reloading until it finishes).
* `GET|POST /login`, `POST /logout` — sessions from a token (`_auth.py`); without
  tokens the login page says the inbox is open.

With tokens, a page without a session redirects to `/login`.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from keel.core.vocabulary import SEVERITIES
from keel.inbox._auth import CSRF_FIELD, SESSION_COOKIE, User
from keel.inbox._decide import DecisionError, decide, queued
from keel.inbox._forms import FormResult, decisions_from_form
from keel.inbox._packet import ThreadPage, thread_page
from keel.inbox._queue import SORTS, STATUSES, filter_rows, now_utc, queue, sort_rows
from keel.inbox._render import inbox_of, render
from keel.nodes.context import KeelContext

__all__ = ["routes"]


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _login_redirect() -> Response:
    return RedirectResponse("/login", status_code=303)


async def queue_page(request: Request) -> Response:
    """The queue of threads awaiting a human."""
    inbox = inbox_of(request)
    user = inbox.gate.user(request)
    if user is None:
        return _login_redirect()
    params = request.query_params
    status = params.get("status", "awaiting_approval")
    if status not in (*STATUSES, "all"):
        status = "awaiting_approval"
    sort = params.get("sort", "age") if params.get("sort") in SORTS else "age"
    rows = await run_in_threadpool(
        queue, inbox.runner, status=None if status == "all" else status, limit=1000
    )
    shown = sort_rows(
        filter_rows(
            rows,
            repo=params.get("repo", ""),
            min_severity=params.get("severity", "") if params.get("severity") in SEVERITIES else "",
            trigger=params.get("trigger", ""),
        ),
        sort,
    )
    now = now_utc()
    return render(
        request,
        "queue.html",
        {
            "rows": shown,
            "total": len(rows),
            "ages": {r.record.thread_id: _duration(r.age_s(now)) for r in shown},
            "status": status,
            "statuses": [*STATUSES, "all"],
            "sort": sort,
            "sorts": SORTS,
            "severities": list(reversed(SEVERITIES)),
            "params": {k: params.get(k, "") for k in ("repo", "severity", "trigger")},
            "waiting_ids": ",".join(sorted(r.record.thread_id for r in rows if r.waiting)),
        },
        user=user,
    )


def _thread_context(page: ThreadPage, form: FormResult | None, error: str | None) -> dict[str, Any]:
    return {
        "page": page,
        "view": page.view,
        "record": page.view.record,
        "form": form.values if form else {},
        "errors": form.errors if form else {},
        "form_error": error,
        "interrupt_ids": ",".join(r.interrupt_id for r in page.requests),
    }


async def _load(request: Request, user: User) -> ThreadPage | Response:
    inbox = inbox_of(request)
    thread_id = request.path_params["thread_id"]
    record = await run_in_threadpool(inbox.runner.persistence.registry.get, thread_id)
    if record is None:
        return render(
            request,
            "error.html",
            {"title": "Unknown thread", "message": f"unknown thread: {thread_id}"},
            status=404,
            user=user,
        )
    return await run_in_threadpool(thread_page, inbox.runner, record)


async def thread_route(request: Request) -> Response:
    """One thread, laid out for a decision."""
    user = inbox_of(request).gate.user(request)
    if user is None:
        return _login_redirect()
    page = await _load(request, user)
    if isinstance(page, Response):
        return page
    return render(request, "thread.html", _thread_context(page, None, None), user=user)


async def decide_route(request: Request) -> Response:
    """The decision form's POST."""
    inbox = inbox_of(request)
    user = inbox.gate.user(request)
    form = await request.form()
    if not inbox.gate.csrf_ok(request, user, str(form.get(CSRF_FIELD) or "")):
        return render(
            request,
            "error.html",
            {"title": "Refused", "message": "missing or wrong CSRF token; reload the page"},
            status=403,
            user=user,
        )
    if user is None:
        return _login_redirect()
    page = await _load(request, user)
    if isinstance(page, Response):
        return page
    thread_id = page.view.thread_id
    if not page.waiting:
        who = f"; already decided by {page.decided_by}" if page.decided_by else ""
        return render(
            request,
            "error.html",
            {
                "title": "Not waiting",
                "message": f"thread {thread_id} is not awaiting approval "
                f"(status: {page.view.status}){who}",
                "thread_id": thread_id,
            },
            status=409,
            user=user,
        )
    result = decisions_from_form(form, page.requests)
    if result.errors:
        context = _thread_context(page, result, "nothing was sent: fix the marked decisions")
        return render(request, "thread.html", context, status=400, user=user)
    reviewer = (
        user.identity
        if user.authenticated
        else (str(form.get("reviewer") or "").strip()[:200] or inbox.settings.reviewer)
    )
    submitted = [i for i in str(form.get("interrupt_ids") or "").split(",") if i]
    try:
        await run_in_threadpool(
            decide,
            inbox.runner,
            thread_id,
            result.decisions,
            reviewer,
            context=KeelContext.from_dict(page.view.record.context),
            interrupt_ids=submitted or None,
            on_queue=queued(page.view.record.context),
        )
    except DecisionError as exc:
        if exc.status == 400:
            context = _thread_context(page, result, f"nothing was sent: {exc.message}")
            return render(request, "thread.html", context, status=400, user=user)
        return render(
            request,
            "error.html",
            {"title": "Not decided", "message": exc.message, "thread_id": thread_id},
            status=exc.status,
            user=user,
        )
    return RedirectResponse(f"/threads/{thread_id}", status_code=303)


async def login_page(request: Request) -> Response:
    """The login form (a token), or the open-inbox notice."""
    return render(request, "login.html", {"error": None})


async def login_post(request: Request) -> Response:
    """Start a session for a known token."""
    gate = inbox_of(request).gate
    form = await request.form()
    if not gate.csrf_ok(request, None, str(form.get(CSRF_FIELD) or "")):
        return render(request, "login.html", {"error": "wrong CSRF token; try again"}, status=403)
    session = gate.login(str(form.get("token") or ""))
    if session is None:
        return render(request, "login.html", {"error": "unknown token"}, status=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict", path="/")
    return response


async def logout_post(request: Request) -> Response:
    """End the session."""
    gate = inbox_of(request).gate
    form = await request.form()
    if not gate.csrf_ok(request, None, str(form.get(CSRF_FIELD) or "")):
        return render(
            request, "error.html", {"title": "Refused", "message": "wrong CSRF token"}, status=403
        )
    gate.logout(request)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def routes() -> list[BaseRoute]:
    """The page routes."""
    return [
        Route("/", queue_page, methods=["GET"]),
        Route("/threads/{thread_id}", thread_route, methods=["GET"]),
        Route("/threads/{thread_id}/decide", decide_route, methods=["POST"]),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout_post, methods=["POST"]),
    ]
