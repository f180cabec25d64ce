"""Reducers of the pipeline state."""

from __future__ import annotations

from keel.core.state import add_usage, keep_first, merge_by_id, severity_at_least


def test_keep_first_never_rewrites() -> None:
    assert keep_first({"goal": "a"}, {"goal": "b"}) == {"goal": "a"}
    assert keep_first(None, {"goal": "b"}) == {"goal": "b"}


def test_merge_by_id_replaces_and_keeps_order() -> None:
    merged = merge_by_id(
        [{"id": "a", "v": 1}, {"id": "b", "v": 1}], [{"id": "a", "v": 2}, {"id": "c", "v": 1}]
    )
    assert merged == [{"id": "a", "v": 2}, {"id": "b", "v": 1}, {"id": "c", "v": 1}]


def test_add_usage_sums_every_field() -> None:
    one = {
        "input_tokens": 1,
        "output_tokens": 2,
        "cost_usd": 0.1,
        "model_calls": 1,
        "tool_calls": 3,
        "seconds": 0.5,
    }
    total = add_usage(add_usage(None, one), one)  # type: ignore[arg-type]
    assert total == {
        "input_tokens": 2,
        "output_tokens": 4,
        "cost_usd": 0.2,
        "model_calls": 2,
        "tool_calls": 6,
        "seconds": 1.0,
    }


def test_severity_order() -> None:
    assert severity_at_least("critical", "high")
    assert severity_at_least("high", "high")
    assert not severity_at_least("medium", "high")
