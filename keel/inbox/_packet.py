"""The thread page's model: a thread's review packet laid out for a decision.

`thread_page(runner, record)` builds on `keel show`'s `thread_view` (the same JSON the API
returns) and adds what a reviewer reads before deciding:

* every pending request with its triggers, confidence and uncertainty, and each action
  as a form: its arguments as JSON (secrets masked; an argument holding one is left
  out of the edit box, so an edit keeps its real value), the decisions its review
  config allows, the JSON schema an edit is checked against (the action registry's
  model or the guard decision's), a proposed patch as a diff;
* the evidence: each finding the report shows, most severe first, as the flagged lines
  with `AROUND` lines of context and the reviewed change's hunk (`_code.Source`);
* each specialist's handoff: summary, confidence, the confidence basis (what the model
  claimed, agreement with the tools' evidence, penalties), open questions;
* tool evidence a specialist dismissed, with its reason; guard events; the final report
  (action results) once the thread finished; earlier decisions on the repository.

Everything is data for autoescaping templates; nothing here marks text safe. A
repository that can no longer be read costs the code context only (`error` per finding),
never the page. Database errors propagate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from keel.core.vocabulary import SEVERITY_ORDER
from keel.inbox._code import CodeLine, Source, SourceUnavailable, diff_lines
from keel.inbox._decide import decided_by
from keel.inbox._history import repo_decisions
from keel.nodes.actions import ACTIONS, STALE_APPROVAL
from keel.nodes.guards.human_review import GUARD_DECISIONS
from keel.registry import ThreadRecord
from keel.runner import Runner
from keel.show import ThreadView, thread_view
from keel.tools.issues import mask_secrets

__all__ = ["ActionForm", "EvidenceView", "RequestView", "ThreadPage", "thread_page"]

_MAX_EVIDENCE = 50
_SCHEMAS: dict[str, Any] = {spec.name: spec.args for spec in ACTIONS} | GUARD_DECISIONS


@dataclass(frozen=True)
class ActionForm:
    """One pending action, as a reviewer answers it."""

    index: int
    """Its position among every pending action (the form's field suffix)."""
    interrupt_id: str
    name: str
    description: str
    args_json: str
    """Its proposed arguments as JSON, secrets masked (for reading)."""
    edit_json: str
    """The edit box's start: the arguments without any whose value holds a masked secret
    (an edit merges over the proposed arguments, so a left-out one keeps its real value)."""
    allowed: list[str]
    schema_json: str
    """The JSON schema of its arguments ("{}" when it takes none the inbox knows)."""
    patch: list[CodeLine] | None


@dataclass(frozen=True)
class RequestView:
    """One pending interrupt."""

    interrupt_id: str
    title: str
    packet: dict[str, Any]
    actions: list[ActionForm]
    stale: dict[str, Any] | None


@dataclass(frozen=True)
class EvidenceView:
    """One finding with its code."""

    finding: dict[str, Any]
    code: list[CodeLine]
    hunk: list[CodeLine] | None
    error: str | None


@dataclass(frozen=True)
class ThreadPage:
    """Everything the thread page shows."""

    view: ThreadView
    requests: list[RequestView]
    evidence: list[EvidenceView]
    handoffs: list[dict[str, Any]]
    dismissed: list[dict[str, Any]]
    report: dict[str, Any] | None
    history: list[dict[str, Any]]
    decided_by: str | None
    patches: list[list[CodeLine]] = field(default_factory=list)

    @property
    def queued(self) -> bool:
        """Whether a worker has the thread's next job (a queued decision or run)."""
        return self.view.record.status == "queued"

    @property
    def waiting(self) -> bool:
        """Whether the thread awaits a decision (not one already queued for a worker)."""
        return self.view.status == "awaiting_approval" and bool(self.requests) and not self.queued

    @property
    def live_status(self) -> str:
        """The status the page shows: `queued` while a worker has the thread's next job."""
        return "queued" if self.queued else self.view.status


def _editable(args: Mapping[str, Any]) -> str:
    clean = {}
    for key, value in args.items():
        text = json.dumps(value, default=str)
        if mask_secrets(text) == text:
            clean[key] = value
    return json.dumps(clean, indent=2, default=str)


def _schema(name: str) -> str:
    model = _SCHEMAS.get(name)
    return json.dumps(model.model_json_schema() if model is not None else {})


def _requests(view: ThreadView) -> list[RequestView]:
    out: list[RequestView] = []
    index = 0
    for request in view.review_requests:
        packet = dict(request.get("packet") or {})
        allowed = {
            str(c.get("action_name")): [str(d) for d in c.get("allowed_decisions", [])]
            for c in request.get("review_configs", [])
        }
        actions = []
        for action in request.get("action_requests", []):
            args = dict(action.get("args") or {})
            diff = args.get("diff")
            actions.append(
                ActionForm(
                    index=index,
                    interrupt_id=str(request["interrupt_id"]),
                    name=str(action["name"]),
                    description=str(action.get("description", "")),
                    args_json=mask_secrets(json.dumps(args, indent=2, default=str)),
                    edit_json=_editable(args),
                    allowed=allowed.get(str(action["name"]), []),
                    schema_json=_schema(str(action["name"])),
                    patch=diff_lines(diff) if isinstance(diff, str) and diff else None,
                )
            )
            index += 1
        guard, agent = packet.get("guard"), packet.get("agent")
        stale = packet.get(STALE_APPROVAL)
        title = (
            f"{guard} guard on {agent}" if guard else "stale approval" if stale else "review gate"
        )
        out.append(
            RequestView(
                interrupt_id=str(request["interrupt_id"]),
                title=title,
                packet=packet,
                actions=actions,
                stale=dict(stale) if isinstance(stale, Mapping) else None,
            )
        )
    return out


def _evidence(
    record: ThreadRecord, data: Mapping[str, Any], view: ThreadView
) -> list[EvidenceView]:
    findings = list(data["shown"] if "shown" in data else data.get("findings") or [])
    if not findings:  # no report yet (a guard inside a specialist): the packets' evidence
        findings = [
            dict(e)
            for r in view.review_requests
            for e in (r.get("packet") or {}).get("evidence", [])
            if isinstance(e, Mapping) and e.get("file") and e.get("line")
        ]
    findings.sort(key=lambda f: (-SEVERITY_ORDER.get(str(f.get("severity")), 0), f["file"]))
    task = data.get("task") or {}
    reviewed = next(
        (
            (r.get("packet") or {}).get("reviewed")
            for r in view.review_requests
            if (r.get("packet") or {}).get("reviewed")
        ),
        None,
    )
    source = Source(record.repo, reviewed, str(task.get("mode") or record.workflow))
    out = []
    for finding in findings[:_MAX_EVIDENCE]:
        line = int(finding.get("line") or 1)
        try:
            code = source.context(str(finding["file"]), line, finding.get("end_line"))
            hunk = source.hunk(str(finding["file"]), line)
            error = None
        except SourceUnavailable as exc:
            code, hunk, error = [], None, str(exc)
        out.append(EvidenceView(dict(finding), code, hunk, error))
    return out


def _dismissed(data: Mapping[str, Any], view: ThreadView) -> list[dict[str, Any]]:
    items = [dict(d) for d in (data.get("evidence") or {}).get("dismissed_items", [])]
    if items:
        return items
    return [
        {"summary": str(line)}
        for r in view.review_requests
        for line in (r.get("packet") or {}).get("dismissed", [])
    ]


def thread_page(runner: Runner, record: ThreadRecord) -> ThreadPage:
    """Read a thread and lay it out for the thread page."""
    view = thread_view(runner, record)
    data: dict[str, Any] = (view.report or {}).get("data") or {}
    values = runner.outcome(record.thread_id).values
    requests = _requests(view)
    patches = [
        diff_lines(str(a["args"]["diff"]))
        for a in data.get("pending_actions") or []
        if isinstance((a.get("args") or {}).get("diff"), str) and not requests
    ]
    return ThreadPage(
        view=view,
        requests=requests,
        evidence=_evidence(record, data, view),
        handoffs=[dict(h) for h in data.get("handoffs") or []],
        dismissed=_dismissed(data, view),
        report=data or None,
        history=repo_decisions(runner, record.repo),
        decided_by=None if requests else decided_by(runner, record.thread_id, values),
        patches=patches,
    )
