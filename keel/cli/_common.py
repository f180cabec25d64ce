"""What every `keel` command shares: exit codes, the error type and a command's inputs."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from typing import Any

from keel.console import Terminal
from keel.nodes.context import KeelContext
from keel.registry import ThreadRecord
from keel.runner import Runner
from keel.settings import Settings, SettingsError

EXIT_DONE, EXIT_FAILED, EXIT_USAGE, EXIT_AWAITING = 0, 1, 2, 3
EXIT_UNKNOWN_THREAD, EXIT_WRONG_STATE, EXIT_DATABASE, EXIT_HALTED = 4, 5, 6, 7
EXIT_BUSY = 8
EXIT_FINDINGS = 9
EXIT_STALE = 10
FORMATS = ["md", "json", "sarif"]

EXIT_CODES = {
    EXIT_DONE: "done",
    EXIT_FAILED: "failed",
    EXIT_USAGE: "usage error",
    EXIT_AWAITING: "awaiting approval",
    EXIT_UNKNOWN_THREAD: "unknown thread",
    EXIT_WRONG_STATE: "thread not in a state for this command",
    EXIT_DATABASE: "database unavailable",
    EXIT_HALTED: "halted by a guard",
    EXIT_BUSY: "thread busy in another process",
    EXIT_FINDINGS: "findings at or above --fail-on",
    EXIT_STALE: "stale approval: the repository moved since the review",
}


class CliError(Exception):
    """An error with an exit code and a one-line message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Call:
    """One invocation of a command that needs the database: its arguments and runner."""

    args: argparse.Namespace
    terminal: Terminal
    settings: Settings
    runner: Runner


@dataclass(frozen=True)
class ThreadCall(Call):
    """A command on one existing thread: its registry record and recorded run settings."""

    record: ThreadRecord
    context: KeelContext


def load_settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment with the command line's `--database` / `--model`.

    Raises:
        CliError: exit 2 when a setting is invalid.
    """
    try:
        settings = Settings.load()
    except SettingsError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    overrides: dict[str, Any] = {}
    if getattr(args, "database", None):
        overrides["database_url"] = args.database
    if getattr(args, "model", None):
        overrides["model"] = args.model
    if overrides:
        settings = replace(settings, **overrides)
    return settings


def database_errors() -> tuple[type[BaseException], ...]:
    """The driver errors that mean the database failed (exit 6), not the command."""
    import sqlite3

    import psycopg
    from psycopg_pool import PoolTimeout

    return (psycopg.OperationalError, PoolTimeout, sqlite3.OperationalError)
