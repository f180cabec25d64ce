"""Queue settings, read from the environment (and `.env`) like `keel.settings.Settings`.

| variable | default | meaning |
|---|---|---|
| `KEEL_QUEUE_NAME` | `keel` | procrastinate queue of reviews, audits and decisions |
| `KEEL_QUEUE_HEARTBEAT` | 10 | seconds between a worker's heartbeats |
| `KEEL_QUEUE_STALL_AFTER` | 60 | a worker silent this long is stalled: its jobs are retried |
| `KEEL_QUEUE_SWEEP_EVERY` | 15 | seconds between stall sweeps (a periodic task; 1-59) |
| `KEEL_QUEUE_GRACE` | 30 | a worker sweeps only once it has been connected this long |
| `KEEL_QUEUE_MAX_ATTEMPTS` | 3 | attempts of a job (failures and stalls) before the DLQ |
| `KEEL_QUEUE_RETRY_WAIT` | 5 | seconds before a failed job is retried |
| `KEEL_QUEUE_NIGHTLY_CRON` | unset | cron of the scheduled audit (a 6th field, last: seconds) |
| `KEEL_QUEUE_NIGHTLY_FILE` | unset | the repositories it audits, one path a line |

Failure mode: a malformed or inconsistent value raises `QueueSettingsError` naming the
variable (the CLI turns it into exit 2). The stall timeout must exceed two heartbeats, or a
busy but healthy worker would be declared dead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

__all__ = ["QueueSettings", "QueueSettingsError"]


class QueueSettingsError(ValueError):
    """A queue setting has a value Keel cannot use."""


@dataclass(frozen=True, kw_only=True)
class QueueSettings:
    """How the queue and its workers behave; defaults suit production, tests shrink them."""

    queue: str = "keel"
    """Name of the procrastinate queue Keel's jobs go to."""
    heartbeat_s: float = 10.0
    """Seconds between a worker's heartbeats."""
    stall_after_s: float = 60.0
    """A worker whose heartbeat is older than this is stalled; its jobs are retried."""
    sweep_every_s: int = 15
    """Seconds between runs of the stall sweep (a periodic task with a seconds field)."""
    grace_s: float = 30.0
    """A worker sweeps only after being connected this long (after an outage, live workers
    heartbeat again before anyone is declared dead)."""
    max_attempts: int = 3
    """Attempts of one job, failures and stalls together, before it lands in the DLQ."""
    retry_wait_s: int = 5
    """Seconds before a failed attempt is retried."""
    nightly_cron: str = ""
    """Cron of the scheduled audit (empty: none)."""
    nightly_file: str = ""
    """File listing the repositories the scheduled audit enqueues, one a line."""

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> QueueSettings:
        """Read `KEEL_QUEUE_*` from `env` (default `os.environ`) over `.env`.

        Raises:
            QueueSettingsError: a value is malformed; the message names the variable.
        """
        file_values = {k: v for k, v in dotenv_values(Path(".env")).items() if v is not None}
        merged = {**file_values, **(env if env is not None else os.environ)}

        def text(name: str, default: str) -> str:
            return merged.get(name, "").strip() or default

        def number(name: str, default: str) -> float:
            raw = text(name, default)
            try:
                value = float(raw)
            except ValueError:
                raise QueueSettingsError(f"{name}={raw!r} is not a number") from None
            if value <= 0:
                raise QueueSettingsError(f"{name}={raw!r} must be positive")
            return value

        settings = cls(
            queue=text("KEEL_QUEUE_NAME", "keel"),
            heartbeat_s=number("KEEL_QUEUE_HEARTBEAT", "10"),
            stall_after_s=number("KEEL_QUEUE_STALL_AFTER", "60"),
            sweep_every_s=int(number("KEEL_QUEUE_SWEEP_EVERY", "15")),
            grace_s=number("KEEL_QUEUE_GRACE", "30"),
            max_attempts=int(number("KEEL_QUEUE_MAX_ATTEMPTS", "3")),
            retry_wait_s=int(number("KEEL_QUEUE_RETRY_WAIT", "5")),
            nightly_cron=text("KEEL_QUEUE_NIGHTLY_CRON", ""),
            nightly_file=text("KEEL_QUEUE_NIGHTLY_FILE", ""),
        )
        if settings.stall_after_s <= 2 * settings.heartbeat_s:
            raise QueueSettingsError(
                f"KEEL_QUEUE_STALL_AFTER={settings.stall_after_s:g} must exceed two heartbeats "
                f"(KEEL_QUEUE_HEARTBEAT={settings.heartbeat_s:g})"
            )
        if not 1 <= settings.sweep_every_s <= 59:
            raise QueueSettingsError(
                f"KEEL_QUEUE_SWEEP_EVERY={settings.sweep_every_s} must be between 1 and 59"
            )
        if bool(settings.nightly_cron) != bool(settings.nightly_file):
            raise QueueSettingsError(
                "KEEL_QUEUE_NIGHTLY_CRON and KEEL_QUEUE_NIGHTLY_FILE go together: set both or "
                "neither"
            )
        return settings
