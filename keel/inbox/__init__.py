"""`keel inbox`: the review inbox in the browser, over Keel's database.

The same threads `keel threads` lists (made by the CLI or by queue workers, on SQLite or
PostgreSQL) are shown as a queue of what waits for a human, and each waiting thread as
its review packet laid out for a decision. Deciding in the inbox is deciding with
`keel approve` / `keel reject`: the same validation (`nodes/guards/human_review.py` with
the action registry), the same per-thread lock, the same resume, the same feedback log.

* `create_app(runner, settings, tokens=...)` — the Starlette application (pages and the
  JSON API of docs/inbox.md) on an open `Runner`.
* `serve(runner, settings, host=..., port=...)` — run it with uvicorn until interrupted.

Security contract: binds 127.0.0.1 unless told otherwise; with `KEEL_API_TOKENS` every
request needs a bearer token or a login session, and the reviewer recorded is the
token's identity; without tokens the inbox is open and says so on every page and at
startup. Every POST carries a CSRF token; everything from the repository or the model is
HTML-escaped (Jinja2 autoescape) and code is shown with secrets masked.
"""

from __future__ import annotations

from keel.inbox._app import create_app
from keel.inbox._serve import serve

__all__ = ["create_app", "serve"]
