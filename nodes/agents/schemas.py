"""Structured outputs the agents return: the supervisor's plan and a specialist's submission.

What follows from the team is derived from it, never listed here: the plan's specialist
enum (`plan_schema`, from the specialists' names) and the submission's category enum
(`submission_schema`, from their areas, `keel.core.vocabulary.team_areas`). The actions a
specialist may propose are the action registry's (`keel.nodes.actions.proposable_by`).
The base models (`ReportedFinding`, `FindingsSubmission`, `SUBMIT_TOOL`) admit any
category: they are what a specialist outside a team is given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field, create_model, field_validator

from keel.core.vocabulary import Category, Severity
from keel.nodes.actions import SPECIALIST, proposable_by

__all__ = [
    "SUBMIT_TOOL",
    "SUBMIT_TOOL_NAME",
    "Assignment",
    "Dismissal",
    "NO_SUMMARY",
    "FindingsSubmission",
    "Plan",
    "ProposedAction",
    "ReportedFinding",
    "plan_schema",
    "submission_schema",
    "submit_tool",
]


class Assignment(BaseModel):
    """Work for one specialist."""

    specialist: str = Field(description="Name of the specialist.")
    files: list[str] = Field(description="Repository-relative files it should examine.")
    instructions: str = Field(description="What to look for.")


class Plan(BaseModel):
    """The supervisor's delegation plan."""

    assignments: list[Assignment] = Field(description="One entry per specialist that has work.")
    rationale: str = Field(default="", description="Why the work is split this way.")


def plan_schema(specialists: Sequence[str]) -> type[Plan]:
    """A `Plan` whose `specialist` field only admits these names.

    The enum reaches the model in the tool schema, so a server that constrains decoding to
    the schema (llama.cpp) can only name real specialists.
    """
    names = tuple(specialists)
    choice = Literal[names]  # type: ignore[valid-type]
    assignment = create_model(
        "Assignment",
        __base__=Assignment,
        specialist=(choice, Field(description="Name of the specialist.")),
    )
    return create_model(
        "Plan",
        __base__=Plan,
        __doc__=Plan.__doc__,
        assignments=(
            list[assignment],  # type: ignore[valid-type]
            Field(description="One entry per specialist that has work."),
        ),
    )


class ReportedFinding(BaseModel):
    """A problem, with the evidence that proves it."""

    file: str = Field(description="Repository-relative path.")
    line: int = Field(ge=1, description="First line (1-based).")
    end_line: int | None = Field(default=None, ge=1, description="Last line (inclusive).")
    severity: Severity = Field(description="How bad it is.")
    category: Category = Field(min_length=1, description="Area.")
    rule: str = Field(default="", description="Rule id of the tool that found it, if any.")
    title: str = Field(description="One line: what is wrong.")
    evidence: str = Field(default="", description="The exact code quoted from the file.")
    confidence: float = Field(default=0.5, ge=0, le=1, description="0–1: how sure you are.")
    sources: list[str] = Field(default_factory=list, description="Tools that support it.")
    fixable: bool = Field(default=False, description="Whether an automatic fix exists.")


class Dismissal(BaseModel):
    """A tool-reported issue you judged not to be a problem, and why."""

    file: str = Field(description="Repository-relative path of the tool's issue.")
    line: int = Field(ge=1, description="The line the tool reported.")
    rule: str = Field(default="", description="The tool's rule id.")
    reason: str = Field(min_length=3, description="Why it is not a problem here.")


_PROPOSABLE = proposable_by(SPECIALIST)
"""What a specialist may propose: the registry's say (`nodes/actions.py`)."""


class ProposedAction(BaseModel):
    """A side effect the specialist recommends (it runs only after human review)."""

    name: Literal[_PROPOSABLE] = Field(  # type: ignore[valid-type]
        description="Action to propose."
    )
    reason: str = Field(description="Why it is worth doing.")


_SUMMARY = "What you examined and concluded."
_OPEN_QUESTIONS = "What remains uncertain or unexamined."
NO_SUMMARY = "(no summary: the agent left it empty or repeated the field's description)"
"""What a submission's summary becomes when the model wrote none of its own."""


def _words(text: str) -> str:
    """Lower-case words only: what two texts share when they differ in case or punctuation."""
    return " ".join(re.findall(r"\w+", text.lower()))


class FindingsSubmission(BaseModel):
    """Submit your review: call this exactly once, when you are done."""

    findings: list[ReportedFinding] = Field(description="Every problem found (may be empty).")
    dismissed: list[Dismissal] = Field(
        default_factory=list,
        description="Tool-reported issues that are not problems, each with the reason. "
        "A tool issue you neither report nor dismiss is reported as unconfirmed.",
    )
    summary: str = Field(description=_SUMMARY)
    confidence: float = Field(ge=0, le=1, description="0–1: confidence in the whole result.")
    open_questions: list[str] = Field(default_factory=list, description=_OPEN_QUESTIONS)
    proposed_actions: list[ProposedAction] = Field(
        default_factory=list, description="Side effects you recommend (need approval)."
    )

    @field_validator("summary")
    @classmethod
    def _own_summary(cls, summary: str) -> str:
        """A summary that only echoes this field's description says nothing: say so."""
        if _words(summary) in {"", _words(_SUMMARY)}:
            return NO_SUMMARY
        return summary

    @field_validator("open_questions")
    @classmethod
    def _real_questions(cls, questions: list[str]) -> list[str]:
        """Drop blanks, repeats and echoes of this field's own description.

        A small model fills the list with the schema's words ("What remains uncertain or
        unexamined?"); shown to a reviewer, they read as questions the agent had.
        """
        kept: list[str] = []
        seen = {_words(_OPEN_QUESTIONS)}
        for question in questions:
            key = _words(question)
            if key and key not in seen:
                seen.add(key)
                kept.append(question.strip())
        return kept


def submission_schema(categories: Sequence[Category]) -> type[FindingsSubmission]:
    """A `FindingsSubmission` whose findings' `category` only admits these areas.

    Like `plan_schema`, the enum reaches the model in the tool schema, so a server that
    constrains decoding to it can only name the team's areas; a submission with another
    category fails validation (a repair turn, the `validate` guard).

    Raises:
        ValueError: no category.
    """
    areas = tuple(dict.fromkeys(categories))
    if not areas:
        raise ValueError("a submission needs at least one category (the team's areas)")
    choice = Literal[areas]  # type: ignore[valid-type]
    finding = create_model(
        "ReportedFinding",
        __base__=ReportedFinding,
        __doc__=ReportedFinding.__doc__,
        category=(choice, Field(description="Area: " + ", ".join(areas) + ".")),
    )
    return create_model(
        "FindingsSubmission",
        __base__=FindingsSubmission,
        __doc__=FindingsSubmission.__doc__,
        findings=(
            list[finding],  # type: ignore[valid-type]
            Field(description="Every problem found (may be empty)."),
        ),
    )


SUBMIT_TOOL_NAME = "submit_findings"


def _never_executed(**_: Any) -> str:
    raise RuntimeError("submit_findings is handled by the finish node, not executed")


def submit_tool(schema: type[FindingsSubmission] = FindingsSubmission) -> BaseTool:
    """The submission tool for a submission schema; the graph routes its call to `finish`."""
    return StructuredTool.from_function(
        func=_never_executed,
        name=SUBMIT_TOOL_NAME,
        description=FindingsSubmission.__doc__ or "",
        args_schema=schema,
    )


SUBMIT_TOOL: BaseTool = submit_tool()
"""The submission tool with the base schema (any category): a specialist outside a team.
A pipeline's specialists get `submit_tool(submission_schema(team areas))`."""
