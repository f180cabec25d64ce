"""Run the inbox with uvicorn until interrupted (`keel inbox`).

`serve` binds `host:port` (127.0.0.1:8765 by default: only this machine can reach it),
says where it listens and whether it is open (no `KEEL_API_TOKENS`: everyone who can
reach the port may read every thread and decide) or which identities may log in, and
warns loudly when it is open on an address other machines can reach. It returns when
uvicorn stops (Ctrl-C). A port already in use is reported by uvicorn, which then calls
`sys.exit(3)` (3 is Keel's "awaiting approval"): `serve` catches it and returns False,
so `keel inbox` exits 1.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import uvicorn

from keel.inbox._app import create_app
from keel.persistence import describe_url
from keel.runner import Runner
from keel.settings import Settings

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    runner: Runner,
    settings: Settings,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    say: Callable[[str], None] = print,
) -> bool:
    """Serve the inbox; True when uvicorn stopped cleanly, False when it could not start."""
    app = create_app(runner, settings)
    gate = app.state.inbox.gate
    say(f"keel inbox: http://{host}:{port}/ over {describe_url(settings.database_url)}")
    if gate.open:
        say(
            "keel inbox: KEEL_API_TOKENS is not set: the inbox is OPEN - anyone who can reach "
            "it may read every thread and decide; reviewers are the names they type"
        )
        if not _loopback(host):
            say(f"keel inbox: WARNING: open and bound to {host}, reachable from other machines")
    else:
        identities = ", ".join(sorted(set(gate.tokens.values())))
        say(f"keel inbox: auth on: {len(gate.tokens)} token(s) for {identities}")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    try:
        server.run()
    except SystemExit:  # uvicorn exits 3 when it cannot bind: Keel's "awaiting approval"
        return False
    return bool(server.started)
