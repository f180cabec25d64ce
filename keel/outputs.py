"""Report renderings for the CLI: Markdown, JSON and SARIF 2.1.0."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from keel.sarif import to_sarif

__all__ = ["render_report"]


def render_report(report: Mapping[str, Any], fmt: str) -> str:
    """Render a `Report` (markdown + data) as `md`, `json` or `sarif`."""
    if fmt == "md":
        return str(report["markdown"])
    if fmt == "json":
        return json.dumps(report["data"], indent=2, default=str) + "\n"
    if fmt == "sarif":
        return json.dumps(to_sarif(report["data"]), indent=2, default=str) + "\n"
    raise ValueError(f"unknown format {fmt!r}; known: md, json, sarif")
