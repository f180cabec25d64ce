"""Bearer-token auth for `langgraph dev` / LangGraph Server, with per-user threads.

Tokens come from configuration: `KEEL_API_TOKENS="token1:alice,token2:bob"` (environment,
then `.env`). Each token maps to a user identity. With tokens configured:

* a request without a known `Authorization: Bearer <token>` gets 401;
* threads (and runs, crons, assistants) are stamped `metadata.owner = identity` on create,
  and every read, search, update, delete and run is filtered to the caller's own, so
  another user's thread answers 404 — nobody can read, resume or approve it;
* store namespaces must start with the caller's identity;
* anything no handler covers is denied (default deny).

The authenticated user reaches the graph as
`config["configurable"]["langgraph_auth_user"]`; the review gate records its identity as
the reviewer (`keel.nodes.agents.review_gate.resolve_reviewer`).

Without tokens the server is open: every request is allowed as the unauthenticated user
`anonymous` (reviewers are then the names clients claim), and a warning says so at
startup.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Mapping
from typing import Any

from dotenv import dotenv_values
from langgraph_sdk import Auth

__all__ = ["OWNER_KEY", "auth", "load_tokens", "parse_tokens"]

logger = logging.getLogger("keel.server")

OWNER_KEY = "owner"
"""Metadata key holding the identity of a resource's creator."""

ANONYMOUS = "anonymous"


class TokenConfigError(ValueError):
    """`KEEL_API_TOKENS` is malformed."""


def parse_tokens(spec: str) -> dict[str, str]:
    """Parse `"token1:alice,token2:bob"` into `{token: identity}`.

    Raises:
        TokenConfigError: an entry without a token or an identity, or a repeated token.
    """
    tokens: dict[str, str] = {}
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        token, sep, identity = entry.rpartition(":")
        token, identity = token.strip(), identity.strip()
        if not sep or not token or not identity:
            raise TokenConfigError(
                f"KEEL_API_TOKENS entries must be TOKEN:IDENTITY, got {entry[:4]}..."
            )
        if token in tokens:
            raise TokenConfigError(f"KEEL_API_TOKENS repeats a token (identity {identity})")
        tokens[token] = identity
    return tokens


def load_tokens(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Read `KEEL_API_TOKENS` from `env` (default: the environment, then `.env`)."""
    if env is None:
        dotenv = {k: v for k, v in dotenv_values(".env").items() if v is not None}
        env = {**dotenv, **os.environ}
    return parse_tokens(env.get("KEEL_API_TOKENS", ""))


TOKENS = load_tokens()
if TOKENS:
    logger.warning(
        "keel: auth on: %d bearer token(s) for %s; threads are private to their creator",
        len(TOKENS),
        ", ".join(sorted(set(TOKENS.values()))),
    )
else:
    logger.warning(
        "keel: KEEL_API_TOKENS is not set: the server is OPEN - every request is allowed "
        "and every thread is visible to everyone. Set KEEL_API_TOKENS=token:user,... "
    )

auth = Auth()


def _identity_for(token: str) -> str | None:
    found = None
    for known, identity in TOKENS.items():  # constant time in the token's content
        if hmac.compare_digest(known.encode(), token.encode()):
            found = identity
    return found


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    """Map `Authorization: Bearer <token>` to the token's user; open without tokens."""
    if not TOKENS:
        # Not authenticated: the review gate keeps the reviewer name the client claims.
        return {"identity": ANONYMOUS, "is_authenticated": False}
    scheme, _, token = (authorization or "").strip().partition(" ")
    identity = _identity_for(token.strip()) if scheme.lower() == "bearer" else None
    if identity is None:
        raise Auth.exceptions.HTTPException(
            status_code=401, detail="missing or unknown bearer token"
        )
    return {"identity": identity, "is_authenticated": True}


def _stamp_owner(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    """Record the caller as owner in `value["metadata"]` and return the owner filter."""
    identity = ctx.user.identity
    if isinstance(value, dict):
        metadata = value.get("metadata")
        if not isinstance(metadata, dict):
            metadata = {}
            value["metadata"] = metadata
        metadata[OWNER_KEY] = identity
    return {OWNER_KEY: identity}


@auth.on.threads
async def threads(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.HandlerResult:
    """Threads and their runs: stamp the owner on create / create_run, filter everything."""
    if not TOKENS:
        return None
    if ctx.action in ("create", "create_run"):
        return _stamp_owner(ctx, value)
    return {OWNER_KEY: ctx.user.identity}


@auth.on.crons
async def crons(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.HandlerResult:
    """Crons run graphs on threads: owned and filtered like threads."""
    if not TOKENS:
        return None
    if ctx.action == "create":
        return _stamp_owner(ctx, value)
    return {OWNER_KEY: ctx.user.identity}


@auth.on.assistants
async def assistants(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.HandlerResult:
    """Graphs are readable by every user; assistants a user creates are theirs to change."""
    if not TOKENS or ctx.action in ("read", "search"):
        return None
    if ctx.action == "create":
        return _stamp_owner(ctx, value)
    return {OWNER_KEY: ctx.user.identity}


@auth.on.store
async def store(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.HandlerResult:
    """Store items over the API: only under a namespace that starts with the caller."""
    if not TOKENS:
        return None
    namespace = tuple(value.get("namespace") or ()) if isinstance(value, dict) else ()
    return bool(namespace) and namespace[0] == ctx.user.identity


@auth.on
async def deny_everything_else(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.HandlerResult:
    """Default deny for any resource or action without its own handler (open: allow)."""
    return None if not TOKENS else False
