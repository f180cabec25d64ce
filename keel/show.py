"""`keel show THREAD`: where any thread stands, with or without a report.

`thread_view` reads a thread's latest checkpoint — the parent's and, for work still in
flight, every unfinished subgraph's (`get_state(..., subgraphs=True)`) — into what
`keel show --json` prints, always these six keys:

    {"thread_id", "status", "report", "review_requests", "guard_events", "usage"}

* `status` — `awaiting_approval`, `done`, `halted`, `budget_exhausted`, `running` (the
  registry says a process is on it) or `failed` (stopped mid-run: `keel resume`).
* `report` — the report's data (what `keel review --format json` prints), or null before
  the pipeline wrote one (e.g. a guard inside a specialist waits for a human).
* `review_requests` — the pending interrupts, `{"interrupt_id", **request}`: the
  action requests, review configs and the packet; the ids `keel approve` answers.
* `guard_events` — the audit trail so far: the parent's, then each unfinished
  specialist's own trail, then the verdicts handed to a guard node that has not finished
  (`"pending": true`; a guard waiting for a human records its event once answered).
  Recorded events carry `"pending": false`.
* `usage` — what the thread spent: the parent's sum plus each unfinished specialist's.

Guarantees: a specialist that finished in the step that is still open is counted once
(LangGraph's live snapshot already folds finished tasks' writes into the parent values,
so only unfinished tasks' subgraph states are added). What breaks it: reading a
checkpoint by id (`checkpoint_id` in the config) gives a non-live snapshot, where
finished tasks are not folded in; `thread_view` never does that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langgraph.types import StateSnapshot

from keel.core.state import Usage, add_usage
from keel.registry import ThreadRecord
from keel.runner import FINAL, Runner

__all__ = [
    "SHOW_KEYS",
    "InFlight",
    "ThreadView",
    "continue_commands",
    "in_flight",
    "render_markdown",
    "thread_view",
]

SHOW_KEYS = ("thread_id", "status", "report", "review_requests", "guard_events", "usage")
"""The keys of `keel show --json`, in order, whatever the thread's state."""

STALL_AFTER_S = 15 * 60.0
"""A `running` thread without a heartbeat for this long is called stalled (as `keel dlq
list`'s default)."""

_EDIT_EXAMPLE_CHARS = 80
"""Longest `--edit` example printed with the action's own arguments."""


@dataclass(frozen=True)
class ThreadView:
    """A thread as `keel show` presents it."""

    thread_id: str
    status: str
    """See the module docstring."""
    report: dict[str, Any] | None
    """The latest report (markdown + data), if any."""
    review_requests: list[dict[str, Any]]
    """Pending interrupts: `{"interrupt_id", **request}`."""
    guard_events: list[dict[str, Any]]
    """Guard events with `pending`, oldest first."""
    usage: Usage
    """Spent so far, specialists in flight included."""
    record: ThreadRecord
    """The registry row (workflow, repository, heartbeat, last error)."""
    task_errors: list[str]
    """Errors recorded by unfinished tasks of the open step (`node: error`)."""

    def as_json(self) -> dict[str, Any]:
        """The `keel show --json` object: exactly `SHOW_KEYS`."""
        return {
            "thread_id": self.thread_id,
            "status": self.status,
            "report": self.report["data"] if self.report else None,
            "review_requests": self.review_requests,
            "guard_events": self.guard_events,
            "usage": self.usage,
        }


@dataclass(frozen=True)
class InFlight:
    """What the unfinished subgraphs of a snapshot hold that the parent does not yet."""

    guard_events: list[dict[str, Any]]
    """Each unfinished subgraph's recorded events, then its pending verdict, depth first."""
    usage: Usage
    """What the unfinished subgraphs spent (the parent's `usage` excludes it)."""
    errors: list[str]
    """`node: error` for unfinished tasks that recorded an error."""


def _recorded(events: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return [dict(event) | {"pending": False} for event in events or []]


def _stamp(created_at: str | None) -> str:
    if not created_at:
        return ""
    return datetime.fromisoformat(created_at).astimezone(UTC).isoformat(timespec="seconds")


def _pending_verdict(snapshot: StateSnapshot, agent: str) -> list[dict[str, Any]]:
    """The verdict an agent node handed to a guard node that has not finished, if any."""
    verdict = (snapshot.values or {}).get("verdict")
    if not isinstance(verdict, Mapping) or verdict.get("guard") not in snapshot.next:
        return []
    return [
        {
            "guard": verdict["guard"],
            "verdict": verdict.get("action", ""),
            "reason": verdict.get("reason", ""),
            "agent": agent,
            "at": _stamp(snapshot.created_at),  # the checkpoint that handed it over
            "pending": True,
        }
    ]


def in_flight(snapshot: StateSnapshot, agent: str = "pipeline") -> InFlight:
    """Collect the unfinished subgraphs' guard events, usage and errors, recursively.

    `snapshot` must come from `get_state(config, subgraphs=True)` without a checkpoint
    id (live): its tasks carry their subgraph states, and a finished task (`result` not
    None) is skipped because its writes are already in the parent's values. `agent`
    names the graph of `snapshot` in a pending verdict it holds.
    """
    events = _pending_verdict(snapshot, agent)
    usage = Usage(
        input_tokens=0, output_tokens=0, cost_usd=0.0, model_calls=0, tool_calls=0, seconds=0.0
    )
    errors: list[str] = []
    for task in snapshot.tasks:
        if task.result is not None:
            continue
        if task.error is not None:
            errors.append(f"{task.name}: {task.error}")
        sub = task.state
        if not isinstance(sub, StateSnapshot):
            continue
        values = sub.values or {}
        events += _recorded(values.get("guard_events"))
        usage = add_usage(usage, values.get("usage"))
        deeper = in_flight(sub, str((values.get("step") or {}).get("specialist") or task.name))
        events += deeper.guard_events
        usage = add_usage(usage, deeper.usage)
        errors += deeper.errors
    return InFlight(events, usage, errors)


def _status(outcome_status: str, record: ThreadRecord) -> str:
    if outcome_status == "awaiting_approval" or outcome_status in FINAL:
        return outcome_status
    # stopped mid-run (or stranded): a process may still be on it
    return "running" if record.status == "running" else "failed"


def thread_view(runner: Runner, record: ThreadRecord) -> ThreadView:
    """Read where `record`'s thread stands from its latest checkpoint."""
    outcome = runner.outcome(record.thread_id)
    snapshot = runner.graph.get_state(runner.config(record.thread_id), subgraphs=True)
    flight = in_flight(snapshot)
    values = dict(snapshot.values or {})
    return ThreadView(
        thread_id=record.thread_id,
        status=_status(outcome.status, record),
        report=outcome.report,
        review_requests=[
            {"interrupt_id": interrupt_id, **request}
            for interrupt_id, request in outcome.interrupts
        ],
        guard_events=_recorded(values.get("guard_events")) + flight.guard_events,
        usage=add_usage(values.get("usage"), flight.usage),
        record=record,
        task_errors=flight.errors,
    )


def _edit_example(requests: Sequence[Mapping[str, Any]]) -> str | None:
    """An `--edit` argument that changes one argument of a pending action, or None.

    The first editable action with an argument short enough to print (`ARG`/`VALUE`
    placeholders when every argument is long, as a patch is).
    """
    fallback: str | None = None
    for request in requests:
        editable = {
            c["action_name"]
            for c in request.get("review_configs", [])
            if "edit" in c.get("allowed_decisions", [])
        }
        for action in request.get("action_requests", []):
            if action["name"] not in editable:
                continue
            for key, value in (action.get("args") or {}).items():
                example = json.dumps({action["name"]: {key: value}}, default=str)
                if len(example) <= _EDIT_EXAMPLE_CHARS:
                    return example
            fallback = fallback or json.dumps({action["name"]: {"ARG": "VALUE"}})
    return fallback


def continue_commands(view: ThreadView) -> list[str]:
    """The commands that move the thread on from where it stands (none when finished)."""
    thread = view.thread_id
    stale = any(
        action.get("name") == "stale_approval"
        for request in view.review_requests
        for action in request.get("action_requests", [])
    )
    if view.status == "awaiting_approval" and stale:
        # the repository moved after the review: approving again runs nothing (exit 10)
        return [f"keel rereview {thread}", f"keel reject {thread} --reason '...'"]
    if view.status == "awaiting_approval":
        commands = [f"keel approve {thread}"]
        example = _edit_example(view.review_requests)
        if example is not None:
            commands.append(f"keel approve {thread} --edit '{example}'")
        commands.append(f"keel reject {thread} --reason '...'")
        return commands
    if view.status in ("failed", "running"):
        return [f"keel resume {thread}"]
    return []


def _age(stamp: str, now: datetime) -> float:
    return (now - datetime.fromisoformat(stamp)).total_seconds()


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _status_line(view: ThreadView, now: datetime) -> str:
    record = view.record
    if view.status == "awaiting_approval":
        packets = [r.get("packet", {}) for r in view.review_requests]
        guards = sorted({str(p["guard"]) for p in packets if p.get("guard")})
        if guards:
            return f"waiting for a human at a guard escalation ({', '.join(guards)})"
        return "waiting for a human decision"
    if view.status == "running":
        idle = _age(record.heartbeat_at, now)
        line = f"a process is on it; last heartbeat {_duration(idle)} ago"
        if idle > STALL_AFTER_S:
            line += " — stalled: the process is probably gone"
        return line
    if view.status == "failed":
        return "stopped mid-run" + (f": {record.error}" if record.error else "")
    return "finished"


def _request_lines(number: int, request: Mapping[str, Any]) -> list[str]:
    packet = request.get("packet", {})
    guard, agent = packet.get("guard"), packet.get("agent")
    title = f"{guard} guard on {agent}" if guard else "review gate"
    lines = [f"### {number}. {title}", ""]
    if packet.get("summary"):
        lines.append(f"- summary: {packet['summary']}")
    for trigger in packet.get("triggers", []):
        lines.append(f"- trigger: {trigger}")
    lines.append(f"- confidence: {float(packet.get('confidence', 1.0)):.2f}")
    for item in packet.get("uncertainty", [])[:10]:
        lines.append(f"- uncertain: {item}")
    for evidence in packet.get("evidence", [])[:5]:
        lines.append(f"- evidence: `{json.dumps(evidence, default=str)}`")
    for action in request.get("action_requests", []):
        args = json.dumps(action.get("args") or {}, default=str)
        if len(args) > 200:
            args = args[:200] + "…"
        lines.append(f"- action **{action['name']}** `{args}`")
    lines.append(f"- interrupt id: `{request.get('interrupt_id', '')}`")
    return [*lines, ""]


def render_markdown(view: ThreadView, now: datetime | None = None) -> str:
    """Markdown for a thread, report or not: status, requests, guard events, usage, next."""
    now = now or datetime.now(UTC)
    record = view.record
    lines = [
        f"# Keel thread {view.thread_id}",
        "",
        f"**Status: {view.status}** — {_status_line(view, now)}",
        "",
        f"{record.workflow} of `{record.repo}` · model {record.model} · "
        f"started {record.created_at} · updated {record.updated_at}",
        "",
    ]
    if view.report is None:
        lines += ["No report yet: the pipeline has not reached its report.", ""]
    for error in view.task_errors:
        lines.append(f"- error in {error}")
    if view.review_requests:
        lines += [f"## Waiting for review ({len(view.review_requests)})", ""]
        for number, request in enumerate(view.review_requests, 1):
            lines += _request_lines(number, request)
    lines += [f"## Guard events ({len(view.guard_events)})", ""]
    if view.guard_events:
        lines += ["| guard | verdict | agent | at | reason |", "|---|---|---|---|---|"]
        for event in view.guard_events:
            verdict = event["verdict"] + (" (pending)" if event["pending"] else "")
            reason = str(event["reason"]).replace("|", "\\|")
            lines.append(
                f"| {event['guard']} | {verdict} | {event['agent']} | {event['at']} | {reason} |"
            )
    else:
        lines.append("None so far.")
    usage = view.usage
    lines += [
        "",
        "## Usage",
        "",
        f"{usage['input_tokens']} input + {usage['output_tokens']} output tokens · "
        f"${usage['cost_usd']:.4f} · {usage['model_calls']} model call(s) · "
        f"{usage['tool_calls']} tool call(s) · {usage['seconds']:.1f} s waiting for the model",
        "",
    ]
    commands = continue_commands(view)
    if commands:
        lines += ["## Continue with", ""]
        if view.status == "running":
            lines += ["If the process is gone (while it runs, `keel resume` exits 8):", ""]
        lines += ["```bash", *commands, "```", ""]
    return "\n".join(lines)
