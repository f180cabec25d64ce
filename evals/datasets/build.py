"""Regenerate the JSONL datasets: `python -m keel.evals.datasets.build`.

The JSONL files are the versioned artifacts; this script is how they were made. It
fails if two cases share an id or a marker names an unknown kind.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ._cases_v1 import CASES
from ._spec import render_case

__all__ = ["main"]

_HERE = Path(__file__).resolve().parent


def main() -> int:
    """Write `review_v1.jsonl` next to this module; print the case count."""
    ids = [case.id for case in CASES]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        print(f"duplicate case ids: {duplicates}", file=sys.stderr)
        return 1
    path = _HERE / "review_v1.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for case in CASES:
            fh.write(json.dumps(render_case(case, "review_v1"), sort_keys=True) + "\n")
    print(f"{path}: {len(CASES)} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
