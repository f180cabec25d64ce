"""The `keel` command line: every command, its options and help."""

from __future__ import annotations

import argparse
from pathlib import Path

from keel.cli._common import EXIT_CODES, FORMATS
from keel.core.state import SEVERITY_ORDER
from keel.nodes.context import DIFF_FILTERS


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; `args.command` (and `args.dlq_command`) name the handler."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON to stdout")
    common.add_argument("--database", metavar="URL", help="override KEEL_DATABASE_URL")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "--format", choices=FORMATS, default="md", help="report format (default md)"
    )
    output.add_argument("--output", type=Path, metavar="FILE", help="write the report here")
    output.add_argument(
        "--fail-on",
        choices=list(SEVERITY_ORDER),
        metavar="SEVERITY",
        help="CI gate: exit 9 when a finding at or above SEVERITY remains, else 0",
    )

    parser = argparse.ArgumentParser(
        prog="keel",
        description="Guarded multi-agent code review on LangGraph.",
        epilog="Exit codes: " + ", ".join(f"{code} {text}" for code, text in EXIT_CODES.items()),
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def runnable(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", help="override KEEL_MODEL")
        p.add_argument(
            "--no-input",
            action="store_true",
            help="never prompt: leave the thread awaiting approval and print how to continue",
        )
        p.add_argument("--thread", metavar="ID", help="thread id to use (default: a new one)")
        queued(p)

    def queued(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--queue",
            action="store_true",
            help="queue it for `keel worker` instead of running it here (PostgreSQL only)",
        )

    review = sub.add_parser("review", parents=[common, output], help="review a change")
    review.add_argument("path", type=Path)
    scope = review.add_mutually_exclusive_group()
    scope.add_argument("--rev", metavar="A..B", help="revision range (default HEAD~1..HEAD)")
    scope.add_argument("--staged", action="store_true", help="review the staged change")
    scope.add_argument(
        "--since-last",
        action="store_true",
        help="review what changed since the last revision Keel reviewed in this repository",
    )
    review.add_argument(
        "--filter",
        dest="diff_filter",
        choices=DIFF_FILTERS,
        help="which findings the report lists, may trigger review and are SARIF results: "
        "added (introduced by the change), diff_context (also on its context lines), file "
        "(anywhere in the touched files) or all (default KEEL_DIFF_FILTER, else added)",
    )
    runnable(review)

    audit = sub.add_parser("audit", parents=[common, output], help="review the whole repository")
    audit.add_argument("path", type=Path)
    runnable(audit)

    threads = sub.add_parser("threads", parents=[common], help="list threads")
    threads.add_argument(
        "--status",
        choices=["queued", "running", "awaiting_approval", "done", "failed", "halted"],
    )
    threads.add_argument("--limit", type=int, default=50)

    show_parser = sub.add_parser(
        "show",
        parents=[common, output],
        help="where a thread stands: status, report, pending requests, guard events, usage",
    )
    show_parser.add_argument("thread")

    approve = sub.add_parser("approve", parents=[common, output], help="approve pending actions")
    approve.add_argument("thread")
    approve.add_argument(
        "--edit",
        metavar="JSON",
        help='edited arguments, e.g. \'{"publish_review": {"path": "docs/REVIEW.md"}}\'',
    )
    approve.add_argument("--reviewer", help="who decides (default KEEL_REVIEWER / $USER)")
    approve.add_argument("--reason", help="why the --dismiss findings are not problems")

    reject = sub.add_parser("reject", parents=[common, output], help="reject pending actions")
    reject.add_argument("thread")
    reject.add_argument("--reason", required=True)
    reject.add_argument("--reviewer", help="who decides (default KEEL_REVIEWER / $USER)")
    for decide in (approve, reject):
        decide.add_argument(
            "--dismiss",
            action="append",
            metavar="ID[,ID...]",
            help="dismiss these findings (ids from the report's JSON) with --reason: "
            "remembered for the repository, later reviews suppress them while their code "
            "is unchanged",
        )

    rereview = sub.add_parser(
        "rereview",
        parents=[common, output],
        help="review the repository as it is now in a new thread; the old one's approval closes",
    )
    rereview.add_argument("thread")
    rereview.add_argument("--model", help="override the old thread's model")
    rereview.add_argument(
        "--no-input",
        action="store_true",
        help="never prompt: leave the new thread awaiting approval and print how to continue",
    )
    rereview.add_argument("--reviewer", help="who decides (default KEEL_REVIEWER / $USER)")

    resume = sub.add_parser("resume", parents=[common, output], help="continue a stopped thread")
    resume.add_argument("thread")
    for continued in (approve, reject, resume):
        queued(continued)

    history = sub.add_parser("history", parents=[common], help="list a thread's checkpoints")
    history.add_argument("thread")

    dlq = sub.add_parser("dlq", parents=[common], help="threads that need a person")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_sub.add_parser("list", parents=[common], help="failed, halted, stalled, overdue")
    dlq_list.add_argument("--stall-minutes", type=float, default=15.0)
    dlq_list.add_argument("--approval-sla-hours", type=float, default=72.0)
    dlq_retry = dlq_sub.add_parser(
        "retry", parents=[common, output], help="re-drive from the last checkpoint"
    )
    dlq_retry.add_argument("thread")
    queued(dlq_retry)

    work = sub.add_parser(
        "worker", parents=[common], help="run queued reviews and audits until SIGTERM"
    )
    work.add_argument("--concurrency", type=int, default=1, help="jobs at a time (default 1)")
    work.add_argument(
        "--queue", dest="queue_name", metavar="NAME", help="queue to serve (KEEL_QUEUE_NAME)"
    )
    batch = sub.add_parser("batch", parents=[common], help="queue many runs at once")
    batch_sub = batch.add_subparsers(dest="batch_command", required=True)
    batch_audit = batch_sub.add_parser(
        "audit", parents=[common], help="queue an audit of every repository FILE lists"
    )
    batch_audit.add_argument("file", type=Path, metavar="FILE", help="one repository path a line")

    health = sub.add_parser("health", parents=[common], help="exit 0 when healthy, 1 when not")
    health.add_argument("--stall-minutes", type=float, default=15.0)
    health.add_argument("--max-stalled", type=int, default=0)

    prune = sub.add_parser("prune", parents=[common], help="delete old finished threads")
    prune.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    prune.add_argument("--dry-run", action="store_true")

    base = sub.add_parser(
        "baseline", parents=[common], help="findings dismissed in a repository's reviews"
    )
    base.add_argument("action", choices=["show", "clear"])
    base.add_argument("repo", type=Path, metavar="REPO", help="a path in the git repository")

    inbox = sub.add_parser(
        "inbox", parents=[common], help="the review inbox in the browser (docs/inbox.md)"
    )
    inbox.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    inbox.add_argument("--port", type=int, default=8765, help="port (default 8765)")

    feedback = sub.add_parser("feedback", parents=[common], help="the human-decision log")
    feedback.add_argument("action", choices=["export"])
    feedback.add_argument("--output", type=Path, help="write JSONL here (default stdout)")
    return parser
