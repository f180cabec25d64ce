"""The commands that read or maintain the database.

`keel threads`, `show`, `history`, `feedback export`, `baseline`, `health`, `prune` and
`dlq list`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from keel import dismissals, ops, queue, show
from keel.cli._common import (
    EXIT_DONE,
    EXIT_FAILED,
    EXIT_USAGE,
    EXIT_WRONG_STATE,
    Call,
    CliError,
    ThreadCall,
)
from keel.cli._outcome import emit_report, fail_on, write_output
from keel.nodes.guards.feedback import iter_feedback
from keel.runner import Outcome
from keel.tools import git


def threads(call: Call) -> int:
    """`keel threads`: the registry's threads, newest first (`--status`, `--limit`)."""
    args, terminal, runner = call.args, call.terminal, call.runner
    records = runner.persistence.registry.list(status=args.status, limit=args.limit)
    workers = queue.running_workers(runner.persistence)  # queued threads: who runs what
    if args.json:
        terminal.emit_json([r.as_dict() | {"worker": workers.get(r.thread_id)} for r in records])
        return EXIT_DONE
    terminal.table(
        "Keel threads",
        ["thread", "workflow", "status", "worker", "findings", "cost", "model", "updated", "repo"],
        [
            [
                r.thread_id,
                r.workflow,
                r.status,
                workers.get(r.thread_id, ""),
                str(r.findings),
                f"${r.cost_usd:.4f}",
                r.model,
                r.updated_at,
                r.repo,
            ]
            for r in records
        ],
    )
    return EXIT_DONE


def show_thread(call: ThreadCall) -> int:
    """Where any thread stands: status, report, pending requests, guard events, usage.

    Needs no report for Markdown and JSON; SARIF and `--fail-on` do (exit 5 without one).
    """
    args, terminal, runner, record = call.args, call.terminal, call.runner, call.record
    view = show.thread_view(runner, record)
    report = view.report
    fmt = "json" if args.json else args.format
    needs_report = [
        what for what, asked in (("SARIF", fmt == "sarif"), ("--fail-on", args.fail_on)) if asked
    ]
    if report is None and needs_report:
        raise CliError(
            EXIT_WRONG_STATE,
            f"thread {args.thread} has no report yet (status {view.status}): "
            f"{' and '.join(needs_report)} {'need' if len(needs_report) > 1 else 'needs'} one; "
            f"`keel show {args.thread}` shows where it stands",
        )
    if fmt == "json":
        text = json.dumps(view.as_json(), indent=2, default=str) + "\n"
        if args.output is None or args.json:
            terminal.emit_json(view.as_json())
        else:
            write_output(terminal, args.output, text, "thread status (json)")
    elif report is not None:
        emit_report(args, terminal, report)
        if view.review_requests:
            for request in view.review_requests:
                terminal.show_request(request)
            terminal.info(
                f"\nThread {view.thread_id} is awaiting approval. Continue with:\n"
                + "\n".join(f"  {command}" for command in show.continue_commands(view))
            )
    elif args.output is not None:
        write_output(terminal, args.output, show.render_markdown(view), "thread status (md)")
    else:
        terminal.markdown(show.render_markdown(view))
    if report is None:
        return EXIT_DONE
    gate = fail_on(args, terminal, Outcome(view.thread_id, view.status, {"report": report}, []))
    return EXIT_DONE if gate is None else gate


def history(call: ThreadCall) -> int:
    """`keel history THREAD`: the thread's checkpoints, oldest first."""
    args, terminal, runner = call.args, call.terminal, call.runner
    rows: list[dict[str, Any]] = []
    for snap in runner.graph.get_state_history(runner.config(args.thread)):
        meta = snap.metadata or {}
        rows.append(
            {
                "checkpoint_id": snap.config["configurable"].get("checkpoint_id"),
                "step": meta.get("step"),
                "source": meta.get("source"),
                "created_at": snap.created_at,
                "next": list(snap.next),
                "interrupts": len(snap.interrupts),
            }
        )
    rows.reverse()
    if args.json:
        terminal.emit_json(rows)
    else:
        terminal.table(
            f"History of {args.thread}",
            ["step", "source", "next", "created", "checkpoint"],
            [
                [
                    str(r["step"]),
                    str(r["source"]),
                    ", ".join(map(str, r["next"] or [])),
                    str(r["created_at"]),
                    str(r["checkpoint_id"]),
                ]
                for r in rows
            ],
        )
    return EXIT_DONE


def feedback(call: Call) -> int:
    """`keel feedback export`: every human decision, as JSONL (stdout or `--output`)."""
    args, terminal, runner = call.args, call.terminal, call.runner
    lines = [
        json.dumps(entry, sort_keys=True, default=str)
        for entry in iter_feedback(runner.persistence.store)
    ]
    text = "".join(line + "\n" for line in lines)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        terminal.info(f"{len(lines)} decision(s) written to {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_DONE


def baseline(call: Call) -> int:
    """`keel baseline show | clear REPO`: a repository's remembered dismissals."""
    args, terminal, runner = call.args, call.terminal, call.runner
    store = runner.persistence.store
    try:
        if args.action == "clear":
            cleared = dismissals.clear_baseline(store, args.repo)
            if args.json:
                terminal.emit_json(cleared)
            else:
                terminal.info(
                    f"forgot {cleared['cleared']} dismissal(s) of {cleared['repo']} "
                    f"({cleared['identified_by']}): later reviews raise those findings again"
                )
            return EXIT_DONE
        view = dismissals.baseline_view(store, args.repo)
    except git.GitError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    if args.json:
        terminal.emit_json(view)
        return EXIT_DONE
    terminal.table(
        f"Dismissed findings of {view['repo']} ({view['identified_by']})",
        ["file", "line", "rule", "severity", "reason", "reviewer", "at", "thread"],
        [
            [
                e["file"],
                str(e["line"]),
                e["rule"],
                e["severity"],
                e["reason"],
                e["reviewer"],
                e["at"],
                e["thread_id"],
            ]
            for e in view["entries"]
        ],
    )
    return EXIT_DONE


def health(call: Call) -> int:
    """`keel health`: exit 0 when every check passes, 1 when one does not."""
    args, terminal, runner, settings = call.args, call.terminal, call.runner, call.settings
    checks = ops.health(
        runner.persistence,
        settings,
        stall_after_s=args.stall_minutes * 60,
        max_stalled=args.max_stalled,
    )
    healthy = all(c.ok for c in checks)
    if args.json:
        terminal.emit_json({"healthy": healthy, "checks": [c.__dict__ for c in checks]})
    else:
        terminal.table(
            "Keel health — " + ("healthy" if healthy else "UNHEALTHY"),
            ["check", "ok", "detail"],
            [[c.name, "yes" if c.ok else "NO", c.detail] for c in checks],
        )
    return EXIT_DONE if healthy else EXIT_FAILED


def prune(call: Call) -> int:
    """`keel prune --older-than DAYS [--dry-run]`: delete old finished threads."""
    args, terminal, runner = call.args, call.terminal, call.runner
    pruned = ops.prune(runner.persistence, older_than_days=args.older_than, dry_run=args.dry_run)
    if args.json:
        terminal.emit_json({"dry_run": args.dry_run, "threads": [r.thread_id for r in pruned]})
    else:
        verb = "would delete" if args.dry_run else "deleted"
        terminal.info(
            f"{verb} {len(pruned)} finished thread(s) older than {args.older_than} day(s)"
        )
        for record in pruned:
            terminal.info(f"  {record.thread_id} {record.status} {record.updated_at}")
    return EXIT_DONE


def dlq_list(call: Call) -> int:
    """`keel dlq list`: failed, halted, stalled and overdue threads."""
    args, terminal, runner = call.args, call.terminal, call.runner
    letters = ops.dead_letters(
        runner.persistence,
        stall_after_s=args.stall_minutes * 60,
        approval_sla_s=args.approval_sla_hours * 3600,
    )
    if args.json:
        terminal.emit_json(
            [
                {
                    "thread_id": d.record.thread_id,
                    "status": d.record.status,
                    "reason": d.reason,
                    "updated_at": d.record.updated_at,
                    "repo": d.record.repo,
                }
                for d in letters
            ]
        )
    else:
        terminal.table(
            "Dead-letter list",
            ["thread", "status", "reason", "updated", "repo"],
            [
                [d.record.thread_id, d.record.status, d.reason, d.record.updated_at, d.record.repo]
                for d in letters
            ],
        )
    return EXIT_DONE
