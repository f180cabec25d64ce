"""PNG charts of a run, drawn with matplotlib's Agg backend (no display needed).

Scores per category, tokens per case, the reliability diagram, and the comparison of
context settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

from .experiment import CaseResult  # noqa: E402

__all__ = ["plot_comparison", "plot_reliability", "plot_scores", "plot_tokens"]


def plot_scores(summary: Mapping[str, Any], path: Path, title: str) -> Path:
    """Precision, recall and F1 per finding category."""
    names = list(summary["findings"])
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.27
    for offset, metric in enumerate(("precision", "recall", "f1")):
        values = [summary["findings"][n][metric] or 0.0 for n in names]
        ax.bar([i + (offset - 1) * width for i in range(len(names))], values, width, label=metric)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_tokens(results: Sequence[CaseResult], path: Path, title: str) -> Path:
    """Tokens (in + out) per case, one bar each."""
    ids = [r.case["id"] for r in results]
    tokens = [r.scores.get("usage_tokens") or 0.0 for r in results]
    fig, ax = plt.subplots(figsize=(max(8, len(ids) * 0.22), 4.5))
    ax.bar(range(len(ids)), tokens, color="#4477aa")
    ax.set_xticks(range(len(ids)), ids, rotation=90, fontsize=6)
    ax.set_ylabel("tokens")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reliability(calibration: Mapping[str, Any], path: Path) -> Path:
    """Reliability diagram per specialist (bin confidence vs precision) plus the sweep."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.plot([0, 1], [0, 1], "k--", linewidth=0.8, label="perfect")
    for name, row in calibration["specialists"].items():
        xs = [b["confidence"] for b in row["bins"]]
        ys = [b["precision"] for b in row["bins"]]
        left.plot(xs, ys, marker="o", label=f"{name} (ECE {row['ece'] or 0:.2f})")
    left.set_xlabel("mean confidence in bin")
    left.set_ylabel("precision in bin")
    left.set_xlim(0, 1)
    left.set_ylim(0, 1.05)
    left.legend(fontsize=7)
    left.set_title("reliability")
    sweep = calibration["sweep"]
    right.plot(
        [r["threshold"] for r in sweep], [r["sent_share"] for r in sweep], label="sent to review"
    )
    right.plot(
        [r["threshold"] for r in sweep],
        [r["wrong_caught_share"] for r in sweep],
        label="wrong findings caught",
    )
    right.set_xlabel("review when confidence < threshold")
    right.set_ylim(0, 1.05)
    right.legend(fontsize=7)
    right.set_title("threshold sweep")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_comparison(summaries: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    """F1 per category and mean tokens per setting, side by side."""
    labels = list(summaries)
    categories = list(next(iter(summaries.values()))["findings"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.8 / max(1, len(labels))
    for i, label in enumerate(labels):
        values = [summaries[label]["findings"][c]["f1"] or 0.0 for c in categories]
        left.bar([j + i * width for j in range(len(categories))], values, width, label=label)
    left.set_xticks([j + width * (len(labels) - 1) / 2 for j in range(len(categories))], categories)
    left.set_ylim(0, 1.05)
    left.set_title("F1 per category")
    left.legend(fontsize=7)
    right.bar(
        labels, [summaries[label]["usage"]["tokens_mean"] for label in labels], color="#aa7744"
    )
    right.set_title("mean tokens per case")
    right.tick_params(axis="x", labelrotation=40, labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
