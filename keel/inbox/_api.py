"""The inbox's JSON API (docs/inbox.md), the one its pages' script uses.

* `GET /api/threads?status=S&limit=N` — the registry's threads, newest first, as
  `keel threads --json` prints them, each with the queue's fields (`waiting`, `severity`,
  `counts`, `triggers`, `guard`, `actions`, `age_s`); `status` one of `_queue.STATUSES`
  (absent: every thread), else 400.
* `GET /api/threads/{id}` — exactly `keel show THREAD --json` (`keel.show.SHOW_KEYS`).
* `POST /api/threads/{id}/decisions` — body `{"decisions": [...], "reviewer": "name",
  "interrupt_ids": [...]?}`: one decision per pending action across every pending
  interrupt, validated like `keel approve` (`_decide.py`); answers the thread's
  `keel show --json` after the resume plus `"reviewer"` and `"queued_job"` (the worker's
  job id for a thread on the queue, else null) (200), or `{"error"}` with 400
  (malformed body, invalid decision), 403 (CSRF), 404, 409 (not waiting — the message
  has its status and who decided —, decided meanwhile, busy, stale), 500 (the run failed).

With tokens, every call needs a bearer token or the page's session (401 otherwise); the
reviewer recorded is then the authenticated identity, whatever `"reviewer"` says. A POST
with the session cookie instead of a bearer header needs the `X-CSRF-Token` header.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from keel.inbox._decide import DecisionError, decide, queued
from keel.inbox._queue import STATUSES, now_utc, queue
from keel.inbox._render import inbox_of
from keel.nodes.context import KeelContext
from keel.show import thread_view

__all__ = ["routes"]

_UNAUTHORIZED = {"error": "missing or unknown bearer token (KEEL_API_TOKENS)"}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def list_threads(request: Request) -> Response:
    """`GET /api/threads`."""
    inbox = inbox_of(request)
    if inbox.gate.user(request) is None:
        return JSONResponse(_UNAUTHORIZED, status_code=401)
    status = request.query_params.get("status") or None
    if status is not None and status not in STATUSES:
        return _error(400, f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    try:
        limit = int(request.query_params.get("limit", "200"))
    except ValueError:
        return _error(400, "limit must be an integer")
    rows = await run_in_threadpool(queue, inbox.runner, status=status, limit=max(1, limit))
    now = now_utc()
    return JSONResponse([row.as_dict(now) for row in rows])


async def show_thread(request: Request) -> Response:
    """`GET /api/threads/{id}`."""
    inbox = inbox_of(request)
    if inbox.gate.user(request) is None:
        return JSONResponse(_UNAUTHORIZED, status_code=401)
    thread_id = request.path_params["thread_id"]
    record = await run_in_threadpool(inbox.runner.persistence.registry.get, thread_id)
    if record is None:
        return _error(404, f"unknown thread: {thread_id}")
    view = await run_in_threadpool(thread_view, inbox.runner, record)
    return JSONResponse(json.loads(json.dumps(view.as_json(), default=str)))


async def post_decisions(request: Request) -> Response:
    """`POST /api/threads/{id}/decisions`."""
    inbox = inbox_of(request)
    user = inbox.gate.user(request)
    if user is None:
        return JSONResponse(_UNAUTHORIZED, status_code=401)
    if not inbox.gate.csrf_ok(request, user, None):
        return _error(403, "missing or wrong CSRF token (X-CSRF-Token header)")
    try:
        body: Any = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _error(400, f"body is not valid JSON: {exc}")
    if not isinstance(body, dict) or not isinstance(body.get("decisions"), list):
        return _error(400, 'body must be {"decisions": [...], "reviewer": "name"}')
    ids = body.get("interrupt_ids")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        return _error(400, "interrupt_ids must be a list of strings")
    thread_id = request.path_params["thread_id"]
    record = await run_in_threadpool(inbox.runner.persistence.registry.get, thread_id)
    if record is None:
        return _error(404, f"unknown thread: {thread_id}")
    reviewer = (
        user.identity
        if user.authenticated
        else (str(body.get("reviewer") or "").strip()[:200] or inbox.settings.reviewer)
    )
    try:
        decided = await run_in_threadpool(
            decide,
            inbox.runner,
            thread_id,
            body["decisions"],
            reviewer,
            context=KeelContext.from_dict(record.context),
            interrupt_ids=ids,
            on_queue=queued(record.context),
        )
    except DecisionError as exc:
        return _error(exc.status, exc.message)
    fresh = await run_in_threadpool(inbox.runner.persistence.registry.get, thread_id)
    view = await run_in_threadpool(thread_view, inbox.runner, fresh or record)
    payload = json.loads(json.dumps(view.as_json(), default=str))
    return JSONResponse(payload | {"reviewer": reviewer, "queued_job": decided.job})


def routes() -> list[BaseRoute]:
    """The API routes."""
    return [
        Route("/api/threads", list_threads, methods=["GET"]),
        Route("/api/threads/{thread_id}", show_thread, methods=["GET"]),
        Route("/api/threads/{thread_id}/decisions", post_decisions, methods=["POST"]),
    ]
