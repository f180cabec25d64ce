"""A submission's summary and open questions are the agent's own, not the schema's words.

Qwen2.5-Coder-0.5B filled `open_questions` with the field's description ("What remains
uncertain or unexamined?") four times in one review; a reviewer would read them as
questions the agent had. Blanks, repeats (ignoring case and punctuation) and echoes of the
description are dropped; real questions are kept in order. The same model's summary was
"What you examined and concluded.": it becomes a plain statement that there is none.
"""

from __future__ import annotations

from keel.nodes.agents.schemas import NO_SUMMARY, submission_schema


def _questions(raw: list[str]) -> list[str]:
    schema = submission_schema(("security", "style"))
    submission = schema(findings=[], summary="read two files", confidence=0.6, open_questions=raw)
    return submission.open_questions


def test_echoes_of_the_field_description_are_dropped() -> None:
    echoed = ["What remains uncertain or unexamined?"] * 4 + [
        "what remains uncertain, or unexamined"
    ]
    assert _questions(echoed) == []


def test_real_questions_are_kept_once_in_order() -> None:
    raw = [
        "Is inventory/admin.py reachable from a web request?",
        "  ",
        "Does tests/test_reports.py cover the SQL path?",
        "is inventory/admin.py reachable from a web request",
    ]
    assert _questions(raw) == [
        "Is inventory/admin.py reachable from a web request?",
        "Does tests/test_reports.py cover the SQL path?",
    ]


def test_a_summary_that_echoes_its_description_says_there_is_none() -> None:
    schema = submission_schema(("security",))
    echoed = schema(findings=[], summary="What you examined and concluded.", confidence=0.9)
    assert echoed.summary == NO_SUMMARY
    own = schema(findings=[], summary="Read admin.py; one shell injection.", confidence=0.9)
    assert own.summary == "Read admin.py; one shell injection."
