"""Keel's words, defined once: severities, categories, effects, verdicts, decisions.

A leaf of the core layer: it imports nothing of Keel, so the state, the agents, the guards
and the tools all take their words from here (tools included — this is vocabulary, not
graph wiring). Values stored in a thread's state are plain strings: a checkpoint written
by an earlier Keel reads the same, and no enum class reaches the checkpointer's
serializer.

Categories are not listed here: a finding's category is the `area` of a specialist of
the team (`SpecialistSpec.area`), so the set of categories follows from the team
(`team_areas`) the way the plan's specialist enum does (`keel.nodes.agents.schemas`). A fourth
specialist with a new area brings its category with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Literal, Protocol, TypeAlias, get_args

__all__ = [
    "DECISIONS",
    "FIRED_VERDICTS",
    "SEVERITIES",
    "SEVERITY_ORDER",
    "VERDICT_KINDS",
    "Category",
    "Decision",
    "Effect",
    "FiredVerdict",
    "HasArea",
    "Severity",
    "VerdictKind",
    "areas_phrase",
    "severity_at_least",
    "team_areas",
]

# ------------------------------------------------------------------- severity

Severity = Literal["info", "low", "medium", "high", "critical"]
"""How bad a finding is, from `info` to `critical`."""

SEVERITIES: tuple[Severity, ...] = get_args(Severity)
"""Every severity, least severe first."""

SEVERITY_ORDER: dict[str, int] = {severity: rank for rank, severity in enumerate(SEVERITIES)}
"""Rank of each severity, for comparisons (`info` 0 … `critical` 4)."""


def severity_at_least(severity: str, threshold: str) -> bool:
    """Return whether `severity` ranks at or above `threshold` (an unknown word ranks 0)."""
    return SEVERITY_ORDER.get(severity, 0) >= SEVERITY_ORDER.get(threshold, 0)


# ------------------------------------------------------------------- category

Category: TypeAlias = str
"""Which specialist area a finding belongs to: the `area` of a specialist of the team.

Keel's own review team has `security`, `correctness` and `style`
(`graphs/review.py`); a team with other specialists has their areas as well. A string,
not a closed `Literal`, because the team decides (`team_areas`)."""


class HasArea(Protocol):
    """Anything with a specialist's `area` (a `SpecialistSpec`)."""

    @property
    def area(self) -> str:
        """The category of findings it owns."""


def team_areas(team: Iterable[HasArea]) -> tuple[Category, ...]:
    """The categories a team reports: its specialists' areas, in team order, once each."""
    return tuple(dict.fromkeys(spec.area for spec in team))


def areas_phrase(areas: Sequence[str]) -> str:
    """The areas in words: ``security, style and correctness`` (an empty team: ``code``)."""
    words = list(dict.fromkeys(areas))
    if not words:
        return "code"
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} and {words[-1]}"


# --------------------------------------------------------------------- effect


class Effect(StrEnum):
    """What running a tool or an action may do to the world.

    Only `READ` runs without a human's approval: a specialist's tools must all be `READ`
    (`keel.graphs.pipeline.build_pipeline` refuses another), and an action with any other
    effect is a review trigger and runs only once approved (`nodes/actions.py`).

    Attributes:
        READ: Only reads the repository or its history.
        WRITE: Changes files in the repository.
        EXECUTE: Runs code from the repository (tests, build scripts).
        EXTERNAL: Talks to something outside the machine.
    """

    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    EXTERNAL = "external"

    @property
    def needs_review(self) -> bool:
        """Whether it may run only after a human approved it (every effect but `READ`)."""
        return self is not Effect.READ


# ------------------------------------------------------------------- verdicts

FiredVerdict = Literal["nudge", "compress", "escalate", "halt"]
"""What a guard whose check fired decided (its node then acts on it)."""

VerdictKind = Literal["ok", FiredVerdict]
"""What a guard's check decides: `ok` (nothing to do) or a `FiredVerdict`."""

VERDICT_KINDS: tuple[VerdictKind, ...] = get_args(VerdictKind)
"""Every verdict kind, `ok` first."""

FIRED_VERDICTS: tuple[FiredVerdict, ...] = get_args(FiredVerdict)
"""The verdict kinds that route to a guard's node."""

# ------------------------------------------------------------------ decisions

Decision = Literal["approve", "edit", "reject", "respond"]
"""A reviewer's decision on one action request (LangChain v1's HITL decisions)."""

DECISIONS: tuple[Decision, ...] = get_args(Decision)
"""Every decision a review request allows (`nodes/guards/human_review.py`)."""
