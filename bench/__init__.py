"""Keel benchmarks: ratios of Keel's guarded loop to bare LangGraph, written to docs/benchmarks.md.

Run ``python -m bench [--quick] [--only NAME] [--write]``. Every benchmark drives a fake
chat model (optionally with a fixed simulated latency) through a model → tools loop, so
what is measured is LangGraph, the checkpointer and Keel's guards — never a provider.
"""

from __future__ import annotations

__all__ = ["BENCHMARKS"]

BENCHMARKS = (
    "guard_overhead",
    "checkpoint_cost",
    "resume_latency",
    "long_thread",
    "token_savings",
    "concurrency",
)
"""Benchmark module names, in the order they run."""
