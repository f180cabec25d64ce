"""What `langgraph.json` serves: the review graph, auth, checkpointer and store.

    "graphs":       {"review": "./keel/server.py:graph"}
    "auth":         {"path": "./keel/server.py:auth", "disable_studio_auth": true}
    "checkpointer": {"path": "./keel/server.py:checkpointer"}
    "store":        {"path": "./keel/server.py:store"}

The server loads this file by path (possibly once per entry), so it only re-exports from
package modules, which Python imports once: `keel._server_graph` (the review graph, run
settings defaulting to the server's `KEEL_*` settings), `keel._server_auth` (bearer
tokens from `KEEL_API_TOKENS`, threads private to their creator) and
`keel._server_persistence` (PostgreSQL by `KEEL_DATABASE_URL`, else the dev server's own
persistence). See docs/serve.md.
"""

from __future__ import annotations

from keel._server_auth import OWNER_KEY, auth, load_tokens, parse_tokens
from keel._server_graph import graph
from keel._server_persistence import checkpointer, postgres_url, store

__all__ = [
    "OWNER_KEY",
    "auth",
    "checkpointer",
    "graph",
    "load_tokens",
    "parse_tokens",
    "postgres_url",
    "store",
]
