"""`python -m keel.evals.realworld`: Keel and the analyzers alone on real vulnerability fixes.

Runs in a developer session, not in CI: every case is rebuilt from a local mirror of a
public repository (see `keel.evals.realworld.mirror`), which CI cannot reach. `--list-sources`
prints the `fetch` sources of the mirrors the set needs.

Writes the run's records to `evals/results/realworld-<model>-<stamp>.json` (git-ignored)
and its Markdown block, with the severity-by-class table, into `docs/evals-realworld.md`.
`--from-records FILE` grades such a file again and rewrites the block, running nothing
(for a slow model's run after a change to the set or the grading).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .cases import DATASET, RealCase, load_cases
from .mirror import DEFAULT_MIRRORS
from .report import render_results, render_severity_table, update_block
from .runner import CaseRun, run_cases

__all__ = ["main"]

_ROOT = Path(__file__).resolve().parents[2]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m keel.evals.realworld",
        description="Recall on real vulnerability fixes: Keel's review vs the analyzers alone.",
    )
    p.add_argument("cases", nargs="*", help="case ids or categories to run (default: all)")
    p.add_argument(
        "--model",
        default="offline",
        help="review model: offline (default), local, local:NAME, or a chat-model id",
    )
    p.add_argument("--dataset", type=Path, default=DATASET, help="the JSONL set of references")
    p.add_argument(
        "--mirrors",
        type=Path,
        default=DEFAULT_MIRRORS,
        help=f"root of the repository mirrors (default {DEFAULT_MIRRORS}; $KEEL_MIRRORS)",
    )
    p.add_argument(
        "--doc",
        type=Path,
        default=_ROOT / "docs" / "evals-realworld.md",
        help="Markdown report to update (its block for this model)",
    )
    p.add_argument("--no-doc", action="store_true", help="do not touch the Markdown report")
    p.add_argument(
        "--output-dir",
        type=Path,
        default=_ROOT / "evals" / "results",
        help="where the JSON records go",
    )
    p.add_argument(
        "--baselines-only", action="store_true", help="run the analyzers alone, not Keel"
    )
    p.add_argument(
        "--list-sources", action="store_true", help="print the fetch sources needed and exit"
    )
    p.add_argument(
        "--from-records",
        type=Path,
        metavar="FILE",
        help="grade the records of an earlier run again and report them (runs nothing)",
    )
    return p


def _load_records(path: Path, cases: list[RealCase]) -> tuple[dict[str, Any], list[CaseRun]]:
    """The header and runs of a records file, graded against the set's current cases."""
    data = json.loads(path.read_text(encoding="utf-8"))
    by_id = {c.id: c for c in cases}
    runs = [CaseRun.from_json(r, by_id[r["id"]]) for r in data["runs"] if r["id"] in by_id]
    return data, runs


def _progress(run: CaseRun) -> None:
    keel = run.keel
    verdict = "error" if run.error and not keel else ("found" if keel and keel.found else "-")
    base = " ".join(f"{n}={'found' if g.found else '-'}" for n, g in run.baselines.items())
    extra = f" ({run.error[:120]})" if run.error else ""
    print(f"{run.case.id:44} keel={verdict:5} {base} {run.seconds:6.1f}s{extra}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the set; return 0, or 2 on bad arguments or a malformed dataset."""
    args = _parser().parse_args(argv)
    try:
        cases = load_cases(args.dataset, args.cases or None)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.list_sources:
        for source in sorted({c.source for c in cases}):
            print(source)
        return 0
    if args.from_records:
        try:
            header, runs = _load_records(args.from_records, cases)
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: {args.from_records}: {exc}", file=sys.stderr)
            return 2
        model, review, stamp = str(header["model"]), bool(header["review"]), str(header["stamp"])
    else:
        if not os.environ.get("LANGSMITH_API_KEY"):
            os.environ["LANGSMITH_TRACING"] = "false"
        model, review = args.model, not args.baselines_only
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        print(f"{len(cases)} case(s); model={model if review else '(baselines only)'}")
        runs = run_cases(
            cases, model=model, mirrors=args.mirrors, review=review, progress=_progress
        )
        slug = re.sub(r"[^A-Za-z0-9.-]+", "-", model if review else "baselines")
        args.output_dir.mkdir(parents=True, exist_ok=True)
        out = args.output_dir / f"realworld-{slug}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        header = {"model": model, "review": review, "stamp": stamp}
        records = {**header, "runs": [r.to_json() for r in runs]}
        out.write_text(json.dumps(records, indent=2), encoding="utf-8")
        print(f"records: {out}")
    command = "python -m keel.evals.realworld" + (
        f" --model {model}" if review else " --baselines-only"
    )
    block = render_results(runs, model=model, review=review, stamp=stamp, command=command)
    print()
    print(block)
    if not args.no_doc:
        doc = args.doc
        text = doc.read_text(encoding="utf-8") if doc.exists() else "# Real-world evaluation\n"
        name = f"results model={model}" if review else "results baselines"
        text = update_block(text, name, block)
        text = update_block(text, "severity-by-class", render_severity_table())
        doc.write_text(text, encoding="utf-8")
        print(f"report: {doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
