"""LangSmith evaluators of a whole review run (end-to-end task completion).

Each evaluator takes the target's `outputs` and the case's `reference_outputs` (LangSmith
passes them by these argument names) and returns a list of `{"key", "score"}` results.
Scores are 0–1 (1 is good) except where a key says otherwise: `guard_false_positive`,
`guard_false_negative`, `review_missed` and `review_unneeded` are 1 when the failure
happened (so their mean is a rate), and `usage_*` keys are raw amounts (tokens, USD,
calls), reported for cost, not quality.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agentevals.trajectory.match import (  # type: ignore[import-untyped]
    create_trajectory_match_evaluator,
)

from .matching import count_matches, f1, finding_matches, is_match

__all__ = [
    "EVALUATORS",
    "actual_guards",
    "budget_adherence",
    "context_retention",
    "end_to_end_completion",
    "finding_quality",
    "guard_accuracy",
    "human_asked",
    "trajectory_match",
    "usage",
]

Result = dict[str, Any]
Evaluator = Callable[..., list[Result]]

_SUPERSET = create_trajectory_match_evaluator(
    trajectory_match_mode="superset", tool_args_match_mode="ignore"
)
_UNORDERED = create_trajectory_match_evaluator(
    trajectory_match_mode="unordered", tool_args_match_mode="ignore"
)


def _r(key: str, score: float | None, comment: str = "") -> Result:
    result: Result = {"key": key, "score": score}
    if comment:
        result["comment"] = comment
    return result


def finding_quality(
    outputs: Mapping[str, Any], reference_outputs: Mapping[str, Any]
) -> list[Result]:
    """Precision, recall and F1 per category; a case with none reported/expected skips a key."""
    reported = outputs.get("findings") or []
    expected = reference_outputs.get("findings") or []
    results: list[Result] = []
    for category, counts in count_matches(reported, expected).items():
        if counts.precision is not None:
            results.append(_r(f"{category}_precision", counts.precision))
        if counts.recall is not None:
            results.append(_r(f"{category}_recall", counts.recall, "; ".join(counts.missed) or ""))
        score = f1(counts.precision, counts.recall)
        if score is None and counts.expected and not counts.reported:
            score = 0.0  # expected something, reported nothing in this category
        if score is not None:
            results.append(_r(f"{category}_f1", score))
    wrong = [
        f"{r['file']}:{r['line']} {r['category']} {r.get('rule', '')}"
        for r, ok in zip(reported, finding_matches(reported, expected), strict=True)
        if not ok
    ]
    results.append(_r("no_false_positives", float(not wrong), "; ".join(wrong[:10])))
    return results


def human_asked(outputs: Mapping[str, Any]) -> bool:
    """Whether the run stopped for a person: the review gate or a guard escalation."""
    return bool(outputs.get("interrupted") or outputs.get("escalations"))


def end_to_end_completion(
    outputs: Mapping[str, Any], reference_outputs: Mapping[str, Any]
) -> list[Result]:
    """Report produced, and review routed correctly (a human asked iff `must_review`)."""
    produced = bool(outputs.get("report_produced")) and not outputs.get("error")
    asked = human_asked(outputs)
    must = bool(reference_outputs.get("must_review"))
    routed = asked == must
    triggers = [t for r in outputs.get("review_requests") or [] for t in r.get("triggers", [])]
    why = f"must_review={must} ({reference_outputs.get('review_reason', '')}); asked={asked}"
    return [
        _r("report_produced", float(produced), str(outputs.get("error") or "")),
        _r("routing_correct", float(routed), why + (f"; triggers: {triggers}" if asked else "")),
        _r("completion", float(produced and routed)),
        _r("review_missed", float(must and not asked)),
        _r("review_unneeded", float(asked and not must)),
    ]


def _reference_messages(tools: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "", "type": "function", "function": {"name": t, "arguments": "{}"}}
                for t in tools
            ],
        }
    ]


def trajectory_match(
    outputs: Mapping[str, Any], reference_outputs: Mapping[str, Any]
) -> list[Result]:
    """Per specialist, agentevals trajectory match against the reference tools (args ignored).

    `trajectory_superset`: the specialist called at least the reference tools;
    `trajectory_unordered`: exactly the reference tools, in any order; `specialists_match`:
    the specialists that worked are the ones the reference expects.
    """
    reference: Mapping[str, list[str]] = reference_outputs.get("tools") or {}
    actual: Mapping[str, list[dict[str, Any]]] = outputs.get("trajectories") or {}
    results = [
        _r(
            "specialists_match",
            float(set(reference) == set(actual)),
            f"expected {sorted(reference)}, ran {sorted(actual)}",
        )
    ]
    if not reference:
        return results
    superset, unordered, notes = [], [], []
    for specialist, tools in reference.items():
        messages = list(actual.get(specialist) or [])
        ref = _reference_messages(tools)
        sup = bool(_SUPERSET(outputs=messages, reference_outputs=ref)["score"])
        uno = bool(_UNORDERED(outputs=messages, reference_outputs=ref)["score"])
        superset.append(sup)
        unordered.append(uno)
        if not sup:
            called = sorted({c["function"]["name"] for m in messages for c in m["tool_calls"]})
            notes.append(f"{specialist}: missing {sorted(set(tools) - set(called))}")
    results.append(_r("trajectory_superset", sum(superset) / len(superset), "; ".join(notes)))
    results.append(_r("trajectory_unordered", sum(unordered) / len(unordered)))
    return results


def budget_adherence(
    outputs: Mapping[str, Any], reference_outputs: Mapping[str, Any]
) -> list[Result]:
    """Whether the run stayed within the case's budget (tokens, tool calls, model calls)."""
    budget: Mapping[str, int] = reference_outputs.get("budget") or {}
    used = outputs.get("usage") or {}
    spent = {
        "tokens": int(used.get("input_tokens", 0)) + int(used.get("output_tokens", 0)),
        "tool_calls": int(used.get("tool_calls", 0)),
        "model_calls": int(used.get("model_calls", 0)),
    }
    over = [f"{k} {spent[k]}/{limit}" for k, limit in budget.items() if spent.get(k, 0) > limit]
    share = spent["tokens"] / budget["tokens"] if budget.get("tokens") else 0.0
    return [
        _r("budget_adherence", float(not over), "; ".join(over)),
        _r("budget_token_share", min(1.0, share)),
    ]


def actual_guards(outputs: Mapping[str, Any]) -> set[str]:
    """Names of every guard that fired: events, escalations and guard nodes entered."""
    names = {str(e.get("guard")) for e in outputs.get("guard_events") or []}
    names |= {str(e.get("guard")) for e in outputs.get("escalations") or []}
    names |= {str(n).split(":", 1)[0] for n in outputs.get("guard_nodes") or []}
    return names


def guard_accuracy(
    outputs: Mapping[str, Any], reference_outputs: Mapping[str, Any]
) -> list[Result]:
    """Guard false positives (fired, not expected) and false negatives (expected, silent)."""
    expected = set(reference_outputs.get("guard_events") or [])
    actual = actual_guards(outputs)
    fp, fn = sorted(actual - expected), sorted(expected - actual)
    return [
        _r("guard_false_positive", float(bool(fp)), f"unexpected: {fp}" if fp else ""),
        _r("guard_false_negative", float(bool(fn)), f"silent: {fn}" if fn else ""),
        _r("guard_correct", float(not fp and not fn)),
    ]


def context_retention(
    outputs: Mapping[str, Any], reference_outputs: Mapping[str, Any]
) -> list[Result]:
    """Share of the early facts (expected findings of early files) present in the final report."""
    facts = reference_outputs.get("retention_facts") or []
    if not facts:
        return [_r("context_retention", None, "no early facts in this case")]
    final = outputs.get("findings") or []
    kept = [f for f in facts if any(is_match(r, f) for r in final)]
    lost = [f"{f['file']}:{f['lines'][0]} {f.get('kind', '')}" for f in facts if f not in kept]
    return [
        _r("context_retention", len(kept) / len(facts), "lost: " + "; ".join(lost) if lost else "")
    ]


def usage(outputs: Mapping[str, Any]) -> list[Result]:
    """Raw cost of the run (not 0–1): tokens, USD, model and tool calls, seconds."""
    used = outputs.get("usage") or {}
    return [
        _r("usage_tokens", float(used.get("input_tokens", 0) + used.get("output_tokens", 0))),
        _r("usage_cost_usd", float(used.get("cost_usd", 0.0))),
        _r("usage_model_calls", float(used.get("model_calls", 0))),
        _r("usage_tool_calls", float(used.get("tool_calls", 0))),
        _r("usage_seconds", float(outputs.get("seconds", 0.0))),
    ]


EVALUATORS: list[Evaluator] = [
    finding_quality,
    end_to_end_completion,
    trajectory_match,
    budget_adherence,
    guard_accuracy,
    context_retention,
    usage,
]
"""Every evaluator, in the order the summary shows them."""
