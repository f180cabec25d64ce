"""Remembered dismissals: the findings a reviewer dismissed, per repository.

A reviewer dismisses findings with their decision at the review gate (`keel approve` /
`keel reject --dismiss ID,… --reason …`, or ``"dismiss": [{"finding": ID, "reason":
…}]`` in the resume value). Each is remembered by its line-independent fingerprint
(`stable_fingerprint`: file, rule, category and normalised code),
and later reviews of the same repository mark a finding with that fingerprint as
`suppressed`: reported under *Suppressed*, not a review trigger, a SARIF result with an
external suppression. Changing the quoted code, renaming the file or a different rule
makes a new fingerprint, and the finding is raised again; so does `keel baseline clear`.

Contract:

* **Where.** The LangGraph store (the database of the checkpoints, SQLite or
  PostgreSQL), namespace ``("keel_baseline", REPO_ID)``, key the fingerprint. Writing
  the same dismissal again (a node re-run after a crash) replaces the entry with the
  same content: no duplicates. Without a store (a graph compiled without one) nothing
  is remembered or looked up, and the report says so (`BaselineRef.remembered`).
* **Which repository.** `repo_identity`: its first commit (the root commit; the
  smallest id when there are several), so every clone and checkout path of a repository
  shares its baseline; a shallow clone, whose first commit is not there, or a
  repository without commits is identified by its root path instead.
* **What is dismissed.** A finding id of the thread's report dismisses every finding the
  report merged into that entry (same file, line and category), so the entry does not
  come back through one of its sources.
* `DismissalError` for an unknown finding id or a missing reason: nothing is recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from langgraph.config import get_store
from langgraph.store.base import BaseStore

from keel.core.state import BaselineRef, Finding, Suppression
from keel.nodes.guards._verdict import utc_now
from keel.tools import git

__all__ = [
    "BASELINE_NAMESPACE",
    "DismissalError",
    "clear",
    "current_store",
    "dismiss",
    "entries",
    "repo_identity",
    "stable_fingerprint",
    "suppress",
]

BASELINE_NAMESPACE = "keel_baseline"

_PAGE = 200
_EVIDENCE_CHARS = 2000


class DismissalError(ValueError):
    """A dismissal that names no finding of the thread, or gives no reason."""


def stable_fingerprint(finding: Mapping[str, Any]) -> str:
    """A finding's identity across reviews: file, rule, category and normalised code.

    No line number: the same code moved up or down keeps it, a change to the quoted code
    (or to the file's name, the rule or the category) makes a new one. Whitespace is
    collapsed, so re-indenting keeps it too. Two identical quotes of one rule in one
    file share it. It is SARIF's `partialFingerprints["keel/v1"]` and the key of a
    remembered dismissal (`nodes/baseline.py`).
    """
    code = " ".join(str(finding.get("evidence", "")).split())
    key = f"{finding['file']}\0{finding.get('rule', '')}\0{finding['category']}\0{code}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def repo_identity(root: Path) -> BaselineRef:
    """The store key of a repository's baseline, and how it was identified."""
    shallow = git.command(root, "rev-parse", "--is-shallow-repository", check=False).strip()
    roots = git.command(root, "rev-list", "--max-parents=0", "HEAD", check=False).split()
    if roots and shallow != "true":
        first = min(roots)
        return BaselineRef(repo_id=first, identified_by=f"first commit {first[:12]}")
    path = str(root.resolve())
    why = " (a shallow clone)" if shallow == "true" else ""
    digest = hashlib.sha256(path.encode()).hexdigest()[:40]
    return BaselineRef(repo_id=f"path-{digest}", identified_by=f"path {path}{why}")


def _namespace(repo_id: str) -> tuple[str, str]:
    return (BASELINE_NAMESPACE, repo_id)


def current_store() -> BaseStore | None:
    """The store of the running graph (None outside a run, or compiled without one)."""
    try:
        return get_store()
    except RuntimeError:  # not inside a graph run
        return None


def entries(store: BaseStore, repo_id: str) -> list[dict[str, Any]]:
    """Every dismissal remembered for a repository, oldest first."""
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        items = store.search(_namespace(repo_id), limit=_PAGE, offset=offset)
        found.extend(dict(item.value) for item in items)
        if len(items) < _PAGE:
            break
        offset += _PAGE
    return sorted(found, key=lambda e: (e.get("at", ""), e.get("file", ""), e.get("line", 0)))


def clear(store: BaseStore, repo_id: str) -> int:
    """Forget every dismissal of a repository; return how many there were."""
    gone = entries(store, repo_id)
    for entry in gone:
        store.delete(_namespace(repo_id), entry["fingerprint"])
    return len(gone)


def suppress(
    findings: Sequence[Finding], ref: BaselineRef | None, store: BaseStore | None
) -> tuple[list[Finding], BaselineRef | None]:
    """Mark the findings the repository's baseline holds as suppressed.

    Returns:
        (the findings, marked; `ref` with the counts) — unchanged without a reference
        (an older thread) or a store (`remembered` False).
    """
    if ref is None:
        return list(findings), None
    if store is None:
        return list(findings), BaselineRef(**{**ref, "remembered": False})
    known = {e["fingerprint"]: e for e in entries(store, ref["repo_id"])}
    marked: list[Finding] = []
    for finding in findings:
        entry = known.get(stable_fingerprint(finding))
        if entry is None or finding.get("suppressed"):
            marked.append(finding)
            continue
        suppression = Suppression(
            fingerprint=entry["fingerprint"],
            reason=entry["reason"],
            reviewer=entry["reviewer"],
            at=entry["at"],
            thread_id=entry["thread_id"],
        )
        marked.append(Finding(**{**finding, "suppressed": suppression}))
    count = sum(1 for f in marked if f.get("suppressed"))
    return marked, BaselineRef(
        **{**ref, "entries": len(known), "suppressed": count, "remembered": True}
    )


def _requested(response: Any) -> list[tuple[str, str]]:
    """(finding id, reason) pairs of a resume value's ``dismiss`` list."""
    raw = response.get("dismiss") if isinstance(response, Mapping) else None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise DismissalError('"dismiss" must be a list of {"finding": ID, "reason": TEXT}')
    pairs = []
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("finding"), str):
            raise DismissalError('each dismissal must be {"finding": ID, "reason": TEXT}')
        reason = str(item.get("reason") or "").strip()
        if not reason:
            raise DismissalError(f"dismissal of {item['finding']} needs a reason")
        pairs.append((item["finding"], reason[:2000]))
    return pairs


def _merged_with(finding: Finding, findings: Iterable[Finding]) -> list[Finding]:
    """The findings the report shows as one entry with `finding` (file, line, category)."""
    key = (finding["file"], finding["line"], finding["category"])
    return [f for f in findings if (f["file"], f["line"], f["category"]) == key]


def dismiss(
    response: Any,
    findings: Sequence[Finding],
    *,
    ref: BaselineRef | None,
    reviewer: str,
    thread_id: str,
    repo: str,
    store: BaseStore | None,
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Record the dismissals of a resume value; mark the dismissed findings suppressed.

    Returns:
        (the dismissed findings, marked — to merge into the state; one record per
        dismissed finding for the review record and the feedback log). Both empty when
        the response dismisses nothing.

    Raises:
        DismissalError: an id that is not a finding of the thread, or no reason.
    """
    requested = _requested(response)
    by_id = {f["id"]: f for f in findings}
    unknown = [fid for fid, _ in requested if fid not in by_id]
    if unknown:
        raise DismissalError(
            f"unknown finding id(s): {', '.join(unknown)} (the ids are the report's findings[].id)"
        )
    at = utc_now()
    store = store if ref is not None else None
    marked: dict[str, Finding] = {}
    records: list[dict[str, Any]] = []
    for finding_id, reason in requested:
        for finding in _merged_with(by_id[finding_id], findings):
            if finding["id"] in marked:
                continue
            key = stable_fingerprint(finding)
            suppression = Suppression(
                fingerprint=key, reason=reason, reviewer=reviewer, at=at, thread_id=thread_id
            )
            marked[finding["id"]] = Finding(**{**finding, "suppressed": suppression})
            record = {
                "finding_id": finding["id"],
                "file": finding["file"],
                "line": finding["line"],
                "rule": finding["rule"],
                "category": finding["category"],
                "severity": finding["severity"],
                "title": finding["title"],
                **suppression,
                "remembered": store is not None,
            }
            records.append(record)
            if store is not None and ref is not None:
                value = {
                    **record,
                    "repo_id": ref["repo_id"],
                    "identified_by": ref["identified_by"],
                    "repo": repo,
                    "evidence": finding["evidence"][:_EVIDENCE_CHARS],
                }
                value.pop("remembered")
                store.put(_namespace(ref["repo_id"]), key, value)
    return list(marked.values()), records
