"""Which content a queued review reads: a path on a shared filesystem, pinned by commit.

Keel's choice for many machines: every worker sees the repository at the same path (an
NFS or similar mount, or the same checkout provisioned on each machine), and the job
carries the commits recorded at enqueue. Before a worker touches the thread it checks:

* the path exists and is a git repository — else the thread is `failed` with the reason
  (`repository gone`), once: no retry storm;
* a review of a range: both commits of the range exist there (the review reads a
  snapshot of the range's head, whatever the work tree is at);
* an audit: the work tree's HEAD is the commit recorded at enqueue — else the worker
  refuses to audit a different checkout (`failed`, with both commits).

`--staged` cannot be queued: a staged change lives in one machine's index.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from keel.tools import git

__all__ = ["QUEUE_KEY", "pin", "refusal"]

QUEUE_KEY = "__queue__"
"""Where the registry record's context keeps what was pinned at enqueue."""


def pin(graph_input: dict[str, Any]) -> dict[str, Any]:
    """What the enqueueing machine sees: the repository's HEAD (raises `git.GitError`)."""
    return {"head": git.head_sha(Path(graph_input["repo"])), "host": socket.gethostname()}


def refusal(record_context: dict[str, Any], graph_input: dict[str, Any]) -> str | None:
    """Why this worker must not run the thread here, or None when the content matches."""
    root = Path(str(graph_input.get("repo", "")))
    host = socket.gethostname()
    if not root.is_dir():
        return f"repository gone: {root} does not exist on worker host {host}"
    try:
        head = git.head_sha(root)
    except git.GitError as exc:
        return f"repository gone: {root} is not a git repository on worker host {host}: {exc}"
    rev_range = str(graph_input.get("rev_range") or "")
    if rev_range:
        try:
            git.resolve_range(root, rev_range)
        except git.GitError as exc:
            return f"the range {rev_range} is not in {root} on worker host {host}: {exc}"
        return None
    pinned = str((record_context.get(QUEUE_KEY) or {}).get("head") or "")
    if pinned and head != pinned:
        return (
            f"refusing to review a different checkout: {root} is at {head[:12]} on worker "
            f"host {host}, {pinned[:12]} was enqueued"
        )
    return None
