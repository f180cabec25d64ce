"""The Markdown report of a real-world run, and the blocks it keeps in docs/evals-realworld.md.

The document is written by hand around generated blocks, each between
`<!-- BEGIN name -->` and `<!-- END name -->`: one block per model run
(`results model=offline`, `results model=local:...`) and the severity-by-class table,
which is read from Keel's rule pack so that the pack stays its only source. A run
replaces its own model's block and the table, and leaves everything else as it was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from keel.tools.severity_class import CVE_CLASSES, pack_classes

from .grading import SLACK, Grade
from .kinds import KINDS
from .runner import BASELINES, CaseRun

__all__ = ["render_results", "render_severity_table", "update_block"]


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "–"


def _mean(values: Sequence[int]) -> str:
    return f"{sum(values) / len(values):.1f}" if values else "–"


def _mark(grade: Grade | None) -> str:
    if grade is None:
        return "–"
    return "✓" if grade.found else ("on lines" if grade.on_lines else "✗")


def _ran(runs: Sequence[CaseRun]) -> list[CaseRun]:
    return [r for r in runs if r.keel is not None or r.baselines]


def _headline(runs: Sequence[CaseRun], model: str, review: bool) -> list[str]:
    done = _ran(runs)
    keel = [r.keel for r in done if r.keel is not None]
    columns = ([f"Keel (`{model}`)"] if review else []) + [f"{n} alone" for n in BASELINES]
    grades: list[list[Grade]] = ([keel] if review else []) + [
        [r.baselines[n] for r in done if n in r.baselines] for n in BASELINES
    ]
    cve = [r for r in done if r.case.category in CVE_CLASSES]
    rows = [
        ("Recall graded by kind", [_pct(sum(g.found for g in gs), len(gs)) for gs in grades]),
        (
            "A security finding of any kind on the lines",
            [_pct(sum(g.on_lines for g in gs), len(gs)) for gs in grades],
        ),
        (
            "CVE-class cases found at high or above",
            [_pct(sum(_high(r, i, review) for r in cve), len(cve)) for i in range(len(grades))],
        ),
        ("Findings per case (mean)", [_mean([g.findings for g in gs]) for gs in grades]),
        (
            "High or critical findings per case (mean)",
            [_mean([g.high for g in gs]) for gs in grades],
        ),
    ]
    if review:
        asked = sum(r.asked_human for r in done if r.keel is not None)
        rows.append(("The thread asked a human", [_pct(asked, len(keel))] + ["–"] * len(BASELINES)))
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return lines


def _grade_of(run: CaseRun, column: int, review: bool) -> Grade | None:
    if review:
        if column == 0:
            return run.keel
        column -= 1
    return run.baselines.get(list(BASELINES)[column])


def _high(run: CaseRun, column: int, review: bool) -> bool:
    grade = _grade_of(run, column, review)
    return grade is not None and grade.found_high


def _by_category(runs: Sequence[CaseRun], review: bool) -> list[str]:
    done = _ran(runs)
    names = (["Keel"] if review else []) + list(BASELINES)
    lines = [
        "| Category | Cases | " + " | ".join(names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    for kind in KINDS:
        mine = [r for r in done if r.case.category == kind]
        if not mine:
            continue
        cells = []
        for column in range(len(names)):
            grades = [g for r in mine if (g := _grade_of(r, column, review)) is not None]
            cells.append(f"{sum(g.found for g in grades)}/{len(grades)}")
        lines.append(f"| {kind} | {len(mine)} | " + " | ".join(cells) + " |")
    return lines


def _advisory(run: CaseRun) -> str:
    case = run.case
    label = ", ".join(case.advisories) or "fix"
    return f"[{label}]({case.reference})" if case.reference else label


def _per_case(runs: Sequence[CaseRun], review: bool) -> list[str]:
    head = "| Case | Category | Advisory | "
    head += "Keel | Counted findings | Findings (high) | Asked | " if review else ""
    head += " | ".join(BASELINES) + " |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for run in runs:
        cells = [f"`{run.case.id}`", run.case.category, _advisory(run)]
        if review:
            keel = run.keel
            cells += [
                _mark(keel) if not run.error or keel else f"error: {run.error[:60]}",
                "<br>".join(keel.matched) if keel else "",
                f"{keel.findings} ({keel.high})" if keel else "",
                ("yes" if run.asked_human else "**no**") if keel else "",
            ]
        cells += [_mark(run.baselines.get(name)) for name in BASELINES]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _misses(runs: Sequence[CaseRun], review: bool) -> list[str]:
    lines: list[str] = []
    for run in _ran(runs):
        grades = [g for g in [run.keel, *run.baselines.values()] if g is not None]
        if review and run.keel is not None and run.keel.found:
            continue
        if any(g.found for g in grades):
            continue
        lines.append(f"- `{run.case.id}` ({run.case.category}): {run.case.summary}")
    return lines or ["- none"]


def render_results(
    runs: Sequence[CaseRun], *, model: str, review: bool, stamp: str, command: str
) -> str:
    """The Markdown block of one run: headline, per category, per case, and the misses."""
    skipped = [r for r in runs if not (r.keel is not None or r.baselines)]
    out = [
        f"### Run: model `{model}` ({stamp})",
        "",
        f"`{command}` — {len(runs)} case(s), {len(skipped)} skipped. A case is found when a "
        f"security finding of the case's kind is on its flawed lines (±{SLACK}).",
        "",
        *_headline(runs, model, review),
        "",
        "**Per category** (found / cases):",
        "",
        *_by_category(runs, review),
        "",
        "**Per case** (✓ found; *on lines*: a security finding there, of another kind):",
        "",
        *_per_case(runs, review),
        "",
        "**Found by no tool** in this run — what a reviewing model must bring:",
        "",
        *_misses(runs, review),
    ]
    if skipped:
        out += ["", "**Skipped:**", ""]
        out += [f"- `{r.case.id}`: {r.error}" for r in skipped]
    return "\n".join(out) + "\n"


def render_severity_table() -> str:
    """Keel's security rules by class: what they follow, and the severity they report."""
    rows = []
    for rule in sorted(pack_classes().values(), key=lambda r: (r.vulnerability_class, r.rule)):
        sources = ", ".join(rule.sources) or "a pattern (no data flow)"
        severity = rule.severity
        if rule.floored:
            why = "CVE class reached by caller data: at least high"
        elif rule.vulnerability_class in CVE_CLASSES and not rule.sources:
            why = "a configuration, not a flow: how bad depends on the input it meets"
        elif rule.vulnerability_class in CVE_CLASSES:
            why = "only a name heuristic: a library opening the file its caller names"
        else:
            why = "not a CVE class"
        rows.append(
            f"| {rule.vulnerability_class} | `{rule.rule}` | {sources} | {severity} | {why} |"
        )
    head = ["| Class | Rule | Source | Severity | Why |", "|---|---|---|---|---|"]
    return "\n".join(head + rows) + "\n"


def update_block(text: str, name: str, body: str) -> str:
    """`text` with the block `name` replaced by `body` (appended when it is not there)."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _m: block, text, count=1)
    return text.rstrip() + "\n\n" + block + "\n"
