"""Command-line options of `python -m keel.evals`: parsing and guard-policy overrides."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from keel.nodes.context import HANDOFF_STYLES
from keel.nodes.guards.policy import GuardPolicy

__all__ = ["parse_args", "parse_guard_overrides"]


def parse_guard_overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn `NAME=VALUE` pairs into `GuardPolicy` fields, typed like the defaults.

    Raises:
        ValueError: unknown field, or a value that does not parse as the field's type.
    """
    defaults = GuardPolicy().to_dict()
    known = {f.name for f in fields(GuardPolicy)}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip().lower().removeprefix("keel_guard_")
        if not sep or name not in known:
            raise ValueError(f"--guard wants NAME=VALUE with NAME one of {sorted(known)}: {pair!r}")
        default = defaults[name]
        try:
            if isinstance(default, bool):
                value: Any = raw.lower() in ("1", "true", "yes")
            elif isinstance(default, int):
                value = int(float(raw))
            elif isinstance(default, float):
                value = float(raw)
            elif isinstance(default, list):
                value = [part.strip() for part in raw.split(",") if part.strip()]
            else:
                value = raw
        except ValueError:
            raise ValueError(f"--guard {name}: {raw!r} is not a {type(default).__name__}") from None
        out[name] = value
    GuardPolicy.from_dict({**defaults, **out})  # validate the combination
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the runner's arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m keel.evals",
        description="Evaluate Keel's review pipeline end to end with LangSmith evaluate "
        "(uploads with LANGSMITH_API_KEY, fully offline without).",
    )
    parser.add_argument("--dataset", default="review_v1", help="dataset name or JSONL path")
    parser.add_argument(
        "--cases",
        action="append",
        default=[],
        help="case ids or tags (comma-separated, repeatable); default all",
    )
    parser.add_argument("--model", default="offline", help="KeelContext.model (default offline)")
    parser.add_argument(
        "--guard",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="GuardPolicy override for every case, e.g. compress_at_tokens=2000 (repeatable)",
    )
    parser.add_argument(
        "--handoff",
        choices=HANDOFF_STYLES,
        default="packet",
        help="what a specialist receives from the supervisor: the structured packet "
        "(default), a prose summary, or the packet plus the full upstream history",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="run the dataset under several handoff styles and compression settings and "
        "compare quality vs tokens (--handoff is then ignored)",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="cases run in parallel")
    parser.add_argument("--output-dir", default="evals/results", help="results JSON and PNGs")
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    args = parser.parse_args(argv)
    args.cases = [c.strip() for item in args.cases for c in item.split(",") if c.strip()]
    try:
        args.guard_overrides = parse_guard_overrides(args.guard)
    except ValueError as exc:
        parser.error(str(exc))
    return args
