"""Many audits at once: `keel batch audit FILE` and the scheduled (nightly) audit.

A file lists repositories, one path a line; blank lines and lines starting with `#` are
skipped. Every path is checked first (`read_repositories`): one that is not a git
repository with a commit raises `BatchError` listing every bad line, and nothing is
queued. Then each repository gets its own thread, queued like `keel audit PATH --queue`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from procrastinate import App

from keel.persistence import open_persistence
from keel.queue._config import QueueSettings
from keel.queue._enqueue import enqueue_run
from keel.runner import new_thread_id
from keel.settings import Settings
from keel.tools import git

__all__ = ["BatchError", "Queued", "enqueue_file", "enqueue_repositories", "read_repositories"]


class BatchError(ValueError):
    """The list has lines that are not repositories (all of them are named)."""


@dataclass(frozen=True)
class Queued:
    """One queued audit."""

    repo: str
    thread_id: str
    job_id: int


def read_repositories(path: Path) -> list[Path]:
    """The repository roots a list names, in order (raises `BatchError`, `OSError`)."""
    roots: list[Path] = []
    problems: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        try:
            root = git.repo_root(Path(entry).expanduser())
            git.head_sha(root)
        except git.GitError as exc:
            problems.append(f"{path}:{number}: {entry}: {exc}")
            continue
        roots.append(root)
    if problems:
        raise BatchError("not queued, the list has bad lines:\n" + "\n".join(problems))
    return roots


def enqueue_repositories(
    app: App,
    persistence: Any,
    queue_settings: QueueSettings,
    settings: Settings,
    roots: list[Path],
    origin: dict[str, Any] | None = None,
) -> list[Queued]:
    """Queue one audit per repository; return the threads (`origin`: see `enqueue_run`)."""
    context = settings.run_context()
    queued: list[Queued] = []
    for root in roots:
        thread_id = new_thread_id()
        job = enqueue_run(
            app,
            persistence,
            queue_settings,
            thread_id=thread_id,
            graph_input={"repo": str(root), "mode": "audit"},
            context=context,
            workflow="audit",
            origin=origin,
        )
        queued.append(Queued(str(root), thread_id, job))
    return queued


def enqueue_file(
    app: App, url: str, queue_settings: QueueSettings, settings: Settings, path: Path, tick: int
) -> list[Queued]:
    """The scheduled audit: queue an audit of every repository `path` lists.

    Each thread records the tick (the periodic task's timestamp) as `scheduled` in its
    pinned context, so one tick's audits can be told from the next one's.
    """
    roots = read_repositories(path)
    with open_persistence(url) as persistence:
        return enqueue_repositories(
            app, persistence, queue_settings, settings, roots, origin={"scheduled": tick}
        )
