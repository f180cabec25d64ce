"""Confidence is computed, not claimed: the handoff's confidence from claim and evidence.

    agreement  = (w(confirmed) + DISMISSED_CREDIT · w(dismissed)) / w(all evidence)
                 (1 when there is no evidence), w = SEVERITY_WEIGHT per piece
    penalty    = REPAIR_PENALTY · repairs + GROUNDING_PENALTY · ungrounded findings
                 + GUARD_PENALTY · guard nudges/escalations + SKIPPED_PENALTY · backfilled tools
                 (at most MAX_PENALTY)
    confidence = min(claim, UNCORROBORATED_CAP if nothing corroborates it, agreement)
                 · (1 − penalty)
    contradicted (any unaddressed evidence at `medium` or above)
               → confidence ≤ CONTRADICTED_CAP
    ungrounded (a finding dropped because its file or lines do not exist)
               → confidence ≤ UNGROUNDED_CAP

Contract: the value is in [0, 1] and never above the model's claim; a submission that
leaves a serious tool issue unaddressed carries at most `CONTRADICTED_CAP` (below the
default review threshold 0.5), as does one that reported a problem Keel could not place
(the problem may be real, but the report cannot carry it: a human reads the dropped
finding in the handoff's open questions), and one with no tool corroboration at all at most
`UNCORROBORATED_CAP`, so a bare 1.0 means nothing. The constants are documented in
docs/guards.md ("Computed confidence"); `python -m keel.evals` reports the calibration (ECE)
of the value per model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keel.core.state import GuardEvent, ToolEvidence

__all__ = [
    "CONTRADICTED_CAP",
    "SEVERITY_WEIGHT",
    "UNCORROBORATED_CAP",
    "UNGROUNDED_CAP",
    "computed_confidence",
]

SEVERITY_WEIGHT = {"info": 0.5, "low": 1.0, "medium": 2.0, "high": 4.0, "critical": 8.0}
"""How much a piece of evidence counts in the agreement, by the tool's severity."""
DISMISSED_CREDIT = 0.75
"""Share of a dismissal's weight counted as agreement (a reasoned judgement, unverified)."""
REPAIR_PENALTY = 0.1
"""Per invalid submission that needed a repair turn."""
GROUNDING_PENALTY = 0.15
"""Per finding dropped because it cited lines or files that do not exist."""
GUARD_PENALTY = 0.05
"""Per loop, drift or tool-misuse nudge or escalation on the agent."""
SKIPPED_PENALTY = 0.1
"""Per analyzer Keel had to run because the model did not cover its files."""
MAX_PENALTY = 0.8
"""The penalties never take more than this share."""
CONTRADICTED_CAP = 0.4
"""Ceiling when serious tool evidence was left unaddressed."""
UNCORROBORATED_CAP = 0.85
"""Ceiling when no analyzer ran and no tool supports any finding."""
UNGROUNDED_CAP = 0.4
"""Ceiling when a finding was dropped for citing a file or lines that do not exist."""

_PENALISED_GUARDS = {"loop", "drift", "tool_misuse"}


def computed_confidence(
    claim: float,
    evidence: Sequence[ToolEvidence],
    *,
    repairs: int,
    ungrounded: int,
    guard_events: Sequence[GuardEvent],
    backfilled: int,
    corroborated: bool,
) -> tuple[float, dict[str, Any]]:
    """Return (confidence, basis) for a specialist's reconciled submission.

    Args:
        claim: the model's self-reported confidence (0–1).
        evidence: the specialist's evidence, reconciled (each has a status).
        repairs: invalid submissions answered with a repair turn.
        ungrounded: findings dropped by grounding.
        guard_events: the events guards recorded on this agent.
        backfilled: analyzers Keel ran at `finish` because the model left files unscanned.
        corroborated: whether any analyzer ran (by the model or the backfill) or a tool
            supports a finding.
    """
    weights = {"confirmed": 0.0, "dismissed": 0.0, "unaddressed": 0.0}
    for item in evidence:
        weights[item.get("status") or "unaddressed"] += SEVERITY_WEIGHT[item["severity"]]
    total = sum(weights.values())
    agreement = (
        (weights["confirmed"] + DISMISSED_CREDIT * weights["dismissed"]) / total if total else 1.0
    )
    nudges = sum(
        1
        for e in guard_events
        if e["guard"] in _PENALISED_GUARDS and e["verdict"] in {"nudge", "escalate"}
    )
    penalty = min(
        MAX_PENALTY,
        REPAIR_PENALTY * repairs
        + GROUNDING_PENALTY * ungrounded
        + GUARD_PENALTY * nudges
        + SKIPPED_PENALTY * backfilled,
    )
    claim = min(1.0, max(0.0, claim))
    ceiling = 1.0 if corroborated else UNCORROBORATED_CAP
    value = min(claim, ceiling, agreement) * (1.0 - penalty)
    contradicted = any(
        item.get("status") == "unaddressed" and SEVERITY_WEIGHT[item["severity"]] >= 2.0
        for item in evidence
    )
    if contradicted:
        value = min(value, CONTRADICTED_CAP)
    if ungrounded:
        value = min(value, UNGROUNDED_CAP)
    value = round(max(0.0, min(value, claim)), 3)
    basis = {
        "claimed": claim,
        "agreement": round(agreement, 3),
        "penalty": round(penalty, 3),
        "repairs": repairs,
        "ungrounded": ungrounded,
        "guard_nudges": nudges,
        "backfilled_tools": backfilled,
        "corroborated": corroborated,
        "contradicted": contradicted,
    }
    return value, basis
