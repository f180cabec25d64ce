"""`--compare`: the same cases under different context settings, quality vs tokens.

Settings compared (each on top of the user's `--guard` overrides):

* `compression-as-configured` — each case's own policy (default `compress_at_tokens`
  12000; the long-horizon cases set a small threshold so compression should fire);
* `compression-off` — `compress_at_tokens` so large it never fires;
* `compression-aggressive` — `compress_at_tokens=300`, `compress_keep_last=2`.

Handoff styles (structured packet vs summary vs full history) are not compared: the
pipeline hands off one structured packet and choosing another style needs changes to
the core graph, which this harness does not make.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .experiment import RunConfig, run_experiment
from .report import write_run

__all__ = ["SETTINGS", "compare", "format_comparison"]

SETTINGS: dict[str, dict[str, Any]] = {
    "compression-as-configured": {},
    "compression-off": {"compress_at_tokens": 1_000_000_000},
    "compression-aggressive": {"compress_at_tokens": 300, "compress_keep_last": 2},
}
"""Label → guard overrides of each compared setting."""


def _row(summary: Mapping[str, Any], compress_events: int) -> dict[str, Any]:
    findings = summary["findings"]
    return {
        **{f"f1_{c}": findings[c]["f1"] for c in findings},
        "completion": summary["scores"]["completion"],
        "context_retention": summary["scores"]["context_retention"],
        "guard_false_positive": summary["scores"]["guard_false_positive"],
        "guard_false_negative": summary["scores"]["guard_false_negative"],
        "tokens_mean": summary["usage"]["tokens_mean"],
        "tokens_max": summary["usage"]["tokens_max"],
        "compress_events": compress_events,
    }


def compare(
    cases: Sequence[dict[str, Any]],
    base: RunConfig,
    out_dir: Path,
    *,
    charts: bool = True,
) -> dict[str, dict[str, Any]]:
    """Run every setting; write each run and the comparison; return label → row."""
    rows: dict[str, dict[str, Any]] = {}
    summaries: dict[str, dict[str, Any]] = {}
    for label, overrides in SETTINGS.items():
        config = RunConfig(
            dataset=base.dataset,
            model=base.model,
            guard_overrides={**(base.guard_overrides or {}), **overrides},
            label=label,
            max_concurrency=base.max_concurrency,
        )
        results = run_experiment(cases, config)
        summary = write_run(results, config, out_dir / label, charts=charts, echo=False)
        events = sum(
            1
            for r in results
            for e in r.outputs.get("guard_events") or []
            if e.get("guard") == "compress"
        )
        summaries[label] = summary
        rows[label] = _row(summary, events)
    if charts:
        from .charts import plot_comparison

        plot_comparison(summaries, out_dir / "comparison.png")
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def format_comparison(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """Side-by-side table: one column per setting."""
    labels = list(rows)
    keys = list(next(iter(rows.values())))
    width = max(len(label) for label in labels) + 2
    lines = ["Comparison of context settings (quality vs tokens)", ""]
    lines.append(f"{'':<22}" + "".join(f"{label:>{width}}" for label in labels))
    for key in keys:
        lines.append(
            f"{key:<22}" + "".join(f"{_fmt(rows[label][key]):>{width}}" for label in labels)
        )
    lines.append("")
    lines.append(
        "Handoff styles (structured / summary / full history) are not compared: the pipeline "
        "has one structured handoff and choosing another needs core changes."
    )
    return "\n".join(lines)
