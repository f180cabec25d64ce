"""Write a run's results JSON and charts, and print its summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .calibration import calibrate, format_calibration
from .experiment import CaseResult, RunConfig
from .summary import OFFLINE_DISCLAIMER, aggregate, format_summary

__all__ = ["write_run"]


def _case_record(result: CaseResult) -> dict[str, Any]:
    outputs = {k: v for k, v in result.outputs.items() if k != "report_markdown"}
    return {
        "id": result.case["id"],
        "tags": result.case.get("tags", []),
        "scores": result.scores,
        "comments": result.comments,
        "outputs": outputs,
    }


def write_run(
    results: Sequence[CaseResult],
    config: RunConfig,
    out_dir: Path,
    *,
    charts: bool = True,
    echo: bool = True,
) -> dict[str, Any]:
    """Aggregate, calibrate, write `results.json` (+ PNGs) under `out_dir`; return the summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = aggregate(results)
    calibration = calibrate(results)
    title = f"Keel evals — {config.dataset} [{config.label}] model={config.model}"
    payload = {
        "config": config.metadata(),
        "disclaimer": OFFLINE_DISCLAIMER if config.model == "offline" else "",
        "summary": summary,
        "calibration": calibration,
        "cases": [_case_record(r) for r in results],
    }
    (out_dir / "results.json").write_text(
        json.dumps(payload, indent=1, default=str), encoding="utf-8"
    )
    if charts and results:
        from .charts import plot_reliability, plot_scores, plot_tokens

        plot_scores(summary, out_dir / "scores_per_category.png", title)
        plot_tokens(results, out_dir / "tokens_per_case.png", title)
        plot_reliability(calibration, out_dir / "reliability.png")
    if echo:
        print(format_summary(summary, title))
        print()
        print(format_calibration(calibration))
        print()
        if config.model == "offline":
            print(OFFLINE_DISCLAIMER)
        print(f"results: {out_dir / 'results.json'}")
    return summary
