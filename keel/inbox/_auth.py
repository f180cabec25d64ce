"""Who is asking, and whether a POST is theirs: bearer tokens, login sessions, CSRF.

Tokens are the server's: `KEEL_API_TOKENS="token1:alice,token2:bob"` (environment, then
`.env`; parsed by `keel._server_auth.parse_tokens`). With tokens:

* a request is authenticated by `Authorization: Bearer <token>` (the API's clients) or
  by the session cookie a login with a token set (the browser); the identity is the
  token's user, and it is the reviewer recorded — a name in the body never overrides it;
* anything else gets 401 (API) or the login page (pages).

Without tokens the inbox is open: every request is the unauthenticated user, reviewers
are the names they claim, and every page says so.

CSRF (double submit): every page sets a random `keel_inbox_csrf` cookie (SameSite=Strict)
and puts the same value in its forms; every POST must send it back, as the
`csrf_token` field or the `X-CSRF-Token` header, equal to the cookie (compared in
constant time) — except a request authenticated by a bearer header, which a browser
never adds on its own. Sessions live in this process's memory: a restart logs everyone
out. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Gate",
    "User",
    "load_tokens",
]

SESSION_COOKIE = "keel_inbox_session"
CSRF_COOKIE = "keel_inbox_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def load_tokens() -> dict[str, str]:
    """`KEEL_API_TOKENS` from the environment, then `.env`, as `{token: identity}`.

    Raises:
        ValueError: a malformed entry (`keel._server_auth.TokenConfigError`).
    """
    # keel._server_auth logs the *server's* auth state when imported; not the inbox's.
    server_log = logging.getLogger("keel.server")
    was_disabled, server_log.disabled = server_log.disabled, True
    try:
        from keel._server_auth import load_tokens as server_tokens
    finally:
        server_log.disabled = was_disabled
    return server_tokens()


@dataclass(frozen=True)
class User:
    """Who a request comes from."""

    identity: str
    authenticated: bool
    by_bearer: bool = False


OPEN_USER = User("anonymous", authenticated=False)


class Gate:
    """Authentication and CSRF checks for one app."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self.tokens = dict(tokens)
        self._sessions: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        """Whether the inbox runs without tokens (everyone may read and decide)."""
        return not self.tokens

    def identity_for(self, token: str) -> str | None:
        """The identity of a known token (constant time in the token's content)."""
        found = None
        for known, identity in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = identity
        return found

    def user(self, request: Request) -> User | None:
        """The request's user; None when tokens are configured and it has none."""
        if self.open:
            return OPEN_USER
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            identity = self.identity_for(token.strip())
            return User(identity, True, by_bearer=True) if identity else None
        session = request.cookies.get(SESSION_COOKIE, "")
        with self._lock:
            identity = self._sessions.get(session) if session else None
        return User(identity, True) if identity else None

    def login(self, token: str) -> str | None:
        """A new session id for a known token, else None."""
        identity = self.identity_for(token.strip())
        if identity is None:
            return None
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[session] = identity
        return session

    def logout(self, request: Request) -> None:
        """Forget the request's session."""
        with self._lock:
            self._sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)

    @staticmethod
    def csrf_value(request: Request) -> str:
        """The CSRF token for this browser: its cookie's, else a new one (set it)."""
        return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)

    @staticmethod
    def csrf_ok(request: Request, user: User | None, submitted: str | None) -> bool:
        """Whether a POST carries this browser's CSRF token (bearer requests need none)."""
        if user is not None and user.by_bearer:
            return True
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = submitted or request.headers.get(CSRF_HEADER, "")
        return bool(cookie) and bool(sent) and hmac.compare_digest(cookie, sent)
