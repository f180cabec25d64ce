"""Security recall on real vulnerability fixes from public Python projects.

The set (`evals/datasets/realworld.jsonl`) holds references only — repository, fix
commit, parent, file, flawed lines, kind and severity — never the projects' code. A
case is rebuilt from a local mirror: the fixed file as the base commit, the vulnerable
file as the change under review. `python -m keel.evals.realworld` reviews each change with
Keel and runs each analyzer alone on the same file, and writes the report to
`docs/evals-realworld.md`. It needs the mirrors, so it runs in a developer session,
not in CI.
"""

from .cases import DATASET, RealCase, load_cases
from .grading import SLACK, Grade, grade
from .kinds import KINDS, finding_kind
from .mirror import DEFAULT_MIRRORS, MirrorMissingError, case_inputs, find_mirror, materialize
from .runner import BASELINES, CaseRun, run_cases

__all__ = [
    "BASELINES",
    "DATASET",
    "DEFAULT_MIRRORS",
    "KINDS",
    "SLACK",
    "CaseRun",
    "Grade",
    "MirrorMissingError",
    "RealCase",
    "case_inputs",
    "find_mirror",
    "finding_kind",
    "grade",
    "load_cases",
    "materialize",
    "run_cases",
]
