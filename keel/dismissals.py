"""The CLI's side of remembered dismissals: `--dismiss` on approve/reject, `keel baseline`.

`dismiss_payload` turns ``--dismiss ID[,ID…] --reason TEXT`` into the review gate's
``"dismiss"`` list after checking every id against the thread's findings (the ids of the
report's JSON, `findings[].id`), so a typo is a usage error before anything is resumed.
`baseline_view` and `clear_baseline` are `keel baseline show | clear REPO`: the entries
of the repository's baseline in the database's store (`nodes/baseline.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langgraph.store.base import BaseStore

from keel.core.state import BaselineRef
from keel.nodes import baseline
from keel.nodes.actions import STALE_APPROVAL
from keel.tools import git

__all__ = [
    "DismissUsageError",
    "baseline_view",
    "clear_baseline",
    "dismiss_payload",
    "gate_interrupt",
]


class DismissUsageError(ValueError):
    """`--dismiss` names no finding of the thread, has no reason, or nothing to attach to."""


def _ids(raw: Sequence[str]) -> list[str]:
    """The ids of repeated and comma-separated `--dismiss` values, in order, once each."""
    ids = [part.strip() for value in raw for part in value.split(",")]
    return list(dict.fromkeys(i for i in ids if i))


def dismiss_payload(
    raw: Sequence[str], reason: str | None, findings: Sequence[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """The review gate's ``"dismiss"`` list for `--dismiss` values and `--reason`.

    Raises:
        DismissUsageError: no reason, no id, or an id that is not a finding of the thread.
    """
    ids = _ids(raw)
    if not ids:
        raise DismissUsageError("--dismiss needs at least one finding id")
    if not (reason or "").strip():
        raise DismissUsageError("--dismiss needs --reason: why the findings are not problems")
    known = {str(f["id"]) for f in findings}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise DismissUsageError(
            f"--dismiss: no finding {', '.join(unknown)} in this thread (the ids are the "
            "report's findings[].id: `keel show THREAD --json`)"
        )
    return [{"finding": i, "reason": str(reason).strip()} for i in ids]


def gate_interrupt(interrupts: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """The id of the pending review-gate request (the one dismissals answer with).

    Raises:
        DismissUsageError: the thread waits elsewhere (a guard escalation, a stale
            approval), where findings cannot be dismissed.
    """
    for interrupt_id, request in interrupts:
        packet = request.get("packet") or {}
        if "triggers" in packet and not packet.get("guard") and STALE_APPROVAL not in packet:
            return interrupt_id
    raise DismissUsageError(
        "--dismiss: the thread does not wait at the review gate (a guard escalation or a "
        "stale approval): findings are dismissed with the review decision"
    )


def _repo(path: Path) -> tuple[Path, BaselineRef]:
    root = git.repo_root(path.expanduser())
    return root, baseline.repo_identity(root)


def baseline_view(store: BaseStore, path: Path) -> dict[str, Any]:
    """`keel baseline show REPO`: the repository, how it is identified, its dismissals.

    Raises:
        GitError: `path` is not in a git repository.
    """
    root, ref = _repo(path)
    return {
        "repo": str(root),
        "repo_id": ref["repo_id"],
        "identified_by": ref["identified_by"],
        "entries": baseline.entries(store, ref["repo_id"]),
    }


def clear_baseline(store: BaseStore, path: Path) -> dict[str, Any]:
    """`keel baseline clear REPO`: forget every dismissal; how many there were.

    Raises:
        GitError: `path` is not in a git repository.
    """
    root, ref = _repo(path)
    return {
        "repo": str(root),
        "repo_id": ref["repo_id"],
        "identified_by": ref["identified_by"],
        "cleared": baseline.clear(store, ref["repo_id"]),
    }
