"""The names of Keel's procrastinate tasks (one place, shared by enqueue and worker)."""

from __future__ import annotations

__all__ = ["DECIDE", "NIGHTLY", "RESUME", "RUN", "SWEEP", "THREAD_TASKS"]

RUN = "keel.run"
"""The first run of a queued review or audit (kwargs: thread_id)."""
DECIDE = "keel.decide"
"""Deliver a decision and continue (kwargs: thread_id, decision)."""
RESUME = "keel.resume"
"""Continue a thread from its last checkpoint (kwargs: thread_id)."""
SWEEP = "keel.sweep"
"""Periodic: retry the jobs of workers whose heartbeat lapsed."""
NIGHTLY = "keel.nightly"
"""Periodic: enqueue the scheduled audits (KEEL_QUEUE_NIGHTLY_*)."""

THREAD_TASKS = (RUN, DECIDE, RESUME)
"""Tasks that act on one thread, deferred with `lock=<thread id>`."""
