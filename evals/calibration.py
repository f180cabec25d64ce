"""Calibration of the specialists' confidences against the truth.

Every reported finding carries the specialist's confidence; a finding is *right* when it
matches an expected finding (file, category, overlapping lines). Per specialist we bin
confidences and compare each bin's mean confidence with its precision (a reliability
diagram) and compute the expected calibration error (ECE). For a range of thresholds
we then ask the review trigger's question — send a finding to a human when its
confidence is below t — and report the share of wrong findings that would reach a human
against the share of all findings sent to review.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .experiment import CaseResult
from .matching import finding_matches, is_match

__all__ = ["BINS", "calibrate", "format_calibration", "handoff_points"]

BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0001)
"""Confidence bin edges (the last includes 1.0)."""

_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(21))
_MIN_GAIN = 0.1
"""Below this margin (wrong caught minus share sent) a threshold is no better than chance."""


def _points(results: Sequence[CaseResult]) -> list[tuple[str, float, bool]]:
    points = []
    for result in results:
        reported = result.outputs.get("findings") or []
        expected = result.case["reference"]["findings"]
        for finding, right in zip(reported, finding_matches(reported, expected), strict=True):
            points.append((str(finding.get("specialist")), float(finding["confidence"]), right))
    return points


def _bins(points: Sequence[tuple[str, float, bool]]) -> tuple[list[dict[str, Any]], float | None]:
    rows, error, total = [], 0.0, len(points)
    for low, high in zip(BINS, BINS[1:], strict=False):
        inside = [(c, ok) for _, c, ok in points if low <= c < high]
        if not inside:
            continue
        confidence = sum(c for c, _ in inside) / len(inside)
        precision = sum(ok for _, ok in inside) / len(inside)
        error += len(inside) / total * abs(precision - confidence)
        rows.append(
            {
                "bin": [low, min(high, 1.0)],
                "n": len(inside),
                "confidence": confidence,
                "precision": precision,
            }
        )
    return rows, (error if total else None)


def handoff_points(results: Sequence[CaseResult]) -> list[tuple[str, float, float, bool]]:
    """(specialist, computed confidence, claimed confidence, right) per handoff.

    A handoff is *right* when every expected finding of its specialist's area was reported
    (by anyone: the report is what the reviewer sees) — missing a flaw is the failure the
    confidence must warn of. The claim is the model's own number (the computed value for
    handoffs written by a guard, which claim nothing).
    """
    points = []
    for result in results:
        reported = result.outputs.get("findings") or []
        expected = result.case["reference"]["findings"]
        for handoff in result.outputs.get("handoffs") or []:
            area = str(handoff.get("source"))
            mine = [e for e in expected if e.get("category") == area]
            found = [any(is_match(r, e) for r in reported) for e in mine]
            computed = float(handoff.get("confidence", 0.0))
            claimed = float(handoff.get("claimed_confidence", computed))
            points.append((area, computed, claimed, all(found)))
    return points


def _handoff_calibration(results: Sequence[CaseResult]) -> dict[str, Any]:
    points = handoff_points(results)
    computed_rows, computed_ece = _bins([(a, c, ok) for a, c, _, ok in points])
    claimed_rows, claimed_ece = _bins([(a, c, ok) for a, _, c, ok in points])
    return {
        "handoffs": len(points),
        "right": sum(p[3] for p in points),
        "computed_ece": computed_ece,
        "claimed_ece": claimed_ece,
        "computed_bins": computed_rows,
        "claimed_bins": claimed_rows,
    }


def calibrate(results: Sequence[CaseResult]) -> dict[str, Any]:
    """Reliability bins and ECE per specialist, and the threshold sweep over all findings."""
    points = _points(results)
    specialists: dict[str, Any] = {}
    for name in sorted({p[0] for p in points}):
        mine = [p for p in points if p[0] == name]
        rows, ece = _bins(mine)
        specialists[name] = {
            "findings": len(mine),
            "precision": sum(p[2] for p in mine) / len(mine),
            "ece": ece,
            "bins": rows,
        }
    wrong = [p for p in points if not p[2]]
    sweep = []
    for t in _THRESHOLDS:
        sent = [p for p in points if p[1] < t]
        caught = [p for p in wrong if p[1] < t]
        sweep.append(
            {
                "threshold": t,
                "sent_share": len(sent) / len(points) if points else 0.0,
                "wrong_caught_share": len(caught) / len(wrong) if wrong else 0.0,
            }
        )
    best = max(sweep, key=lambda r: (r["wrong_caught_share"] - r["sent_share"], -r["threshold"]))
    gain = best["wrong_caught_share"] - best["sent_share"]
    return {
        "findings": len(points),
        "wrong": len(wrong),
        "specialists": specialists,
        "sweep": sweep,
        "supported_threshold": best["threshold"] if gain >= _MIN_GAIN else None,
        "supported_gain": gain,
        "sweep_best": best["threshold"],
        "handoff": _handoff_calibration(results),
    }


def format_calibration(data: dict[str, Any]) -> str:
    """Plain-text calibration summary with the threshold the data supports."""
    lines = ["Calibration (finding confidence vs precision)", ""]
    for name, row in data["specialists"].items():
        ece = "n/a" if row["ece"] is None else f"{row['ece']:.3f}"
        bins = ", ".join(
            f"[{b['bin'][0]:.1f},{b['bin'][1]:.1f}) n={b['n']} conf={b['confidence']:.2f} "
            f"prec={b['precision']:.2f}"
            for b in row["bins"]
        )
        lines.append(
            f"{name:<12} n={row['findings']:<4} precision={row['precision']:.2f} ECE={ece}"
        )
        lines.append(f"{'':<12} {bins}")
    lines.append("")
    lines.append("threshold  sent-to-review  wrong-caught")
    for row in data["sweep"]:
        if row["threshold"] in (0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0):
            lines.append(
                f"{row['threshold']:>9.2f}  {row['sent_share']:>14.2f}  "
                f"{row['wrong_caught_share']:>12.2f}"
            )
    if data["supported_threshold"] is None:
        lines.append(
            f"supported threshold: none — the best ({data['sweep_best']:.2f}) catches only "
            f"{data['supported_gain']:+.2f} more of the wrong findings than the share of all "
            "findings it sends to review: confidence does not separate wrong from right"
        )
    else:
        lines.append(
            f"supported threshold: {data['supported_threshold']:.2f} (catches "
            f"{data['supported_gain']:+.2f} more of the wrong findings than the share it "
            "sends to review)"
        )
    handoff = data.get("handoff") or {}
    if handoff.get("handoffs"):

        def shown(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        lines.append("")
        lines.append(
            f"handoff confidence vs complete area ({handoff['handoffs']} handoffs, "
            f"{handoff['right']} complete): ECE computed {shown(handoff['computed_ece'])}, "
            f"claimed by the model {shown(handoff['claimed_ece'])}"
        )
    return "\n".join(lines)
