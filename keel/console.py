"""Terminal output: live progress, the review packet, the interactive decision prompt.

Progress and prompts go to stderr; stdout carries only the report (or JSON with
`--json`), so scripts can pipe it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.prompt import Prompt
from rich.table import Table

__all__ = ["Terminal"]


class Terminal:
    """Where the CLI writes."""

    def __init__(self, *, json_mode: bool, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.out = Console(highlight=False, soft_wrap=True)
        if not self.out.is_terminal:
            self.out.width = 200

    # -------------------------------------------------------------- progress

    def progress(self, namespace: tuple[str, ...], node: str, update: dict[str, Any]) -> None:
        """Print one line per finished node."""
        if self.quiet:
            return
        where = " › ".join([*(part.split(":")[0] for part in namespace), node])
        detail = ""
        if "findings" in update and update["findings"]:
            detail = f" — {len(update['findings'])} finding(s)"
        elif "messages" in update:
            calls = [
                c["name"] for m in update["messages"] for c in getattr(m, "tool_calls", []) or []
            ]
            if calls:
                detail = f" — calls {', '.join(calls)}"
        elif "guard_events" in update and update["guard_events"]:
            detail = f" — guard: {update['guard_events'][-1]['reason']}"
        self.err.print(f"[dim]·[/dim] {escape(where + detail)}")

    def info(self, text: str) -> None:
        """Print a status line to stderr."""
        if not self.quiet:
            self.err.print(escape(text))

    def notice(self, text: str) -> None:
        """Print a line to stderr even with --quiet (gate verdicts)."""
        self.err.print(escape(text))

    def error(self, text: str) -> None:
        """Print an error line to stderr (always, also in JSON mode)."""
        self.err.print(f"[bold red]error:[/bold red] {escape(text)}")

    # ---------------------------------------------------------------- output

    def emit_json(self, data: Any) -> None:
        """Write JSON to stdout."""
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        sys.stdout.flush()

    def markdown(self, text: str) -> None:
        """Write a Markdown report to stdout (rendered on a terminal, raw when piped)."""
        if self.out.is_terminal:
            self.out.print(Markdown(text))
        else:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def table(self, title: str, columns: list[str], rows: list[list[str]]) -> None:
        """Write a table to stdout."""
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        self.out.print(table)

    # ---------------------------------------------------------------- review

    def show_request(self, request: dict[str, Any]) -> None:
        """Show what a reviewer must decide, with the packet's reasoning and evidence."""
        if self.quiet:
            return
        packet = request.get("packet", {})
        self.err.print("\n[bold]Human review required[/bold]")
        lines = [f"  trigger: {trigger}" for trigger in packet.get("triggers", [])]
        lines.append(f"  confidence: {packet.get('confidence', 1.0):.2f}")
        lines += [f"  {line}" for line in packet.get("reasoning", [])]
        lines += [f"  uncertain: {item}" for item in packet.get("uncertainty", [])[:10]]
        for line in lines:
            self.err.print(escape(line))
        for number, action in enumerate(request.get("action_requests", []), 1):
            self.err.print(
                f"  action {number}: [bold]{escape(action['name'])}[/bold] "
                f"{escape(action.get('description', ''))}"
            )

    def ask_decisions(self, request: dict[str, Any]) -> dict[str, Any]:
        """Ask approve / reject / respond per action on the terminal."""
        decisions = []
        for action in request.get("action_requests", []):
            choice = Prompt.ask(
                f"{action['name']}",
                choices=["approve", "reject", "respond"],
                default="reject",
                console=self.err,
            )
            decision: dict[str, Any] = {"type": choice}
            if choice in ("reject", "respond"):
                decision["message"] = Prompt.ask("message", default="", console=self.err)
            decisions.append(decision)
        return {"decisions": decisions}
