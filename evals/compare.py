"""`--compare`: the same cases under different handoff styles and compression settings.

The seed's context-loss trade-off, measured: what a specialist receives from the
supervisor (`KeelContext.handoff`) and whether its channel is compressed, against the
quality of the review and the tokens it cost. Settings compared (each on top of the
user's `--guard` overrides):

| label | handoff | compression |
|---|---|---|
| `packet` | structured JSON brief (the default) | as configured |
| `summary` | prose summary, no JSON | as configured |
| `full` | packet + the history upstream of the handoff | as configured |
| `packet-compress-off` | packet | off |
| `packet-compress-aggressive` | packet | aggressive |
| `full-compress-off` | full | off |
| `full-compress-aggressive` | full | aggressive |

"As configured" is each case's own policy (default `compress_at_tokens` 12000; the
long-horizon cases set a small threshold); "off" is a threshold so large it never fires;
"aggressive" is `compress_at_tokens=300`, `compress_keep_last=2`.

Each row reports F1 per category, completion, context retention, the guards' false
positive/negative rates, whether any case that needed a human went without one, tokens
(mean and max per case, and the mean of the largest prompt a specialist sent) and how
many compressions fired (guard events `compress`) in how many cases. Every run's own
`results.json` lands in a sub-directory; the table is written as `comparison.json` and
`comparison.md` next to them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

from keel.nodes.context import HandoffStyle

from .experiment import CaseResult, RunConfig, run_experiment
from .report import write_run
from .summary import OFFLINE_DISCLAIMER

__all__ = [
    "COMPRESSION",
    "SETTINGS",
    "Setting",
    "compare",
    "comparison_row",
    "format_comparison",
    "format_comparison_markdown",
]

COMPRESSION: dict[str, dict[str, Any]] = {
    "as-configured": {},
    "off": {"compress_at_tokens": 1_000_000_000},
    "aggressive": {"compress_at_tokens": 300, "compress_keep_last": 2},
}
"""Compression setting → guard overrides."""


@dataclass(frozen=True)
class Setting:
    """One compared setting: a handoff style and a compression setting."""

    handoff: HandoffStyle
    compression: str = "as-configured"

    @property
    def label(self) -> str:
        """`packet`, `full-compress-off`, ..."""
        if self.compression == "as-configured":
            return self.handoff
        return f"{self.handoff}-compress-{self.compression}"

    @property
    def guard_overrides(self) -> dict[str, Any]:
        """The `GuardPolicy` overrides of its compression setting."""
        return dict(COMPRESSION[self.compression])


SETTINGS: tuple[Setting, ...] = (
    Setting("packet"),
    Setting("summary"),
    Setting("full"),
    Setting("packet", "off"),
    Setting("packet", "aggressive"),
    Setting("full", "off"),
    Setting("full", "aggressive"),
)
"""The settings `python -m keel.evals --compare` runs, in table order."""


def _compress_events(result: CaseResult) -> int:
    return sum(1 for e in result.outputs.get("guard_events") or [] if e.get("guard") == "compress")


def comparison_row(summary: Mapping[str, Any], results: Sequence[CaseResult]) -> dict[str, Any]:
    """One column of the table: quality, tokens and compressions of a run."""
    findings = summary["findings"]
    scores = summary["scores"]
    prompt_max = [
        max((result.outputs.get("max_prompt_tokens") or {}).values(), default=0)
        for result in results
    ]
    return {
        **{f"f1_{c}": findings[c]["f1"] for c in findings},
        "completion": scores["completion"],
        "context_retention": scores["context_retention"],
        "guard_false_positive": scores["guard_false_positive"],
        "guard_false_negative": scores["guard_false_negative"],
        "review_missed": scores["review_missed"],
        "tokens_mean": summary["usage"]["tokens_mean"],
        "tokens_max": summary["usage"]["tokens_max"],
        "prompt_tokens_max_mean": mean(prompt_max) if prompt_max else 0.0,
        "compress_events": sum(_compress_events(r) for r in results),
        "cases_compressed": sum(1 for r in results if _compress_events(r)),
        "errors": len(summary["errors"]),
    }


def compare(
    cases: Sequence[dict[str, Any]],
    base: RunConfig,
    out_dir: Path,
    *,
    charts: bool = True,
    settings: Sequence[Setting] = SETTINGS,
) -> dict[str, dict[str, Any]]:
    """Run every setting; write each run and the comparison; return label → row."""
    rows: dict[str, dict[str, Any]] = {}
    summaries: dict[str, dict[str, Any]] = {}
    for setting in settings:
        config = RunConfig(
            dataset=base.dataset,
            model=base.model,
            guard_overrides={**(base.guard_overrides or {}), **setting.guard_overrides},
            label=setting.label,
            max_concurrency=base.max_concurrency,
            handoff=setting.handoff,
        )
        results = run_experiment(cases, config)
        summary = write_run(results, config, out_dir / setting.label, charts=charts, echo=False)
        summaries[setting.label] = summary
        rows[setting.label] = comparison_row(summary, results)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "dataset": base.dataset,
        "model": base.model,
        "cases": len(cases),
        "guard_overrides": dict(base.guard_overrides or {}),
        "settings": {
            s.label: {"handoff": s.handoff, "compression": s.compression, **s.guard_overrides}
            for s in settings
        },
        "rows": rows,
        "disclaimer": OFFLINE_DISCLAIMER if base.model == "offline" else "",
    }
    (out_dir / "comparison.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    markdown = format_comparison_markdown(rows)
    if base.model == "offline":
        markdown += "\n\n" + OFFLINE_DISCLAIMER + "\n"
    (out_dir / "comparison.md").write_text(markdown, encoding="utf-8")
    if charts:
        from .charts import plot_comparison

        plot_comparison(summaries, out_dir / "comparison.png")
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.2f}"
    return str(value)


def format_comparison(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """Side-by-side plain-text table: one column per setting."""
    labels = list(rows)
    keys = list(next(iter(rows.values())))
    width = max(len(label) for label in labels) + 2
    lines = ["Comparison of handoff styles and compression (quality vs tokens)", ""]
    lines.append(f"{'':<24}" + "".join(f"{label:>{width}}" for label in labels))
    for key in keys:
        lines.append(
            f"{key:<24}" + "".join(f"{_fmt(rows[label][key]):>{width}}" for label in labels)
        )
    return "\n".join(lines)


def format_comparison_markdown(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """The same table in Markdown."""
    labels = list(rows)
    keys = list(next(iter(rows.values())))
    lines = [
        "| | " + " | ".join(f"`{label}`" for label in labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(_fmt(rows[label][key]) for label in labels) + " |")
    return "\n".join(lines)
