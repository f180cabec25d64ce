"""Aggregate case results into the figures a run reports, and print them as a table."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import mean
from typing import Any

from .experiment import CaseResult
from .matching import CATEGORIES, CategoryCounts, count_matches, f1

__all__ = ["OFFLINE_DISCLAIMER", "aggregate", "format_summary"]

OFFLINE_DISCLAIMER = (
    "model=offline: Keel's deterministic policy model ran. These scores measure the "
    "pipeline's mechanics plus its real tools (bandit, detect-secrets, semgrep, ruff), "
    "not the quality of an LLM reviewer."
)

_MEANS = (
    "completion",
    "report_produced",
    "routing_correct",
    "review_missed",
    "review_unneeded",
    "no_false_positives",
    "trajectory_superset",
    "trajectory_unordered",
    "specialists_match",
    "budget_adherence",
    "guard_false_positive",
    "guard_false_negative",
    "guard_correct",
    "context_retention",
)


def _mean(results: Sequence[CaseResult], key: str) -> float | None:
    values = [r.scores[key] for r in results if r.scores.get(key) is not None]
    return mean(v for v in values if v is not None) if values else None


def aggregate(results: Sequence[CaseResult]) -> dict[str, Any]:
    """Micro-averaged finding scores per category, means of the other scores, usage totals."""
    totals = {c: CategoryCounts() for c in CATEGORIES}
    for result in results:
        counts = count_matches(
            result.outputs.get("findings") or [], result.case["reference"]["findings"]
        )
        for category, part in counts.items():
            totals[category].add(part)
    overall = CategoryCounts()
    for total in totals.values():
        overall.add(total)
    findings: dict[str, Any] = {}
    for name, row in [*totals.items(), ("all", overall)]:
        findings[name] = {
            "precision": row.precision,
            "recall": row.recall,
            "f1": f1(row.precision, row.recall),
            "reported": row.reported,
            "reported_correct": row.reported_correct,
            "expected": row.expected,
            "expected_found": row.expected_found,
        }
    tokens = [r.scores.get("usage_tokens") or 0.0 for r in results]
    cost = [r.scores.get("usage_cost_usd") or 0.0 for r in results]
    sources = {"native": 0, "constrained": 0, "recovered": 0, "none": 0}
    for result in results:
        for key, count in (result.outputs.get("tool_call_sources") or {}).items():
            sources[key] = sources.get(key, 0) + int(count)
    answers = sum(sources.values())
    return {
        "cases": len(results),
        "findings": findings,
        "scores": {key: _mean(results, key) for key in _MEANS},
        "usage": {
            "tokens_total": sum(tokens),
            "tokens_mean": mean(tokens) if tokens else 0.0,
            "tokens_max": max(tokens, default=0.0),
            "cost_usd_total": sum(cost),
            "cost_usd_mean": mean(cost) if cost else 0.0,
            "seconds_total": sum(r.scores.get("usage_seconds") or 0.0 for r in results),
        },
        "tool_calls": {
            **sources,
            "answers": answers,
            "parse_rate": (answers - sources["none"]) / answers if answers else None,
            "native_rate": sources["native"] / answers if answers else None,
        },
        "errors": [r.case["id"] for r in results if r.outputs.get("error")],
    }


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:5.2f}"


def format_summary(summary: dict[str, Any], title: str) -> str:
    """A plain-text table of an aggregate."""
    lines = [title, "=" * len(title), ""]
    lines.append(
        f"{'findings':<12} {'prec':>5} {'recall':>6} {'F1':>5}  reported/correct  expected/found"
    )
    for name, row in summary["findings"].items():
        lines.append(
            f"{name:<12} {_fmt(row['precision'])} {_fmt(row['recall']):>6} {_fmt(row['f1'])}"
            f"  {row['reported']:>8}/{row['reported_correct']:<7}"
            f"  {row['expected']:>8}/{row['expected_found']}"
        )
    lines.append("")
    for key, value in summary["scores"].items():
        lines.append(f"{key:<24} {_fmt(value)}")
    usage = summary["usage"]
    lines.append("")
    lines.append(
        f"tokens: total {usage['tokens_total']:.0f}, mean {usage['tokens_mean']:.0f}, "
        f"max {usage['tokens_max']:.0f}; cost ${usage['cost_usd_total']:.4f}; "
        f"wall {usage['seconds_total']:.1f}s over {summary['cases']} case(s)"
    )
    calls = summary.get("tool_calls") or {}
    if calls.get("answers"):
        lines.append(
            f"tool calls: {calls['answers']} model answers, parse rate {_fmt(calls['parse_rate'])}"
            f" (native {calls['native']}, schema-constrained {calls['constrained']}, "
            f"recovered from text {calls['recovered']}, none {calls['none']})"
        )
    if summary["errors"]:
        lines.append(f"errors: {summary['errors']}")
    return "\n".join(lines)
