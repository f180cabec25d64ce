"""Evaluation harness (LangSmith `evaluate`) — arrives with the evals issue; empty for now."""

__all__: list[str] = []
