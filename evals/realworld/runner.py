"""Run the real-world cases: Keel's whole review, and each analyzer alone on the same file.

For every case the repository is rebuilt from its mirror in a temporary directory. Keel
reviews the change with `keel.evals.target.run_case` (in-memory checkpointer; every review
request answered *reject*, so nothing in the repository is run or written). The baselines
run one analyzer on the vulnerable file of the same repository: bandit with its defaults,
and semgrep with Keel's rule pack alone.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from keel.evals.evaluators import human_asked
from keel.evals.target import run_case
from keel.tools.bandit import run_bandit
from keel.tools.semgrep import run_semgrep

from .cases import RealCase
from .grading import Grade, grade
from .mirror import DEFAULT_MIRRORS, MirrorMissingError, case_inputs, materialize

__all__ = ["BASELINES", "CaseRun", "run_cases"]

Analyzer = Callable[[Path, Sequence[str]], Sequence[Any]]

BASELINES: dict[str, Analyzer] = {"bandit": run_bandit, "keel-pack": run_semgrep}
"""Analyzers run alone on each case's file, by the name the report gives them."""


@dataclass
class CaseRun:
    """Everything one case produced, for the report and the results file."""

    case: RealCase
    keel: Grade | None = None
    """The review's grade; None when the review was skipped (`--baselines-only`)."""
    baselines: dict[str, Grade] = field(default_factory=dict)
    status: str = ""
    """The review thread's final status (`done`, `error`, ...)."""
    asked_human: bool = False
    """Whether the review stopped for a person (review gate or a guard escalation)."""
    triggers: list[str] = field(default_factory=list)
    """Why it asked, from the review requests."""
    seconds: float = 0.0
    error: str | None = None
    """Why the case could not run or the review failed (a missing mirror, say)."""
    findings: list[dict[str, Any]] = field(default_factory=list)
    """The review's findings, trimmed to what grading reads."""
    baseline_findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Each baseline's issues, trimmed the same way."""
    reviewed: bool = False
    """Whether Keel's review ran (False for `--baselines-only`, or when the case failed)."""

    def regrade(self) -> None:
        """Grade the stored findings again (after a change to the case or to the kinds)."""
        if self.reviewed:
            self.keel = grade(self.case, self.findings)
        self.baselines = {n: grade(self.case, f) for n, f in self.baseline_findings.items()}

    @classmethod
    def from_json(cls, record: dict[str, Any], case: RealCase) -> CaseRun:
        """A run read back from its record, graded against `case` (the set's current entry)."""
        run = cls(
            case=case,
            status=str(record.get("status") or ""),
            asked_human=bool(record.get("asked_human")),
            triggers=list(record.get("triggers") or []),
            seconds=float(record.get("seconds") or 0.0),
            error=record.get("error"),
            findings=list(record.get("findings") or []),
            baseline_findings=dict(record.get("baseline_findings") or {}),
            reviewed=bool(record.get("reviewed")),
        )
        run.regrade()
        return run

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready record of this run."""
        return {
            "id": self.case.id,
            "case": asdict(self.case),
            "keel": asdict(self.keel) if self.keel else None,
            "baselines": {name: asdict(g) for name, g in self.baselines.items()},
            "status": self.status,
            "asked_human": self.asked_human,
            "triggers": self.triggers,
            "seconds": self.seconds,
            "error": self.error,
            "reviewed": self.reviewed,
            "findings": self.findings,
            "baseline_findings": self.baseline_findings,
        }


def _trim(finding: dict[str, Any]) -> dict[str, Any]:
    keys = ("file", "line", "end_line", "rule", "severity", "category", "status")
    trimmed = {k: finding.get(k) for k in keys}
    trimmed["title"] = str(finding.get("title") or finding.get("message") or "")[:300]
    return trimmed


def _baselines(case: RealCase, mirrors: Path, run: CaseRun) -> None:
    with tempfile.TemporaryDirectory(prefix="keel-realworld-") as tmp:
        root = materialize(case, Path(tmp) / "repo", mirrors)
        for name, analyzer in BASELINES.items():
            issues = [_trim(dict(i)) for i in analyzer(root, [case.file])]
            run.baseline_findings[name] = issues
            run.baselines[name] = grade(case, issues)


def _review(case: RealCase, mirrors: Path, model: str, run: CaseRun) -> None:
    outputs = run_case(case_inputs(case, mirrors), model=model)
    findings = list(outputs.get("findings") or [])
    run.keel = grade(case, findings)
    run.status = str(outputs.get("status") or "")
    run.error = outputs.get("error")
    run.asked_human = human_asked(outputs)
    run.triggers = sorted(
        {str(t) for r in outputs.get("review_requests") or [] for t in r.get("triggers", [])}
        | {f"guard:{e.get('guard')}" for e in outputs.get("escalations") or []}
    )
    run.findings = [_trim(f) for f in findings]
    run.reviewed = True


def run_cases(
    cases: Sequence[RealCase],
    *,
    model: str = "offline",
    mirrors: Path = DEFAULT_MIRRORS,
    review: bool = True,
    progress: Callable[[CaseRun], None] | None = None,
) -> list[CaseRun]:
    """Run every case, one at a time: the baselines, then (unless `review` is False) Keel.

    A case whose mirror is missing, or whose analyzer or review raises, is recorded with
    its error and the run goes on.

    Args:
        cases: The cases to run.
        model: `KeelContext.model` for the review (`offline`, `local`, a chat-model id).
        mirrors: Root of the repository mirrors.
        review: Whether to run Keel's review (False: the baselines only).
        progress: Called with each case's record as it finishes.
    """
    runs: list[CaseRun] = []
    for case in cases:
        run = CaseRun(case=case)
        started = time.perf_counter()
        try:
            _baselines(case, mirrors, run)
            if review:
                _review(case, mirrors, model, run)
        except MirrorMissingError as exc:
            run.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - one broken case must not end the run
            run.error = f"{type(exc).__name__}: {exc}"[:1000]
        run.seconds = round(time.perf_counter() - started, 1)
        runs.append(run)
        if progress is not None:
            progress(run)
    return runs
