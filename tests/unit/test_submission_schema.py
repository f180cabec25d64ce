"""The submission's open questions are the agent's own, not the schema's words echoed back.

Qwen2.5-Coder-0.5B filled `open_questions` with the field's description ("What remains
uncertain or unexamined?") four times in one review; a reviewer would read them as
questions the agent had. Blanks, repeats (ignoring case and punctuation) and echoes of the
description are dropped; real questions are kept in order.
"""

from __future__ import annotations

from keel.nodes.agents.schemas import submission_schema


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
