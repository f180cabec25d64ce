"""Load dataset cases from JSONL and pick subsets by id or tag."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["DATASETS_DIR", "dataset_path", "load_cases", "select_cases"]

DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
"""Where the versioned JSONL datasets live."""


def dataset_path(name: str) -> Path:
    """Resolve a dataset name (`review_v1`) or a path to its JSONL file."""
    candidate = Path(name)
    if candidate.suffix == ".jsonl" and candidate.exists():
        return candidate
    path = DATASETS_DIR / f"{name.removesuffix('.jsonl')}.jsonl"
    if not path.exists():
        known = sorted(p.stem for p in DATASETS_DIR.glob("*.jsonl"))
        raise FileNotFoundError(f"unknown dataset {name!r}; known: {known}")
    return path


def load_cases(name: str) -> list[dict[str, Any]]:
    """Return every case of a dataset, in file order."""
    path = dataset_path(name)
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                cases.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON: {exc}") from None
    return cases


def select_cases(cases: Sequence[dict[str, Any]], wanted: Sequence[str]) -> list[dict[str, Any]]:
    """Cases whose id or any tag is in `wanted` (all cases when `wanted` is empty).

    Raises:
        ValueError: a wanted name matches no case id and no tag.
    """
    if not wanted:
        return list(cases)
    names = set(wanted)
    known = {c["id"] for c in cases} | {t for c in cases for t in c.get("tags", [])}
    unknown = sorted(names - known)
    if unknown:
        raise ValueError(f"no case has id or tag {unknown}")
    return [c for c in cases if c["id"] in names or names & set(c.get("tags", []))]
