"""`python -m bench [--quick] [--only NAME] [--write] [--latency-ms MS]`.

Runs the benchmarks, prints one table each, and (full run or `--write`) writes
docs/benchmarks.md. `--quick` is the CI smoke size and never writes the document unless
`--write` is given.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from . import BENCHMARKS
from ._harness import Env, Table
from ._report import write_report

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the chosen benchmarks, print and optionally write results."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md")
    parser.add_argument("--output", type=Path, default=DOC, help="document to write")
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    env = Env(quick=args.quick)
    results: dict[str, list[Table]] = {}
    started = time.perf_counter()
    try:
        for name in names:
            module = importlib.import_module(f"bench.{name}")
            t0 = time.perf_counter()
            tables: list[Table] = module.run(env)
            results[name] = tables
            for table in tables:
                print(table.text(), flush=True)
            print(f"  ({name}: {time.perf_counter() - t0:.1f}s)\n", flush=True)
    finally:
        env.close()
    elapsed = time.perf_counter() - started
    print(f"total {elapsed:.1f}s", flush=True)
    if args.write or (not args.quick and not args.only):
        write_report(args.output, results, argv=sys.argv[1:], elapsed_s=elapsed, env=env)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
