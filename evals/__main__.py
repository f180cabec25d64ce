"""`python -m keel.evals`: evaluate the review pipeline end to end with LangSmith `evaluate`.

Without `LANGSMITH_API_KEY` it runs fully offline (tracing off, a client that makes no
network calls, `upload_runs=False`), prints a summary table and calibration, and writes
`results.json` plus PNG charts under `evals/results/` (git-ignored). With a key it creates
or updates the LangSmith dataset and uploads the experiment with its configuration.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from .cases import load_cases, select_cases
from .compare import compare, format_comparison
from .experiment import RunConfig, run_experiment
from .options import parse_args
from .report import write_run
from .summary import OFFLINE_DISCLAIMER

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; return the process exit code (0 ok, 2 bad arguments)."""
    args = parse_args(argv)
    if not os.environ.get("LANGSMITH_API_KEY"):
        os.environ["LANGSMITH_TRACING"] = "false"
    try:
        cases = select_cases(load_cases(args.dataset), args.cases)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dataset = Path(args.dataset).stem
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(args.output_dir) / f"{dataset}-{stamp}"
    base = RunConfig(
        dataset=dataset,
        model=args.model,
        guard_overrides=args.guard_overrides,
        label="default" if args.handoff == "packet" else f"handoff-{args.handoff}",
        max_concurrency=args.concurrency,
        handoff=args.handoff,
    )
    print(
        f"{len(cases)} case(s) from {dataset}; model={args.model}; handoff={args.handoff}; "
        f"results in {out_dir}"
    )
    if args.compare:
        rows = compare(cases, base, out_dir, charts=not args.no_charts)
        print(format_comparison(rows))
        if args.model == "offline":
            print(OFFLINE_DISCLAIMER)
        print(f"results: {out_dir}")
        return 0
    results = run_experiment(cases, base)
    write_run(results, base, out_dir, charts=not args.no_charts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
